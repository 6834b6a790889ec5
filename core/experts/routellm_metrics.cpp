#include "core/experts/routellm_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/util/error.h"

namespace deferbench {
namespace {

// Sorted by share (stable: equal shares keep their order), with the end points added.
std::vector<ShareCurvePoint> normalized(std::vector<ShareCurvePoint> curve, double weak,
                                        double strong) {
  DB_CHECK(std::isfinite(weak) && std::isfinite(strong) && weak != strong,
           "routellm metrics: weak ({}) and strong ({}) performance must be finite and differ",
           weak, strong);
  for (const ShareCurvePoint& p : curve)
    DB_CHECK(p.strong_share >= 0 && p.strong_share <= 1 && std::isfinite(p.performance),
             "routellm metrics: a curve point ({}, {}) has a share outside [0, 1] or a "
             "non-finite performance",
             p.strong_share, p.performance);
  std::stable_sort(curve.begin(), curve.end(),
                   [](const auto& a, const auto& b) { return a.strong_share < b.strong_share; });
  if (curve.empty() || curve.front().strong_share > 0) curve.insert(curve.begin(), {0.0, weak});
  if (curve.back().strong_share < 1) curve.push_back({1.0, strong});
  return curve;
}

}  // namespace

double apgr(std::vector<ShareCurvePoint> curve, double weak, double strong) {
  curve = normalized(std::move(curve), weak, strong);
  double area = 0;
  for (std::size_t k = 1; k < curve.size(); ++k)
    area += (curve[k].strong_share - curve[k - 1].strong_share) *
            (curve[k].performance + curve[k - 1].performance) / 2.0;
  return (area - weak) / (strong - weak);
}

double cpt(std::vector<ShareCurvePoint> curve, double weak, double strong, double x) {
  DB_CHECK(x >= 0 && x <= 1, "routellm metrics: CPT share {} must be in [0, 1]", x);
  curve = normalized(std::move(curve), weak, strong);
  const double goal = weak + x * (strong - weak);
  const bool up = strong > weak;  // performance to reach from below (or, if the strong is worse,
                                  // from above)
  auto reached = [&](double perf) { return up ? perf >= goal : perf <= goal; };
  if (reached(curve.front().performance)) return curve.front().strong_share;
  for (std::size_t k = 1; k < curve.size(); ++k) {
    const ShareCurvePoint& a = curve[k - 1];
    const ShareCurvePoint& b = curve[k];
    if (!reached(b.performance)) continue;
    if (b.performance == a.performance) return b.strong_share;
    const double t = (goal - a.performance) / (b.performance - a.performance);
    return a.strong_share + std::clamp(t, 0.0, 1.0) * (b.strong_share - a.strong_share);
  }
  return std::numeric_limits<double>::quiet_NaN();
}

std::vector<ShareCurvePoint> random_router_curve(double weak, double strong, int points) {
  DB_CHECK(points >= 2, "routellm metrics: the random router's curve needs at least 2 points");
  std::vector<ShareCurvePoint> out;
  for (int k = 0; k < points; ++k) {
    const double s = static_cast<double>(k) / (points - 1);
    out.push_back({s, weak + s * (strong - weak)});
  }
  return out;
}

}  // namespace deferbench
