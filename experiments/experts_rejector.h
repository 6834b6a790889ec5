// The two-stage rejector of the experts runs (README, "Multi-expert deferral with costs"): a
// (J+1)-way cost-weighted logistic regression or MLP trained at each λ with the comp-sum loss,
// its parameters given once (`experts.rejector`) or searched on val (`experts.rejector_grid`).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/data/matrix.h"
#include "core/experts/choices.h"
#include "core/experts/costs.h"
#include "core/model/classifier.h"
#include "core/util/context.h"

namespace deferbench {

// The rejector specs a run tries: `rejector` (a mapping with name logreg or mlp) once, or, with
// a `grid` (a mapping from parameter names to non-empty lists of values), one spec per element
// of the grid's Cartesian product, `rejector` with those parameters replaced, in the order of
// the grid's keys, the last key varying fastest. Every spec is checked now (one-line errors
// naming `path`.rejector or `path`.rejector_grid); at most 64 of them.
std::vector<YAML::Node> rejector_specs(const YAML::Node& rejector, const YAML::Node& grid,
                                       const std::string& path);

// One spec's rejector at λ: fitted on train's comp-sum weights Σ_{k≠j} c_k (rows whose choices
// all cost nothing carry no information and are left out; the weights are scaled to a mean row
// sum of 1 so C means the same at every λ). Null when no row is left.
std::unique_ptr<Classifier> fit_rejector(const YAML::Node& spec, MatrixView train_x,
                                         const Correctness& train_correct,
                                         const std::vector<ChoiceCost>& choices, double lambda,
                                         const Context& ctx);

// The rejector at λ among `specs`: each fitted (ctx.derive(stream), the same for every spec) and
// judged by its routing's cost at λ on val (Σ_i α·wrong + λβ of the chosen choice, per query);
// the lowest wins, ties to the earlier spec. With one spec nothing is routed on val.
struct ChosenRejector {
  std::shared_ptr<const Classifier> model;  // null: no training row carried a cost
  std::size_t spec = 0;                     // index into specs
  std::vector<double> val_cost;             // per spec (empty with one spec; NaN: not fitted)
};
ChosenRejector choose_rejector(const std::vector<YAML::Node>& specs, MatrixView train_x,
                               const Correctness& train_correct, MatrixView val_x,
                               const Correctness& val_correct,
                               const std::vector<ChoiceCost>& choices, double lambda,
                               const Context& ctx, std::uint64_t stream);

}  // namespace deferbench
