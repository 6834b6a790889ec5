// A model's parameters declared once: a ParamTable<P> lists each field of the params struct P
// (name, where it lives in P, its kind, range or choices, a line of doc) and drives everything
// that used to repeat the list: reading the model's YAML mapping with validation (errors name the
// key, the value and what was expected; unknown keys list the valid ones), writing and reading
// the parameters in a model file, and listing them with their defaults.
//
//   const ParamTable<GbtParams>& GbtParams::table() {
//     static const ParamTable<GbtParams> t = ParamTable<GbtParams>()
//         .integer("n_rounds", &GbtParams::n_rounds, 1, 100000, "boosting rounds")
//         .real("learning_rate", &GbtParams::learning_rate, 1e-6, 10.0, "shrinks every leaf");
//     return t;
//   }
//   GbtParams p = read_params(GbtParams::table(), yaml, "model");
//
// In a file the parameters are self-describing: their count, then each one's name and value, so
// a file read as the wrong model (or from a build with other parameters) fails on the first name
// that differs, naming the file and both names.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "core/config/fields.h"
#include "core/data/binary_io.h"

namespace deferbench {

// One parameter as a listing shows it.
struct ParamInfo {
  std::string name;
  std::string kind;     // int, number, bool, choice, int list, or a custom kind's word
  std::string accepts;  // "[1, 100000]", "lbfgs | adam", ...
  std::string value;    // the value (a default, in a registry's listing) as YAML text
  std::string doc;
};

// One field of a table. The builders of ParamTable fill these; a field of a kind they do not
// cover (a mapping, say) is added whole with ParamTable::custom.
template <class P>
struct ParamField {
  std::string name, kind, accepts, doc;
  std::function<void(FieldReader&, P&)> from_yaml;  // absent key: leaves the value as it is
  std::function<void(BinaryWriter&, const P&)> write;
  std::function<void(BinaryReader&, P&)> read;  // a bad value: an error naming file and field
  std::function<std::string(const P&)> text;    // the value as YAML text
};

namespace param_detail {

std::string format_number(double v);  // shortest text that reads back to the same double
std::string format_int_list(const std::vector<int>& v);
std::string join_choices(const std::vector<std::string>& choices);  // "a | b"
// A value read from a model file that the table does not accept.
[[noreturn]] void bad_file_value(const BinaryReader& r, const std::string& field,
                                 const std::string& expected, const std::string& got);

// The field type behind an accessor (a member pointer or a callable returning a reference), as a
// non-deduced context.
template <class P, class Get>
struct FieldType {
  using type = std::remove_reference_t<std::invoke_result_t<Get, P&>>;
};
template <class P, class Get>
using field_t = typename FieldType<P, Get>::type;

}  // namespace param_detail

template <class P>
class ParamTable {
 public:
  // Where a field lives: `&P::x`, or a callable `P& → T&` (nested members: nested(&P::a, &A::x)).
  template <class Outer, class T>
  static auto nested(Outer P::*outer, T Outer::*inner) {
    return [outer, inner](P& p) -> T& { return (p.*outer).*inner; };
  }

  // An integer member in [min, max].
  template <class Get>
  ParamTable& integer(std::string name, Get get, std::int64_t min, std::int64_t max,
                      std::string doc);
  // A double in [min, max].
  template <class Get>
  ParamTable& real(std::string name, Get get, double min, double max, std::string doc);
  template <class Get>
  ParamTable& boolean(std::string name, Get get, std::string doc);
  // A std::string member, one of `choices`.
  template <class Get>
  ParamTable& choice(std::string name, Get get, std::vector<std::string> choices, std::string doc);
  // An enum member, written in configs and files as its word.
  template <class Get>
  ParamTable& enumeration(std::string name, Get get,
                          std::vector<std::pair<std::string, param_detail::field_t<P, Get>>> words,
                          std::string doc);
  // A std::vector<int> of values in [min, max]: a list (possibly empty) or one scalar.
  // `items` names the values in messages ("layer widths").
  template <class Get>
  ParamTable& int_list(std::string name, Get get, std::int64_t min, std::int64_t max,
                       std::string items, std::string doc);
  // A value with a text form: parse(text, where) throws deferbench::Error naming `where`;
  // format(value) gives text that parse reads back to the same value.
  template <class Get, class Parse, class Format>
  ParamTable& text(std::string name, Get get, std::string kind, std::string accepts, Parse parse,
                   Format format, std::string doc);
  ParamTable& custom(ParamField<P> field) {
    fields_.push_back(std::move(field));
    return *this;
  }

