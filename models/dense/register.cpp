#include "models/dense/logreg.h"
#include "models/dense/mlp.h"
#include "models/registry.h"

namespace deferbench {

namespace {

void add_mlp(ModelRegistry& registry, const std::string& name, std::vector<int> hidden) {
  MlpParams defaults;
  defaults.hidden = std::move(hidden);
  registry.add(
      name,
      [name, defaults](const YAML::Node& params,
                       const std::string& path) -> std::unique_ptr<Classifier> {
        return std::make_unique<Mlp>(name, MlpParams::from_yaml(params, path, defaults));
      },
      [](const std::filesystem::path& file) -> std::unique_ptr<Classifier> {
        return Mlp::load(file);
      });
}

}  // namespace

void register_dense_models(ModelRegistry& registry) {
  registry.add(
      "logreg",
      [](const YAML::Node& params, const std::string& path) -> std::unique_ptr<Classifier> {
        return std::make_unique<LogReg>(LogRegParams::from_yaml(params, path));
      },
      [](const std::filesystem::path& file) -> std::unique_ptr<Classifier> {
        return LogReg::load(file);
      });
  add_mlp(registry, "mlp_1h", {256});
  add_mlp(registry, "mlp_2h", {256, 96});
}

}  // namespace deferbench
