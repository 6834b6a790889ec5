// The model registry interface, keyed by config name. The built-in models fill one by one explicit
// call (models/registry.h: register_builtin_models), never by static initializers a linker could
// drop.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/model/classifier.h"

namespace deferbench {

class ModelRegistry {
 public:
  // Builds a model from its parameter mapping; `path` locates it in the config for messages.
  using Factory =
      std::function<std::unique_ptr<Classifier>(const YAML::Node& params, const std::string& path)>;
  using Loader = std::function<std::unique_ptr<Classifier>(const std::filesystem::path& file)>;

  void add(const std::string& name, Factory factory, Loader loader);
  bool contains(const std::string& name) const { return entries_.count(name) > 0; }
  std::vector<std::string> names() const;

  // spec: {name: logreg, <parameters>...}. Unknown name: an error listing the valid ones.
  std::unique_ptr<Classifier> make(const YAML::Node& spec, const std::string& path) const;
  // Reads the model name from the file's header, then the model.
  std::unique_ptr<Classifier> load(const std::filesystem::path& file) const;

 private:
  struct Entry {
    Factory factory;
    Loader loader;
  };
  std::map<std::string, Entry> entries_;
};

// The magic tag every model file starts with; the model name follows it.
inline constexpr const char* kModelFileMagic = "deferbench-model";

}  // namespace deferbench