  // The fields added after this call may be absent from a model file (one written before they
  // existed): such a file has only the first ones, and the others keep their defaults when read.
  ParamTable& optional_in_files_from_here() {
    required_ = fields_.size();
    return *this;
  }

  const std::vector<ParamField<P>>& fields() const { return fields_; }
  // How many fields (the first ones) a model file must have.
  std::size_t required_in_files() const { return required_ ? *required_ : fields_.size(); }

 private:
  template <class Get>
  static auto access(Get get) {
    if constexpr (std::is_member_object_pointer_v<Get>) return [get](P & p) -> auto& {
        return p.*get;
      };
    else
      return get;
  }
  // The const view of a field (the accessors take P&; reading never writes).
  template <class A>
  static const auto& peek(const A& a, const P& p) {
    return a(const_cast<P&>(p));
  }
  std::vector<ParamField<P>> fields_;
  std::optional<std::size_t> required_;
};

// ---- what a table drives ------------------------------------------------------------------------

// Reads the mapping `node` (at `path` in the config) over `p` (the defaults): every key must be a
// field of the table or `name`.
template <class P>
P read_params(const ParamTable<P>& table, const YAML::Node& node, const std::string& path,
              P p = P{}) {
  FieldReader r(node, path);
  r.allow("name");
  for (const ParamField<P>& f : table.fields()) f.from_yaml(r, p);
  r.finish();
  return p;
}

template <class P>
void write_params(const ParamTable<P>& table, const P& p, BinaryWriter& w) {
  w.pod<std::uint32_t>(static_cast<std::uint32_t>(table.fields().size()));
  for (const ParamField<P>& f : table.fields()) {
    w.string(f.name);
    f.write(w, p);
  }
}

// Reads what write_params wrote over `p`; `model` names the model in messages.
// got must lie in [required, expected].
void check_param_count(const BinaryReader& r, const std::string& model, std::uint32_t got,
                       std::size_t required, std::size_t expected);
void check_param_name(const BinaryReader& r, const std::string& model, std::size_t index,
                      const std::string& got, const std::string& expected);
template <class P>
void read_params(const ParamTable<P>& table, BinaryReader& r, P& p, const std::string& model) {
  const std::uint32_t count = r.pod<std::uint32_t>();
  check_param_count(r, model, count, table.required_in_files(), table.fields().size());
  for (std::size_t i = 0; i < count; ++i) {
    const ParamField<P>& f = table.fields()[i];
    check_param_name(r, model, i, r.string(), f.name);
    f.read(r, p);
  }
}

// Every parameter with its value in `p`, in table order.
template <class P>
std::vector<ParamInfo> describe_params(const ParamTable<P>& table, const P& p) {
  std::vector<ParamInfo> out;
  for (const ParamField<P>& f : table.fields())
    out.push_back({f.name, f.kind, f.accepts, f.text(p), f.doc});
  return out;
}

// Whether `a` and `b` agree on every parameter of the table, compared as their text (a real's
// text reads back to the same double, so reals compare exactly): a warm start's "same settings".
template <class P>
bool same_params(const ParamTable<P>& table, const P& a, const P& b) {
  for (const ParamField<P>& f : table.fields())
    if (f.text(a) != f.text(b)) return false;
  return true;
}

// The parameters as a YAML mapping ({key: value}); read_params reads it back to `p`.
YAML::Node params_to_yaml(const std::vector<ParamInfo>& params);

// ---- the builders
// ---------------------------------------------------------------------------------

template <class P>
template <class Get>
ParamTable<P>& ParamTable<P>::integer(std::string name, Get get, std::int64_t min, std::int64_t max,
                                      std::string doc) {
  using T = param_detail::field_t<P, Get>;
  static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
  auto a = access(get);
  ParamField<P> f{name, "int", fmt::format("[{}, {}]", min, max), std::move(doc), {}, {}, {}, {}};
  f.from_yaml = [=](FieldReader& r, P& p) {
    a(p) = static_cast<T>(r.get_int(name, static_cast<std::int64_t>(a(p)), min, max));
  };
  f.write = [=](BinaryWriter& w, const P& p) { w.pod<std::int64_t>(peek(a, p)); };
  f.read = [=](BinaryReader& r, P& p) {
    const auto v = r.pod<std::int64_t>();
    if (v < min || v > max)
      param_detail::bad_file_value(r, name, fmt::format("an integer in [{}, {}]", min, max),
                                   std::to_string(v));
    a(p) = static_cast<T>(v);
  };
  f.text = [=](const P& p) { return std::to_string(peek(a, p)); };
  return custom(std::move(f));
}

template <class P>
template <class Get>
ParamTable<P>& ParamTable<P>::real(std::string name, Get get, double min, double max,
                                   std::string doc) {
  static_assert(std::is_same_v<param_detail::field_t<P, Get>, double>);
  auto a = access(get);
  ParamField<P> f{name, "number", fmt::format("[{}, {}]", min, max), std::move(doc), {}, {},
                  {},   {}};
  f.from_yaml = [=](FieldReader& r, P& p) { a(p) = r.get_double(name, a(p), min, max); };
  f.write = [=](BinaryWriter& w, const P& p) { w.pod<double>(peek(a, p)); };
  f.read = [=](BinaryReader& r, P& p) {
    const auto v = r.pod<double>();
    if (!(v >= min && v <= max))
      param_detail::bad_file_value(r, name, fmt::format("a number in [{}, {}]", min, max),
                                   param_detail::format_number(v));
    a(p) = v;
  };
  f.text = [=](const P& p) { return param_detail::format_number(peek(a, p)); };
  return custom(std::move(f));
}

template <class P>
template <class Get>
ParamTable<P>& ParamTable<P>::boolean(std::string name, Get get, std::string doc) {
  static_assert(std::is_same_v<param_detail::field_t<P, Get>, bool>);
  auto a = access(get);
  ParamField<P> f{name, "bool", "true | false", std::move(doc), {}, {}, {}, {}};
  f.from_yaml = [=](FieldReader& r, P& p) { a(p) = r.get_bool(name, a(p)); };
  f.write = [=](BinaryWriter& w, const P& p) { w.pod<std::uint8_t>(peek(a, p) ? 1 : 0); };
  f.read = [=](BinaryReader& r, P& p) {
    const auto v = r.pod<std::uint8_t>();
    if (v > 1) param_detail::bad_file_value(r, name, "0 or 1", std::to_string(v));
    a(p) = v == 1;
  };
  f.text = [=](const P& p) { return std::string(peek(a, p) ? "true" : "false"); };
  return custom(std::move(f));
}

template <class P>
template <class Get>
ParamTable<P>& ParamTable<P>::choice(std::string name, Get get, std::vector<std::string> choices,
                                     std::string doc) {
  static_assert(std::is_same_v<param_detail::field_t<P, Get>, std::string>);
  auto a = access(get);
  const std::string accepts = param_detail::join_choices(choices);
  ParamField<P> f{name, "choice", accepts, std::move(doc), {}, {}, {}, {}};
  f.from_yaml = [=](FieldReader& r, P& p) { a(p) = r.get_choice(name, a(p), choices); };
  f.write = [=](BinaryWriter& w, const P& p) { w.string(peek(a, p)); };
  f.read = [=](BinaryReader& r, P& p) {
    std::string v = r.string();
    bool ok = false;
    for (const std::string& c : choices) ok |= c == v;
    if (!ok) param_detail::bad_file_value(r, name, "one of " + accepts, "'" + v + "'");
    a(p) = std::move(v);
  };
  f.text = [=](const P& p) { return peek(a, p); };
  return custom(std::move(f));
}

template <class P>
template <class Get>
ParamTable<P>& ParamTable<P>::enumeration(
    std::string name, Get get,
    std::vector<std::pair<std::string, param_detail::field_t<P, Get>>> words, std::string doc) {
  using E = param_detail::field_t<P, Get>;
  auto a = access(get);
  std::vector<std::string> choices;
  for (const auto& w : words) choices.push_back(w.first);
  const std::string accepts = param_detail::join_choices(choices);
  auto word_of = [words](E e) {
    for (const auto& w : words)
      if (w.second == e) return w.first;
    return std::string("?");
  };
  auto value_of = [words](const std::string& s) {
    for (const auto& w : words)
      if (w.first == s) return w.second;
    return words.front().second;  // callers check the word first
  };
  ParamField<P> f{name, "choice", accepts, std::move(doc), {}, {}, {}, {}};
  f.from_yaml = [=](FieldReader& r, P& p) {
    a(p) = value_of(r.get_choice(name, word_of(a(p)), choices));
  };
  f.write = [=](BinaryWriter& w, const P& p) { w.string(word_of(peek(a, p))); };
  f.read = [=](BinaryReader& r, P& p) {
    const std::string v = r.string();
    bool ok = false;
    for (const std::string& c : choices) ok |= c == v;
    if (!ok) param_detail::bad_file_value(r, name, "one of " + accepts, "'" + v + "'");
    a(p) = value_of(v);
  };
  f.text = [=](const P& p) { return word_of(peek(a, p)); };
  return custom(std::move(f));
}

template <class P>
template <class Get>
ParamTable<P>& ParamTable<P>::int_list(std::string name, Get get, std::int64_t min,
                                       std::int64_t max, std::string items, std::string doc) {
  static_assert(std::is_same_v<param_detail::field_t<P, Get>, std::vector<int>>);
  auto a = access(get);
  ParamField<P> f{
      name, "int list", fmt::format("a list of [{}, {}]", min, max), std::move(doc), {}, {},
      {},   {}};
  f.from_yaml = [=](FieldReader& r, P& p) {
    std::vector<std::int64_t> fallback(a(p).begin(), a(p).end());
    const std::vector<std::int64_t> v = r.get_int_list(name, fallback, min, max, items);
    a(p).assign(v.begin(), v.end());
  };
  f.write = [=](BinaryWriter& w, const P& p) {
    const std::vector<int>& v = peek(a, p);
    w.vector(std::vector<std::int64_t>(v.begin(), v.end()));
  };
  f.read = [=](BinaryReader& r, P& p) {
    const auto v = r.vector<std::int64_t>();
    for (std::int64_t x : v)
      if (x < min || x > max)
        param_detail::bad_file_value(r, name, fmt::format("{} in [{}, {}]", items, min, max),
                                     std::to_string(x));
    a(p).assign(v.begin(), v.end());
  };
  f.text = [=](const P& p) { return param_detail::format_int_list(peek(a, p)); };
  return custom(std::move(f));
}

template <class P>
template <class Get, class Parse, class Format>
ParamTable<P>& ParamTable<P>::text(std::string name, Get get, std::string kind, std::string accepts,
                                   Parse parse, Format format, std::string doc) {
  auto a = access(get);
  const std::string expected = accepts;
  ParamField<P> f{name, std::move(kind), std::move(accepts), std::move(doc), {}, {}, {}, {}};
  f.from_yaml = [=](FieldReader& r, P& p) {
    const std::string s = r.get_string(name, "");
    if (r.has(name)) a(p) = parse(s, r.key_path(name));
  };
  f.write = [=](BinaryWriter& w, const P& p) { w.string(format(peek(a, p))); };
  f.read = [=](BinaryReader& r, P& p) {
    const std::string s = r.string();
    try {
      a(p) = parse(s, name);
    } catch (const std::exception&) {
      param_detail::bad_file_value(r, name, expected, "'" + s + "'");
    }
  };
  f.text = [=](const P& p) { return format(peek(a, p)); };
  return custom(std::move(f));
}

}  // namespace deferbench
