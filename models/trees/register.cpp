#include "models/registry.h"
#include "models/trees/forest.h"

namespace deferbench {

void register_tree_models(ModelRegistry& registry) {
  for (const char* model : {"dt", "rf", "et"}) {
    const std::string name = model;
    registry.add(
        name,
        [name](const YAML::Node& params, const std::string& path) -> std::unique_ptr<Classifier> {
          return std::make_unique<TreeEnsemble>(name, ForestParams::from_yaml(name, params, path));
        },
        [](const std::filesystem::path& file) -> std::unique_ptr<Classifier> {
          return TreeEnsemble::load(file);
        });
  }
}

}  // namespace deferbench
