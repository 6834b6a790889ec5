// Routing rules of multi-expert deferral beyond the Bayes rule of costs.h (issue 16): the
// FrugalGPT-style cascade, the random router at a matched price, the choice of a curve point by
// budget, and the guarantee by fixed-sequence testing along a curve.
//
// A "curve" is a method's routings at a grid of settings (λ multipliers for bayes_plugin and
// two_stage, thresholds for the cascade), ordered from the safest setting (most accurate,
// dearest) to the cheapest. Everything here is deterministic and keeps no state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/experts/costs.h"

namespace deferbench {

// The FrugalGPT cascade: choices tried in `order`; at each but the last, the query stops when
// that choice's acceptance score (choices × rows, e.g. an estimate of P(choice right | x)) is
// ≥ tau, else it escalates; the last choice of the order answers whatever reaches it. Returns
// the choice that answers each row; cascade_calls prices the stages it passed through.
std::vector<int> route_cascade(const std::vector<std::vector<float>>& accept_score,
                               const std::vector<int>& order, double tau);

// What a cascade pays: a query calls every stage of `order` up to the one that answers it (a
// FrugalGPT stage is called, and its answer judged, before the query stops or escalates). Per
// choice the number of calls, and the mean price per query Σ_{stages called} β.
struct CascadeCalls {
  std::vector<std::size_t> calls;  // per choice
  double price_per_query = 0;
};
CascadeCalls cascade_calls(const std::vector<int>& route, const std::vector<int>& order,
                           const std::vector<ChoiceCost>& choices);

// A price-ordered list of single choices' (price per query, accuracy) points → the upper-left
// convex hull (the best any random mixture of single choices reaches at each price).
struct MixturePoint {
  int choice = 0;
  double price = 0, accuracy = 0;
};
std::vector<MixturePoint> mixture_hull(std::vector<MixturePoint> singles);

// The random router at expected price `price`: each row goes to one of the two hull points
// around that price, with the probability that makes the expected price equal `price` (clamped
// to the hull's ends). Seeded; rows drawn independently.
std::vector<int> route_random_at_price(const std::vector<MixturePoint>& hull, double price,
                                       std::size_t rows, std::uint64_t seed);

// The curve point chosen for a budget: the index of the most accurate point whose price per
// query is ≤ budget (ties: the cheaper, then the earlier); −1 when none is within budget.
std::ptrdiff_t pick_within_budget(const std::vector<double>& price,
                                  const std::vector<double>& accuracy, double budget);

// Fixed-sequence testing along a curve (safest first): at point t test H0_t "accuracy < target"
// with the exact binomial test on its calibration counts (right[t] of rows); go on while H0 is
// rejected at level δ; the deployed point is the last rejected one (the cheapest certified, as
// the points are ordered). P(deploying a point whose accuracy is < target) ≤ δ whatever the
// order's monotonicity, as only the points before the first acceptance are ever deployed.
struct FixedSequence {
  std::ptrdiff_t deployed = -1;  // −1: the first test already failed
  std::size_t tests = 0;         // tests run (the first failure included)
  std::vector<double> p_values;  // per test run
};
FixedSequence fixed_sequence(const std::vector<std::size_t>& right, std::size_t rows, double target,
                             double delta);

}  // namespace deferbench
