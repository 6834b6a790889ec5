#include "core/experts/routing.h"

#include <algorithm>
#include <cmath>

#include "core/stats/binomial.h"
#include "core/util/error.h"
#include "core/util/random.h"

namespace deferbench {

std::vector<int> route_cascade(const std::vector<std::vector<float>>& accept_score,
                               const std::vector<int>& order, double tau) {
  DB_CHECK(!order.empty(), "experts: a cascade needs at least one choice");
  const std::size_t n = accept_score.empty() ? 0 : accept_score.front().size();
  for (int j : order)
    DB_CHECK(j >= 0 && static_cast<std::size_t>(j) < accept_score.size() &&
                 accept_score[static_cast<std::size_t>(j)].size() == n,
             "experts: cascade choice {} has no acceptance scores for the {} rows", j, n);
  std::vector<int> route(n, order.back());
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t s = 0; s + 1 < order.size(); ++s)
      if (accept_score[static_cast<std::size_t>(order[s])][i] >= tau) {
        route[i] = order[s];
        break;
      }
  return route;
}

CascadeCalls cascade_calls(const std::vector<int>& route, const std::vector<int>& order,
                           const std::vector<ChoiceCost>& choices) {
  CascadeCalls out;
  out.calls.assign(choices.size(), 0);
  double total = 0;
  for (int answered : route) {
    bool found = false;
    for (int j : order) {
      DB_CHECK(j >= 0 && static_cast<std::size_t>(j) < choices.size(),
               "experts: cascade choice {} of {}", j, choices.size());
      ++out.calls[static_cast<std::size_t>(j)];
      total += choices[static_cast<std::size_t>(j)].beta;
      if (j == answered) {
        found = true;
        break;
      }
    }
    DB_CHECK(found, "experts: a row answered by choice {}, which is not in the cascade", answered);
  }
  out.price_per_query = route.empty() ? 0.0 : total / static_cast<double>(route.size());
  return out;
}

std::vector<MixturePoint> mixture_hull(std::vector<MixturePoint> singles) {
  DB_CHECK(!singles.empty(), "experts: a mixture needs at least one choice");
  std::sort(singles.begin(), singles.end(), [](const MixturePoint& a, const MixturePoint& b) {
    return a.price != b.price ? a.price < b.price : a.accuracy > b.accuracy;
  });
  // Monotone chain: keep points that raise accuracy and turn clockwise (concave from above).
  std::vector<MixturePoint> hull;
  for (const MixturePoint& p : singles) {
    if (!hull.empty() && p.accuracy <= hull.back().accuracy) continue;  // dominated
    while (hull.size() >= 2) {
      const MixturePoint& a = hull[hull.size() - 2];
      const MixturePoint& b = hull.back();
      // b lies on or below the segment a → p: drop it.
      const double cross = (b.price - a.price) * (p.accuracy - a.accuracy) -
                           (b.accuracy - a.accuracy) * (p.price - a.price);
      if (cross >= 0)
        hull.pop_back();
      else
        break;
    }
    hull.push_back(p);
  }
  return hull;
}

std::vector<int> route_random_at_price(const std::vector<MixturePoint>& hull, double price,
                                       std::size_t rows, std::uint64_t seed) {
  DB_CHECK(!hull.empty(), "experts: the random router needs at least one choice");
  std::vector<int> route(rows, hull.front().choice);
  if (price <= hull.front().price) return route;
  if (price >= hull.back().price) {
    std::fill(route.begin(), route.end(), hull.back().choice);
    return route;
  }
  std::size_t k = 1;
  while (hull[k].price < price) ++k;
  const MixturePoint &lo = hull[k - 1], &hi = hull[k];
  const double p_hi = (price - lo.price) / (hi.price - lo.price);
  Rng rng(seed);
  for (std::size_t i = 0; i < rows; ++i) route[i] = rng.uniform() < p_hi ? hi.choice : lo.choice;
  return route;
}

std::ptrdiff_t pick_within_budget(const std::vector<double>& price,
                                  const std::vector<double>& accuracy, double budget) {
  DB_ASSERT(price.size() == accuracy.size());
  std::ptrdiff_t best = -1;
  for (std::size_t t = 0; t < price.size(); ++t) {
    if (!(price[t] <= budget)) continue;
    if (best < 0) {
      best = static_cast<std::ptrdiff_t>(t);
      continue;
    }
    const auto b = static_cast<std::size_t>(best);
    if (accuracy[t] > accuracy[b] || (accuracy[t] == accuracy[b] && price[t] < price[b]))
      best = static_cast<std::ptrdiff_t>(t);
  }
  return best;
}

FixedSequence fixed_sequence(const std::vector<std::size_t>& right, std::size_t rows, double target,
                             double delta) {
  DB_CHECK(target > 0 && target <= 1, "experts: target {} must be in (0, 1]", target);
  DB_CHECK(delta > 0 && delta < 1, "experts: delta {} must be in (0, 1)", delta);
  FixedSequence fs;
  for (std::size_t t = 0; t < right.size(); ++t) {
    DB_ASSERT(right[t] <= rows);
    const double p = binomial_p_value(right[t], rows, target);
    fs.p_values.push_back(p);
    ++fs.tests;
    if (!(p <= delta)) break;
    fs.deployed = static_cast<std::ptrdiff_t>(t);
  }
  return fs;
}

}  // namespace deferbench
