// Compiled instead of xgb.cpp when CMake did not find XGBoost: "xgb" stays a known model name,
// and asking for it (or loading an xgb model file) says how to build it (after LightGBM's CUDA
// stubs).
#include "core/util/error.h"
#include "models/registry.h"

namespace deferbench {

namespace {

[[noreturn]] void unavailable() {
  DB_THROW(
      "model 'xgb': this build of deferbench lacks XGBoost; install Debian's libxgboost-dev and "
      "reconfigure with -DDEFERBENCH_XGBOOST=on");
}

}  // namespace

void register_xgboost_model(ModelRegistry& registry) {
  registry.add(
      "xgb",
      [](const YAML::Node&, const std::string&) -> std::unique_ptr<Classifier> { unavailable(); },
      [](BinaryReader&, const std::string&) -> std::unique_ptr<Classifier> { unavailable(); });
}

}  // namespace deferbench
