#include "core/config/compose.h"

#include <algorithm>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/util/error.h"

namespace deferbench {
namespace fs = std::filesystem;

namespace {

// A key quoted in a message that already quotes its override (excerpt(raw)): half the cap.
constexpr std::size_t kKeyBytes = kExcerptBytes / 2;

YAML::Node load_yaml(const fs::path& path) {
  try {
    YAML::Node n = YAML::LoadFile(path.string());
    return n ? n : YAML::Node(YAML::NodeType::Map);
  } catch (const YAML::ParserException& e) {
    fail({path.string(), static_cast<std::size_t>(e.mark.line + 1), ""},
         "YAML syntax error: " + e.msg);
  } catch (const YAML::BadFile&) {
    fail({path.string(), 0, ""}, "cannot read config file");
  }
}

bool is_global_package(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("@package") != std::string::npos)
      return line.find("_global_") != std::string::npos;
    if (!line.empty() && line[0] != '#') break;
  }
  return false;
}

std::string scalar_kind(const YAML::Node& n) {
  if (!n || n.IsNull()) return "null";
  if (n.IsMap()) return "a mapping";
  if (n.IsSequence()) return "a list";
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return "a string";  // quoted
  if (s == "true" || s == "false" || s == "True" || s == "False") return "a boolean";
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  if (!s.empty() && end == s.c_str() + s.size()) return "a number";
  return "a string";
}

// Recursively merges `src` into `dst` (mappings merge key by key; anything else replaces).
void merge_into(YAML::Node dst, const YAML::Node& src) {
  for (const auto& kv : src) {
    const std::string key = kv.first.as<std::string>();
    YAML::Node existing = dst[key];
    if (existing && existing.IsMap() && kv.second.IsMap()) {
      merge_into(existing, kv.second);
    } else {
      dst[key] = clone(kv.second);
    }
  }
}

struct DefaultEntry {
  std::string group;  // "" for _self_
  std::string option;
  bool is_override = false;
};

std::vector<DefaultEntry> parse_defaults(const YAML::Node& defaults, const fs::path& file) {
  std::vector<DefaultEntry> out;
  if (!defaults) return out;
  if (!defaults.IsSequence())
    fail({file.string(), 0, "defaults"}, "expected a list of GROUP: OPTION entries");
  for (const auto& item : defaults) {
    if (item.IsScalar() && item.Scalar() == "_self_") {
      out.push_back({"", "", false});
      continue;
    }
    if (!item.IsMap() || item.size() != 1)
      fail({file.string(), 0, "defaults"},
           "each entry must be '_self_' or a one-key mapping GROUP: OPTION");
    auto kv = *item.begin();
    std::string key = kv.first.as<std::string>();
    DefaultEntry e;
    if (key.rfind("override ", 0) == 0) {
      e.is_override = true;
      key = key.substr(9);
    }
    if (!key.empty() && key[0] == '/') key = key.substr(1);
    e.group = key;
    e.option = kv.second.IsNull() ? "" : kv.second.as<std::string>();
    out.push_back(e);
  }
  return out;
}

// A name that can be a file name: the system would read one with a NUL byte as the part before
// it (config_dir itself for "\0x").
bool file_name_safe(const std::string& name) {
  return name.find('\0') == std::string::npos;
}

// (error_code overloads: a name too long for the file system is "not a group", not an
// exception.)
bool is_group(const fs::path& dir, const std::string& name) {
  std::error_code ec;
  return !name.empty() && name.find('.') == std::string::npos && file_name_safe(name) &&
         fs::is_directory(dir / name, ec);
}

fs::path option_file(const fs::path& dir, const std::string& group, const std::string& option,
                     const std::string& origin) {
  fs::path p = dir / group / (option + ".yaml");
  std::error_code ec;
  if (!file_name_safe(group) || !file_name_safe(option) || !fs::exists(p, ec))
    DB_THROW("{}: unknown option '{}' for config group '{}'; valid options: {}", origin,
             excerpt(option), excerpt(group), fmt::join(group_options(dir, group), ", "));
  return p;
}

