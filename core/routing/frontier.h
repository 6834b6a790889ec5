// The Pareto frontier of routing candidates over (coverage ↑, teacher agreement ↑, cost ↓).
#pragma once

#include <cstddef>
#include <vector>

namespace deferbench {

struct FrontierPoint {
  double coverage = 0;
  double agreement = 0;  // NaN (nothing handled) counts as the worst agreement
  double cost_per_1k = 0;
};

// p dominates q iff p is at least as good on all three criteria and strictly better on one.
bool dominates(const FrontierPoint& p, const FrontierPoint& q);

// Indices of the points no other point dominates, in input order. Exact duplicates are all kept.
std::vector<std::size_t> pareto_front(const std::vector<FrontierPoint>& points);

// Cost per 1,000 queries when a share `coverage` is answered by the surrogate:
// 1000 · (coverage · surrogate_cost + (1 − coverage) · teacher_cost).
double cost_per_1k(double coverage, double teacher_cost, double surrogate_cost);

}  // namespace deferbench
