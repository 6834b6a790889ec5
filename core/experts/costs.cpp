#include "core/experts/costs.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/util/error.h"

namespace deferbench {
namespace {

std::size_t check_correctness(const Correctness& correct, const std::vector<ChoiceCost>& choices) {
  DB_CHECK(!choices.empty(), "experts: expected at least one choice");
  DB_CHECK(correct.size() == choices.size(),
           "experts: correctness for {} choices, costs for {}; expected one of each per choice",
           correct.size(), choices.size());
  for (std::size_t j = 0; j < choices.size(); ++j) {
    DB_CHECK(choices[j].alpha >= 0 && std::isfinite(choices[j].alpha),
             "experts: choice {} has error weight alpha {}; expected a finite number ≥ 0", j,
             choices[j].alpha);
    DB_CHECK(choices[j].beta >= 0 && std::isfinite(choices[j].beta),
             "experts: choice {} has cost beta {}; expected a finite number ≥ 0", j,
             choices[j].beta);
    DB_CHECK(correct[j].size() == correct[0].size(),
             "experts: choice {} has {} rows, choice 0 has {}; expected the same rows", j,
             correct[j].size(), correct[0].size());
  }
  return correct[0].size();
}

}  // namespace

Matrix cost_matrix(const Correctness& correct, const std::vector<ChoiceCost>& choices,
                   double lambda) {
  const std::size_t n = check_correctness(correct, choices);
  DB_CHECK(lambda >= 0 && std::isfinite(lambda), "experts: lambda {} must be a finite number ≥ 0",
           lambda);
  const std::size_t k = choices.size();
  Matrix c(n, k);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < k; ++j)
      c(i, j) = static_cast<float>(choices[j].alpha * (correct[j][i] ? 0.0 : 1.0) +
                                   lambda * choices[j].beta);
  return c;
}

std::vector<int> route_by_cost(MatrixView expected_cost, const std::vector<ChoiceCost>& choices) {
  DB_CHECK(expected_cost.cols() == choices.size(),
           "experts: {} expected-cost columns for {} choices", expected_cost.cols(),
           choices.size());
  std::vector<int> out(expected_cost.rows());
  for (std::size_t i = 0; i < expected_cost.rows(); ++i) {
    const float* row = expected_cost.row(i);
    std::size_t best = 0;
    for (std::size_t j = 1; j < choices.size(); ++j) {
      DB_CHECK(!std::isnan(row[j]), "experts: expected cost of choice {} on row {} is NaN", j, i);
      if (row[j] < row[best] || (row[j] == row[best] && choices[j].beta < choices[best].beta))
        best = j;
    }
    out[i] = static_cast<int>(best);
  }
  return out;
}

Matrix comp_sum_weights(MatrixView costs) {
  Matrix w(costs.rows(), costs.cols());
  for (std::size_t i = 0; i < costs.rows(); ++i) {
    const float* c = costs.row(i);
    double total = 0;
    for (std::size_t j = 0; j < costs.cols(); ++j) total += c[j];
    for (std::size_t j = 0; j < costs.cols(); ++j) w(i, j) = static_cast<float>(total - c[j]);
  }
  return w;
}

RoutingOutcome routing_outcome(const std::vector<int>& route, const Correctness& correct,
                               const std::vector<ChoiceCost>& choices, double lambda) {
  const std::size_t n = check_correctness(correct, choices);
  DB_CHECK(route.size() == n, "experts: {} routed rows for {} labelled rows", route.size(), n);
  RoutingOutcome o;
  o.calls.assign(choices.size(), 0);
  if (n == 0) return o;
  std::size_t right = 0;
  double price = 0, cost = 0;
  for (std::size_t i = 0; i < n; ++i) {
    DB_CHECK(route[i] >= 0 && static_cast<std::size_t>(route[i]) < choices.size(),
             "experts: row {} routed to choice {}; expected 0..{}", i, route[i],
             choices.size() - 1);
    const auto j = static_cast<std::size_t>(route[i]);
    ++o.calls[j];
    right += correct[j][i];
    price += choices[j].beta;
    cost += choices[j].alpha * (correct[j][i] ? 0.0 : 1.0) + lambda * choices[j].beta;
  }
  o.accuracy = static_cast<double>(right) / static_cast<double>(n);
  o.price_per_query = price / static_cast<double>(n);
  o.cost_per_query = cost / static_cast<double>(n);
  return o;
}

std::vector<CostAccuracyPoint> oracle_frontier(const Correctness& correct,
                                               const std::vector<ChoiceCost>& choices) {
  const std::size_t n = check_correctness(correct, choices);
  std::vector<CostAccuracyPoint> out;
  if (n == 0) return out;
  // The cheapest choice overall (ties: lower index).
  std::size_t cheapest = 0;
  for (std::size_t j = 1; j < choices.size(); ++j)
    if (choices[j].beta < choices[cheapest].beta) cheapest = j;
  double price = 0;
  std::size_t right = 0;
  std::vector<std::pair<double, std::size_t>> upgrades;  // (extra price, row)
  for (std::size_t i = 0; i < n; ++i) {
    // The cheapest right choice of the row, if any.
    double best = std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j < choices.size(); ++j)
      if (correct[j][i]) best = std::min(best, choices[j].beta);
    if (best <= choices[cheapest].beta) {  // right for the least price there is
      price += best;
      ++right;
    } else {
      price += choices[cheapest].beta;
      if (std::isfinite(best)) upgrades.emplace_back(best - choices[cheapest].beta, i);
    }
  }
  std::stable_sort(upgrades.begin(), upgrades.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  const double dn = static_cast<double>(n);
  out.push_back({price / dn, static_cast<double>(right) / dn});
  for (const auto& [extra, row] : upgrades) {
    price += extra;
    ++right;
    out.push_back({price / dn, static_cast<double>(right) / dn});
  }
  return out;
}

}  // namespace deferbench