std::vector<std::string> split_path(const std::string& dotted) {
  std::vector<std::string> parts;
  std::stringstream ss(dotted);
  std::string part;
  while (std::getline(ss, part, '.')) parts.push_back(part);
  return parts;
}

// The keys of a mapping, for messages (each quoted through excerpt()).
std::vector<std::string> keys_of(const YAML::Node& map) {
  std::vector<std::string> keys;
  if (map && map.IsMap())
    for (const auto& kv : map) keys.push_back(excerpt(kv.first.as<std::string>()));
  return keys;
}

// The parent mapping of a dotted path (must exist and be a mapping).
YAML::Node parent_of(YAML::Node root, const std::vector<std::string>& parts,
                     const std::string& origin, bool create) {
  YAML::Node cur;
  cur.reset(root);  // walk with reset(): `cur = next` would rewrite the tree (yaml-cpp)
  std::string where;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    const YAML::Node& ccur = cur;
    const bool present = ccur[parts[i]] && !ccur[parts[i]].IsNull();
    if (!present) {
      if (!create)
        DB_THROW("{}: key '{}' does not exist; valid keys under '{}': {}", origin,
                 excerpt(where.empty() ? parts[i] : where + "." + parts[i], kKeyBytes),
                 where.empty() ? "(root)" : excerpt(where, kKeyBytes),
                 fmt::join(keys_of(cur), ", "));
      cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
    }
    YAML::Node next = ccur[parts[i]];
    if (!next.IsMap())
      DB_THROW("{}: '{}' is {}, not a mapping", origin,
               excerpt(where.empty() ? parts[i] : where + "." + parts[i], kKeyBytes),
               scalar_kind(next));
    where = where.empty() ? parts[i] : where + "." + parts[i];
    cur.reset(next);
  }
  return cur;
}

YAML::Node parse_value(const std::string& text, const std::string& origin) {
  try {
    return YAML::Load(text.empty() ? "''" : text);
  } catch (const YAML::Exception& e) {
    DB_THROW("{}: cannot parse the value '{}' as YAML: {}", origin, excerpt(text), e.msg);
  }
}

void apply_value_override(YAML::Node root, const std::string& raw) {
  const std::string origin = fmt::format("override '{}'", excerpt(raw));
  std::string text = raw;
  enum { kSet, kAdd, kForce, kDelete } mode = kSet;
  if (text.rfind("++", 0) == 0) {
    mode = kForce;
    text = text.substr(2);
  } else if (text[0] == '+') {
    mode = kAdd;
    text = text.substr(1);
  } else if (text[0] == '~') {
    mode = kDelete;
    text = text.substr(1);
  }
  std::string key = text, value;
  auto eq = text.find('=');
  if (eq != std::string::npos) {
    key = text.substr(0, eq);
    value = text.substr(eq + 1);
  } else if (mode != kDelete) {
    DB_THROW("{}: expected KEY=VALUE, GROUP=OPTION, +KEY=VALUE, ++KEY=VALUE or ~KEY", origin);
  }
  if (key.empty()) DB_THROW("{}: the key is empty", origin);
  auto parts = split_path(key);
  YAML::Node parent = parent_of(root, parts, origin, mode == kAdd || mode == kForce);
  const std::string& leaf = parts.back();
  const YAML::Node& cparent = parent;
  YAML::Node existing = cparent[leaf];
  const bool exists = existing && existing.IsDefined();
  std::string parent_name =
      key.find('.') == std::string::npos ? "(root)" : key.substr(0, key.rfind('.'));
  if (mode == kDelete) {
    if (!exists)
      DB_THROW("{}: cannot delete '{}': it does not exist", origin, excerpt(key, kKeyBytes));
    parent.remove(leaf);
    return;
  }
  if (mode == kSet && !exists)
    DB_THROW("{}: key '{}' does not exist; valid keys under '{}': {} (use +{}=... to add it)",
             origin, excerpt(key, kKeyBytes), excerpt(parent_name, kKeyBytes),
             fmt::join(keys_of(parent), ", "), excerpt(key, kKeyBytes));
  if (mode == kAdd && exists)
    DB_THROW("{}: key '{}' already exists (use {}=... to change it, ++{}=... to force)", origin,
             excerpt(key, kKeyBytes), excerpt(key, kKeyBytes), excerpt(key, kKeyBytes));
  YAML::Node v = parse_value(value, origin);
  if (mode == kSet && !existing.IsNull()) {
    std::string was = scalar_kind(existing), now = scalar_kind(v);
    // A mapping is replaced only by a mapping; a scalar and a list may replace each other
    // (calibration.target takes a number or a list); a number or a boolean keeps its type.
    bool structural = existing.IsMap() != v.IsMap();
    bool typed = (was == "a number" || was == "a boolean") && v.IsScalar() && now != was;
    if (structural || typed)
      DB_THROW("{}: type mismatch for '{}': the config has {}, the override gives {}", origin,
               excerpt(key, kKeyBytes), was, now);
  }
  parent[leaf] = v;
}

