// The built-in zoo: one explicit call registers every model of models/ (no static initializers a
// linker could drop), one line per model (models/registry.cpp). The registry interface itself is
// core's (core/model/registry.h); how to add a model: CONTRIBUTING.md, "Adding a model".
#pragma once

#include "core/model/registry.h"

namespace deferbench {

// Registers every built-in model, in the zoo's order.
void register_builtin_models(ModelRegistry& registry);

// models/xgboost/: xgb, or (built without XGBoost) a name that explains how to get it.
void register_xgboost_model(ModelRegistry& registry);

// A registry holding the built-in models.
const ModelRegistry& builtin_models();

}  // namespace deferbench
