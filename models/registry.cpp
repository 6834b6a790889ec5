#include "models/registry.h"

#include "models/dense/logreg.h"
#include "models/dense/mlp.h"
#include "models/trees/forest.h"
#include "models/trees/gbt.h"

namespace deferbench {

void register_builtin_models(ModelRegistry& registry) {
  registry.add<LogReg>("logreg");
  registry.add<Mlp>("mlp_1h", MlpParams::with_hidden({256}));
  registry.add<Mlp>("mlp_2h", MlpParams::with_hidden({256, 96}));
  registry.add<TreeEnsemble>("dt", ForestParams::defaults("dt"));
  registry.add<TreeEnsemble>("rf", ForestParams::defaults("rf"));
  registry.add<TreeEnsemble>("et", ForestParams::defaults("et"));
  registry.add<GbtClassifier>("gbt");
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