// ---- interpolation ----

std::string resolve_string(YAML::Node& root, const std::string& s, std::set<std::string>& stack,
                           std::optional<YAML::Node>* whole);

YAML::Node lookup(const YAML::Node& root, const std::string& dotted) {
  // yaml-cpp: `a = b` on a live node rewrites the tree; walk with reset() instead.
  YAML::Node cur;
  cur.reset(root);
  for (const auto& part : split_path(dotted)) {
    if (!cur.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    const YAML::Node& ccur = cur;
    YAML::Node next = ccur[part];
    if (!next) return YAML::Node(YAML::NodeType::Undefined);
    cur.reset(next);
  }
  return cur;
}

void resolve_node(YAML::Node& root, YAML::Node node, std::set<std::string>& stack);

YAML::Node resolve_reference(YAML::Node& root, const std::string& ref,
                             std::set<std::string>& stack) {
  if (stack.count(ref)) DB_THROW("config: interpolation cycle through '${{{}}}'", excerpt(ref));
  YAML::Node target = lookup(root, ref);
  if (!target.IsDefined())
    DB_THROW("config: interpolation '${{{}}}' refers to a key that does not exist", excerpt(ref));
  stack.insert(ref);
  YAML::Node result;
  if (target.IsScalar()) {
    std::optional<YAML::Node> whole;
    std::string s = resolve_string(root, target.Scalar(), stack, &whole);
    result.reset(whole ? *whole : (s == target.Scalar() ? target : YAML::Node(s)));
  } else {
    resolve_node(root, target, stack);
    result.reset(target);
  }
  stack.erase(ref);
  return result;
}

// Returns the interpolated string; if the whole string is one reference, *whole receives the
// referenced node (keeping its type).
std::string resolve_string(YAML::Node& root, const std::string& s, std::set<std::string>& stack,
                           std::optional<YAML::Node>* whole) {
  if (s.find("${") == std::string::npos) return s;
  if (s.rfind("${", 0) == 0 && s.back() == '}' && s.find("${", 2) == std::string::npos &&
      s.find('}') == s.size() - 1) {
    YAML::Node n = resolve_reference(root, s.substr(2, s.size() - 3), stack);
    if (whole) *whole = clone(n);
    return n.IsScalar() ? n.Scalar() : s;
  }
  std::string out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    auto start = s.find("${", pos);
    if (start == std::string::npos) {
      out += s.substr(pos);
      break;
    }
    auto end = s.find('}', start);
    if (end == std::string::npos)
      DB_THROW("config: unterminated interpolation in '{}'", excerpt(s));
    out += s.substr(pos, start - pos);
    YAML::Node n = resolve_reference(root, s.substr(start + 2, end - start - 2), stack);
    if (!n.IsScalar())
      DB_THROW("config: '{}' embeds '{}', which is not a scalar", excerpt(s),
               excerpt(s.substr(start, end - start + 1)));
    out += n.Scalar();
    pos = end + 1;
  }
  return out;
}

