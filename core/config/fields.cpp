#include "core/config/fields.h"

#include <charconv>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/util/error.h"

namespace deferbench {

std::string yaml_type_name(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Scalar:
      return fmt::format("the scalar '{}'", node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "nothing";
  }
}

FieldReader::FieldReader(YAML::Node node, std::string path)
    : node_(std::move(node)), path_(std::move(path)) {
  if (node_ && !node_.IsNull() && !node_.IsMap())
    DB_THROW("config: '{}': expected a mapping, got {}", path_, yaml_type_name(node_));
}

std::string FieldReader::key_path(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

bool FieldReader::has(const std::string& key) const {
  return node_ && node_.IsMap() && node_[key] && !node_[key].IsNull();
}

void FieldReader::allow(const std::string& key) {
  known_.insert(key);
}

std::optional<YAML::Node> FieldReader::scalar(const std::string& key, const char* expected) {
  known_.insert(key);
  if (!has(key)) return std::nullopt;
  YAML::Node v = node_[key];
  if (!v.IsScalar())
    DB_THROW("config: '{}': expected {}, got {}", key_path(key), expected, yaml_type_name(v));
  return v;
}

std::string FieldReader::get_string(const std::string& key, const std::string& fallback) {
  auto v = scalar(key, "a string");
  return v ? v->Scalar() : fallback;
}

std::string FieldReader::require_string(const std::string& key) {
  auto v = scalar(key, "a string");
  if (!v) DB_THROW("config: '{}' is required (a string) but is not set", key_path(key));
  return v->Scalar();
}

std::string FieldReader::get_choice(const std::string& key, const std::string& fallback,
                                    const std::vector<std::string>& choices) {
  std::string value = get_string(key, fallback);
  for (const std::string& c : choices)
    if (c == value) return value;
  DB_THROW("config: '{}': expected one of {}, got '{}'", key_path(key), fmt::join(choices, ", "),
           value);
}

bool FieldReader::get_bool(const std::string& key, bool fallback) {
  auto v = scalar(key, "true or false");
  if (!v) return fallback;
  const std::string& s = v->Scalar();
  if (s == "true" || s == "True" || s == "yes") return true;
  if (s == "false" || s == "False" || s == "no") return false;
  DB_THROW("config: '{}': expected true or false, got '{}'", key_path(key), s);
}

std::int64_t FieldReader::get_int(const std::string& key, std::int64_t fallback, std::int64_t min,
                                  std::int64_t max) {
  auto v = scalar(key, "an integer");
  if (!v) return fallback;
  const std::string& s = v->Scalar();
  std::int64_t x = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
  if (ec != std::errc() || ptr != s.data() + s.size())
    DB_THROW("config: '{}': expected an integer in [{}, {}], got '{}'", key_path(key), min, max, s);
  if (x < min || x > max)
    DB_THROW("config: '{}': {} is out of range; expected an integer in [{}, {}]", key_path(key), x,
             min, max);
  return x;
}

double FieldReader::get_double(const std::string& key, double fallback, double min, double max) {
  auto v = scalar(key, "a number");
  if (!v) return fallback;
  const std::string& s = v->Scalar();
  char* end = nullptr;
  double x = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(x))
    DB_THROW("config: '{}': expected a number in [{}, {}], got '{}'", key_path(key), min, max, s);
  if (x < min || x > max)
    DB_THROW("config: '{}': {} is out of range; expected a number in [{}, {}]", key_path(key), s,
             min, max);
  return x;
}

std::vector<std::string> FieldReader::get_string_list(const std::string& key,
                                                      const std::vector<std::string>& fallback) {
  known_.insert(key);
  if (!has(key)) return fallback;
  YAML::Node v = node_[key];
  if (v.IsScalar()) return {v.Scalar()};
  if (!v.IsSequence())
    DB_THROW("config: '{}': expected a list of strings, got {}", key_path(key), yaml_type_name(v));
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!v[i].IsScalar())
      DB_THROW("config: '{}[{}]': expected a string, got {}", key_path(key), i,
               yaml_type_name(v[i]));
    out.push_back(v[i].Scalar());
  }
  return out;
}

std::vector<std::int64_t> FieldReader::get_int_list(const std::string& key,
                                                    const std::vector<std::int64_t>& fallback,
                                                    std::int64_t min, std::int64_t max,
                                                    const std::string& items) {
  known_.insert(key);
  if (!has(key)) return fallback;
  YAML::Node v = node_[key];
  if (!v.IsScalar() && !v.IsSequence())
    DB_THROW("config: '{}': expected a list of {} in [{}, {}], got {}", key_path(key), items, min,
             max, yaml_type_name(v));
  std::vector<std::int64_t> out;
  const std::size_t n = v.IsScalar() ? 1 : v.size();
  for (std::size_t i = 0; i < n; ++i) {
    YAML::Node item = v.IsScalar() ? v : v[i];
    if (!item.IsScalar())
      DB_THROW("config: '{}[{}]': expected an integer, got {}", key_path(key), i,
               yaml_type_name(item));
    const std::string& s = item.Scalar();
    std::int64_t x = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
    if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || x < min || x > max)
      DB_THROW("config: '{}': expected a list of {} in [{}, {}], got '{}'", key_path(key), items,
               min, max, s);
    out.push_back(x);
  }
  return out;
}

YAML::Node FieldReader::get_map(const std::string& key) {
  known_.insert(key);
  if (!has(key)) return YAML::Node(YAML::NodeType::Map);
  YAML::Node v = node_[key];
  if (!v.IsMap())
    DB_THROW("config: '{}': expected a mapping, got {}", key_path(key), yaml_type_name(v));
  return v;
}

void FieldReader::finish() const {
  if (!node_ || !node_.IsMap()) return;
  for (const auto& kv : node_) {
    std::string key = kv.first.as<std::string>();
    if (known_.count(key) == 0)
      DB_THROW("config: '{}' does not exist; valid keys under '{}': {}", key_path(key),
               path_.empty() ? "(root)" : path_, fmt::join(known_, ", "));
  }
}

}  // namespace deferbench
