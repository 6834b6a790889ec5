#include "core/routing/frontier.h"

#include <cmath>
#include <limits>

namespace deferbench {
namespace {

double agreement_or_worst(double a) {
  return std::isnan(a) ? -std::numeric_limits<double>::infinity() : a;
}

}  // namespace

bool dominates(const FrontierPoint& p, const FrontierPoint& q) {
  const double pa = agreement_or_worst(p.agreement), qa = agreement_or_worst(q.agreement);
  const bool no_worse = p.coverage >= q.coverage && pa >= qa && p.cost_per_1k <= q.cost_per_1k;
  const bool better = p.coverage > q.coverage || pa > qa || p.cost_per_1k < q.cost_per_1k;
  return no_worse && better;
}

std::vector<std::size_t> pareto_front(const std::vector<FrontierPoint>& points) {
  std::vector<std::size_t> front;
  for (std::size_t i = 0; i < points.size(); ++i) {
    bool dominated = false;
    for (std::size_t j = 0; j < points.size() && !dominated; ++j)
      dominated = j != i && dominates(points[j], points[i]);
    if (!dominated) front.push_back(i);
  }
  return front;
}

double cost_per_1k(double coverage, double teacher_cost, double surrogate_cost) {
  return 1000.0 * (coverage * surrogate_cost + (1.0 - coverage) * teacher_cost);
}

}  // namespace deferbench