void resolve_node(YAML::Node& root, YAML::Node node, std::set<std::string>& stack) {
  if (node.IsMap()) {
    for (auto kv : node) {
      YAML::Node child = kv.second;
      if (child.IsScalar()) {
        std::optional<YAML::Node> whole;
        std::string s = resolve_string(root, child.Scalar(), stack, &whole);
        if (whole)
          node[kv.first.as<std::string>()] = *whole;
        else if (s != child.Scalar())
          node[kv.first.as<std::string>()] = s;
      } else {
        resolve_node(root, child, stack);
      }
    }
  } else if (node.IsSequence()) {
    for (std::size_t i = 0; i < node.size(); ++i) {
      YAML::Node child = node[i];
      if (child.IsScalar()) {
        std::optional<YAML::Node> whole;
        std::string s = resolve_string(root, child.Scalar(), stack, &whole);
        if (whole)
          node[i] = *whole;
        else if (s != child.Scalar())
          node[i] = s;
      } else {
        resolve_node(root, child, stack);
      }
    }
  }
}

void emit(YAML::Emitter& out, const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      out << YAML::BeginMap;
      for (const auto& kv : node) {
        out << YAML::Key << kv.first.as<std::string>() << YAML::Value;
        emit(out, kv.second);
      }
      out << YAML::EndMap;
      break;
    case YAML::NodeType::Sequence: {
      bool flat = std::all_of(node.begin(), node.end(),
                              [](const YAML::Node& n) { return n.IsScalar() || n.IsNull(); });
      out << (flat ? YAML::Flow : YAML::Block) << YAML::BeginSeq;
      for (const auto& item : node) emit(out, item);
      out << YAML::EndSeq;
      break;
    }
    case YAML::NodeType::Scalar:
      if (node.Tag() == "!")  // quoted in the source: keep "77" a string when read back
        out << YAML::DoubleQuoted << node.Scalar();
      else
        out << node;
      break;
    default:
      out << YAML::Null;
  }
}

}  // namespace

YAML::Node clone(const YAML::Node& node) {
  return YAML::Clone(node);
}

std::vector<std::string> group_options(const fs::path& config_dir, const std::string& group) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(config_dir / group, ec))
    if (e.path().extension() == ".yaml") out.push_back(e.path().stem().string());
  std::sort(out.begin(), out.end());
  return out;
}

void resolve_interpolations(YAML::Node& root) {
  std::set<std::string> stack;
  resolve_node(root, root, stack);
}

std::string to_yaml_text(const YAML::Node& node) {
  YAML::Emitter out;
  emit(out, node);
  return std::string(out.c_str()) + "\n";
}

