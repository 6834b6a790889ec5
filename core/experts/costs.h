// Multi-expert deferral with costs (issue 16; DESIGN.md, "Multi-expert deferral"): the cost model,
// the Bayes rejector's decision rule, the comp-sum surrogate's weights and the hindsight oracle.
//
// Choices j = 0..J: choice 0 is the main model g (the zoo surrogate), j ≥ 1 the experts m_j (LLMs).
// On a labelled row (x, y): c_0 = α_0 · 1{g(x) ≠ y} + β_0 and c_j = α_j · 1{m_j(x) ≠ y} + β_j, β_j
// the price of a call and α_j the weight of its errors (the literature's main-model cost is
// α_0 = 1, β_0 = 0). A multiplier λ on every β traces the cost–accuracy trade-off.
//
// Everything here is deterministic and keeps no state; bad input throws deferbench::Error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/data/matrix.h"

namespace deferbench {

struct ChoiceCost {
  double alpha = 1.0;  // weight of an error (≥ 0)
  double beta = 0.0;   // price of a call (≥ 0)
};

// Which choices were right on each row: correct[j][i] (choices × rows, every row count equal).
using Correctness = std::vector<std::vector<std::uint8_t>>;

// The realized costs, rows × choices: c_j = α_j · (1 − correct[j][i]) + λ · β_j. λ ≥ 0.
Matrix cost_matrix(const Correctness& correct, const std::vector<ChoiceCost>& choices,
                   double lambda);

// The Bayes decision on expected costs (rows × choices, e.g. η_j(x) = E[c_j | x] from estimates):
// per row the least; ties go to the cheaper β, then to the lower index.
std::vector<int> route_by_cost(MatrixView expected_cost, const std::vector<ChoiceCost>& choices);

// The two-stage comp-sum surrogate's per-row weights: w_j(x, y) = Σ_{k≠j} c_k(x, y) (rows ×
// choices). Minimizing Σ_j w_j · ℓ(r(x), j) with ℓ the cross entropy is consistent for the
// Bayes rejector argmin_j E[c_j | x]: the weight of choice j is large when the OTHER choices cost.
Matrix comp_sum_weights(MatrixView costs);

// What a routing did on labelled rows: per choice the calls, the share of rows answered right, the
// mean price per query (Σ β over calls / rows, at λ = 1) and the mean realized cost at λ.
struct RoutingOutcome {
  std::vector<std::size_t> calls;  // per choice
  double accuracy = 0;             // rows whose chosen answer was right / rows
  double price_per_query = 0;      // Σ_i β_{route(i)} / rows
  double cost_per_query = 0;       // Σ_i c_{route(i)}(x_i, y_i) / rows at λ
};
RoutingOutcome routing_outcome(const std::vector<int>& route, const Correctness& correct,
                               const std::vector<ChoiceCost>& choices, double lambda = 1.0);

// The hindsight oracle's cost–accuracy frontier: the least price per query at each accuracy. Every
// row starts at its cheapest choice (by β); a row whose cheapest choice is wrong but some choice is
// right can be "bought" for the extra price of its cheapest right choice; buying rows in order of
// that extra price (ties: row order) gives, for each number of bought rows, the most accuracy for
// the least price — no routing can be more accurate at a lower price. Points (price per query,
// accuracy), the first with nothing bought, the last with every buyable row bought.
struct CostAccuracyPoint {
  double price_per_query = 0;
  double accuracy = 0;
};
std::vector<CostAccuracyPoint> oracle_frontier(const Correctness& correct,
                                               const std::vector<ChoiceCost>& choices);

}  // namespace deferbench
