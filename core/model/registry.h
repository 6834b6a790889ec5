// The model registry interface, keyed by config name. The built-in models fill one by one explicit
// call (models/registry.h: register_builtin_models), never by static initializers a linker could
// drop. A model class that follows core/model/model_file.h registers in one line:
//   registry.add<LogReg>("logreg");
//   registry.add<Mlp>("mlp_2h", MlpParams::with_hidden({256, 96}));  // the name's defaults
// and everything else (reading its YAML spec, loading its files, listing its parameters) derives
// from its parameter table.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/model/classifier.h"
#include "core/model/model_file.h"
#include "core/model/params.h"
#include "core/util/error.h"

namespace deferbench {

class ModelRegistry {
 public:
  // Builds a model from its parameter mapping; `path` locates it in the config for messages.
  using Factory =
      std::function<std::unique_ptr<Classifier>(const YAML::Node& params, const std::string& path)>;
  // Reads the rest of a model file after its header named `name` (core/model/model_file.h).
  using Loader =
      std::function<std::unique_ptr<Classifier>(BinaryReader& file, const std::string& name)>;
  // The parameters of `model` (a model this entry made or loaded), or with their defaults when
  // `model` is null. Empty for a model this build cannot make.
  using Describer = std::function<std::vector<ParamInfo>(const Classifier* model)>;

  void add(const std::string& name, Factory factory, Loader loader, Describer describe = {});
  // Registers model class M (core/model/model_file.h) under `name`, with that name's defaults.
  template <class M>
  void add(const std::string& name, typename M::Params defaults = {});

  bool contains(const std::string& name) const { return entries_.count(name) > 0; }
  // The registered names, sorted.
  std::vector<std::string> names() const;
  // The registered names in registration order (the zoo's order in tables and benchmarks).
  const std::vector<std::string>& names_in_order() const { return order_; }
  // A model's parameters with their defaults (an error for an unknown name).
  std::vector<ParamInfo> params(const std::string& name) const;
  // The parameters of a model made or loaded through this registry, with their values.
  std::vector<ParamInfo> params_of(const Classifier& model) const;

  // spec: {name: logreg, <parameters>...}. Unknown name: an error listing the valid ones.
  std::unique_ptr<Classifier> make(const YAML::Node& spec, const std::string& path) const;
  // Reads the model name from the file's header, then the model.
  std::unique_ptr<Classifier> load(const std::filesystem::path& file) const;

 private:
  struct Entry {
    Factory factory;
    Loader loader;
    Describer describe;
  };
  std::map<std::string, Entry> entries_;
  std::vector<std::string> order_;
};

template <class M>
void ModelRegistry::add(const std::string& name, typename M::Params defaults) {
  using P = typename M::Params;
  DB_ASSERT_MSG(construct_model<M>(name, defaults)->name() == name,
                "model class registered as '{}' names itself otherwise", name);
  add(
      name,
      [name, defaults](const YAML::Node& spec,
                       const std::string& path) -> std::unique_ptr<Classifier> {
        return construct_model<M>(name, read_params(param_table<P>(name), spec, path, defaults));
      },
      [defaults](BinaryReader& r, const std::string& file_name) -> std::unique_ptr<Classifier> {
        return read_model_body<M>(r, file_name, defaults);
      },
      [name, defaults](const Classifier* model) {
        const auto* m = dynamic_cast<const M*>(model);
        DB_ASSERT_MSG(!model || m, "model '{}' is not a '{}'", model ? model->name() : "", name);
        return describe_params(param_table<P>(name), m ? m->params() : defaults);
      });
}

}  // namespace deferbench
