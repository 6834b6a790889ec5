// The built-in zoo: one explicit call registers every model of models/ (no static initializers a
// linker could drop). The registry interface itself is core's (core/model/registry.h).
#pragma once

#include "core/model/registry.h"

namespace deferbench {

// Registers every built-in model: calls the per-module functions below, in this order.
void register_builtin_models(ModelRegistry& registry);

void register_dense_models(
    ModelRegistry& registry);  // models/dense/register.cpp: logreg, mlp_1h, mlp_2h
void register_tree_models(ModelRegistry& registry);    // models/trees/register.cpp: dt, rf, et
void register_gbt_model(ModelRegistry& registry);      // models/trees/gbt.cpp: gbt
void register_xgboost_model(ModelRegistry& registry);  // models/xgboost/: xgb (or an explanation)

// A registry holding the built-in models.
const ModelRegistry& builtin_models();

}  // namespace deferbench
