#include "models/registry.h"
#include "models/torch/logreg.h"

namespace deferbench {

void register_torch_models(ModelRegistry& registry) {
  registry.add(
      "logreg",
      [](const YAML::Node& params, const std::string& path) -> std::unique_ptr<Classifier> {
        return std::make_unique<TorchLogReg>(LogRegParams::from_yaml(params, path));
      },
      [](const std::filesystem::path& file) -> std::unique_ptr<Classifier> {
        return TorchLogReg::load(file);
      });
}

}  // namespace deferbench
