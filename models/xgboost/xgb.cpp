// XGBoost adapter: see xgb.h
#include "models/registry.h"

namespace deferbench {

void register_xgboost_model(ModelRegistry&) {}

}  // namespace deferbench
