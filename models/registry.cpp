#include "models/registry.h"

namespace deferbench {

void register_builtin_models(ModelRegistry& registry) {
  register_dense_models(registry);
  register_tree_models(registry);
  register_gbt_model(registry);
  register_xgboost_model(registry);
}

const ModelRegistry& builtin_models() {
  static const ModelRegistry registry = [] {
    ModelRegistry r;
    register_builtin_models(r);
    return r;
  }();
  return registry;
}

}  // namespace deferbench
