// RouteLLM's metrics for two-model routing (weak vs strong; Ong et al. 2024), from a router's curve
// of performance against the share of queries sent to the strong model.
//
// - APGR (average performance gap recovered): the area under the curve over strong-call shares
//   0 … 1, minus the weak model's area, over the strong model's area minus the weak model's:
//   (∫ perf(s) ds − weak) / (strong − weak). The random router (each query to the strong model with
//   probability s) is the straight line from (0, weak) to (1, strong): APGR 0.5.
// - CPT(x) (call-performance threshold): the least strong-call share at which the curve recovers
//   the share x of the gap, perf(s) ≥ weak + x · (strong − weak).
//
// The curve is piecewise linear between the given points (sorted by share; the end points (0, weak)
// and (1, strong) are added when absent: a router that calls the strong model never or always
// performs as the weak or the strong model does).
#pragma once

#include <vector>

namespace deferbench {

struct ShareCurvePoint {
  double strong_share = 0;  // in [0, 1]
  double performance = 0;
};

// APGR of the curve; weak ≠ strong (an error otherwise: there is no gap to recover).
double apgr(std::vector<ShareCurvePoint> curve, double weak, double strong);

// CPT(x), x ∈ [0, 1]: by linear interpolation along the curve; NaN if the curve never recovers
// that much (possible when the curve dips below the line between its points).
double cpt(std::vector<ShareCurvePoint> curve, double weak, double strong, double x);

// The random router's curve at the given shares (the straight line), for plots and as a baseline.
std::vector<ShareCurvePoint> random_router_curve(double weak, double strong, int points);

}  // namespace deferbench