namespace {

// The defaults list being composed, with the command line's choices split from its values.
struct DefaultsPlan {
  std::vector<DefaultEntry> entries;
  std::map<std::string, std::string> cli_choices;  // GROUP=OPTION on the command line
  std::vector<std::string> value_overrides;        // everything else, in order
};

// 1. The defaults list of the root file, then the command line's group choices.
DefaultsPlan plan_defaults(const fs::path& config_dir, const fs::path& root_file,
                           const YAML::Node& root, const std::vector<std::string>& overrides) {
  DefaultsPlan plan;
  std::vector<DefaultEntry>& defaults = plan.entries;
  defaults = parse_defaults(root["defaults"], root_file);
  if (std::none_of(defaults.begin(), defaults.end(),
                   [](const DefaultEntry& e) { return e.group.empty(); }))
    defaults.push_back({"", "", false});  // Hydra: _self_ last unless placed
  for (const std::string& o : overrides) {
    auto eq = o.find('=');
    std::string key = eq == std::string::npos ? o : o.substr(0, eq);
    bool plain = !o.empty() && o[0] != '+' && o[0] != '~';
    if (plain && eq != std::string::npos && is_group(config_dir, key))
      plan.cli_choices[key] = o.substr(eq + 1);
    else
      plan.value_overrides.push_back(o);
  }
  for (const auto& choice : plan.cli_choices) {
    const std::string& group = choice.first;  // (a lambda cannot capture a structured binding)
    auto it = std::find_if(defaults.begin(), defaults.end(),
                           [&](const DefaultEntry& e) { return e.group == group; });
    if (it == defaults.end())
      defaults.push_back({group, choice.second, false});
    else
      it->option = choice.second;
  }
  return plan;
}

// Where a group's choice came from, for messages: the command line or the root file.
std::string origin_of(const DefaultsPlan& plan, const fs::path& root_file, const std::string& group,
                      const std::string& option) {
  return plan.cli_choices.count(group) ? fmt::format("override '{}'", excerpt(group + "=" + option))
                                       : root_file.string();
}

// 2. Group files may override other groups' choices (an experiment picks its data set),
// unless the command line chose them.
void apply_nested_defaults(const fs::path& config_dir, const fs::path& root_file,
                           DefaultsPlan& plan) {
  std::vector<DefaultEntry>& defaults = plan.entries;
  for (const DefaultEntry& e : std::vector<DefaultEntry>(defaults)) {
    if (e.group.empty() || e.option.empty()) continue;
    fs::path file =
        option_file(config_dir, e.group, e.option, origin_of(plan, root_file, e.group, e.option));
    YAML::Node n = load_yaml(file);
    for (const DefaultEntry& nested : parse_defaults(n["defaults"], file)) {
      if (nested.group.empty() || plan.cli_choices.count(nested.group)) continue;
      auto it = std::find_if(defaults.begin(), defaults.end(),
                             [&](const DefaultEntry& d) { return d.group == nested.group; });
      if (it == defaults.end())
        defaults.insert(std::find_if(defaults.begin(), defaults.end(),
                                     [&](const DefaultEntry& d) { return d.group == e.group; }),
                        {nested.group, nested.option, false});
      else
        it->option = nested.option;
    }
  }
}

// 3. Composes the root file's own keys and the chosen group files in list order.
ComposedConfig compose_defaults(const fs::path& config_dir, const fs::path& root_file,
                                const YAML::Node& root, const DefaultsPlan& plan) {
  ComposedConfig out;
  out.config = YAML::Node(YAML::NodeType::Map);
  for (const DefaultEntry& e : plan.entries) {
    if (e.group.empty()) {
      YAML::Node self = clone(root);
      self.remove("defaults");
      merge_into(out.config, self);
      continue;
    }
    out.choices[e.group] = e.option;
    if (e.option.empty()) continue;  // GROUP: null → nothing chosen
    fs::path file =
        option_file(config_dir, e.group, e.option, origin_of(plan, root_file, e.group, e.option));
    YAML::Node content = load_yaml(file);
    if (!content.IsMap()) fail({file.string(), 0, ""}, "expected a mapping at the top level");
    content.remove("defaults");
    if (is_global_package(file)) {
      merge_into(out.config, content);
    } else {
      YAML::Node wrapped(YAML::NodeType::Map);
      wrapped[e.group] = content;
      merge_into(out.config, wrapped);
    }
  }
  return out;
}

}  // namespace

ComposedConfig compose_config(const fs::path& config_dir,
                              const std::vector<std::string>& overrides) {
  const fs::path root_file = config_dir / "config.yaml";
  if (!fs::exists(root_file))
    DB_THROW("{}: the root config is missing (is --config-dir right?)", root_file.string());
  YAML::Node root = load_yaml(root_file);
  if (!root.IsMap()) fail({root_file.string(), 0, ""}, "expected a mapping at the top level");

  DefaultsPlan plan = plan_defaults(config_dir, root_file, root, overrides);
  apply_nested_defaults(config_dir, root_file, plan);
  ComposedConfig out = compose_defaults(config_dir, root_file, root, plan);

  // 4. Value overrides, then interpolation.
  for (const std::string& o : plan.value_overrides) apply_value_override(out.config, o);
  resolve_interpolations(out.config);
  return out;
}

}  // namespace deferbench
