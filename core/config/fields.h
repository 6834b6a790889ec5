// Typed, validated reading of one YAML mapping of the composed config (after XGBoost's
// ValidateParameters): every key read is remembered, and finish() rejects any key that was not,
// naming the valid ones. Type and range problems name the key, the value and what was expected.
//
//   FieldReader r(node, "dataset");
//   opts.path = r.get<std::string>("path", "");
//   opts.dim = r.get_int("dim", 256, 1, 65536);
//   r.finish();
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace deferbench {

class FieldReader {
 public:
  // `path` is the dotted location of `node` in the config ("dataset.csv"), used in messages.
  FieldReader(YAML::Node node, std::string path);

  bool has(const std::string& key) const;
  const std::string& path() const { return path_; }
  std::string key_path(const std::string& key) const;

  std::string get_string(const std::string& key, const std::string& fallback);
  std::string require_string(const std::string& key);
  // One of `choices`; anything else is an error listing them.
  std::string get_choice(const std::string& key, const std::string& fallback,
                         const std::vector<std::string>& choices);
  bool get_bool(const std::string& key, bool fallback);
  std::int64_t get_int(const std::string& key, std::int64_t fallback, std::int64_t min,
                       std::int64_t max);
  double get_double(const std::string& key, double fallback, double min, double max);
  // A scalar or a list of scalars, read as strings (a lone scalar is a one-element list).
  std::vector<std::string> get_string_list(const std::string& key,
                                           const std::vector<std::string>& fallback);
  // A list of integers in [min, max] (an empty list is allowed; a lone scalar is a one-element
  // list). `items` names them in messages ("layer widths").
  std::vector<std::int64_t> get_int_list(const std::string& key,
                                         const std::vector<std::int64_t>& fallback,
                                         std::int64_t min, std::int64_t max,
                                         const std::string& items = "integers");
  // A nested mapping (an empty one when absent); marks the key as read.
  YAML::Node get_map(const std::string& key);

  // Marks a key as known without reading it (read elsewhere).
  void allow(const std::string& key);
  // Throws deferbench::Error for the first key that was neither read nor allowed.
  void finish() const;

 private:
  // The scalar at `key`, or nullopt when the key is absent or null.
  std::optional<YAML::Node> scalar(const std::string& key, const char* expected);
  YAML::Node node_;
  std::string path_;
  std::set<std::string> known_;
};

// The YAML type of a node, in words ("a string", "a list", ...), for messages.
std::string yaml_type_name(const YAML::Node& node);

}  // namespace deferbench
