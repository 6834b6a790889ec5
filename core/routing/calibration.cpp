#include "core/routing/calibration.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/util/error.h"

namespace deferbench {

ThresholdChoice empirical_threshold(const std::vector<float>& scores,
                                    const std::vector<std::uint8_t>& agrees, double target) {
  DB_CHECK(scores.size() == agrees.size(), "calibration: {} scores but {} agreement flags",
           scores.size(), agrees.size());
  DB_CHECK(target >= 0.0 && target <= 1.0, "calibration: target {} is outside [0, 1]", target);
  for (float s : scores) DB_CHECK(!std::isnan(s), "calibration: an acceptor score is NaN");

  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });

  ThresholdChoice best;
  best.agreement = std::numeric_limits<double>::quiet_NaN();
  std::size_t agreed = 0;
  for (std::size_t k = 0; k < order.size(); ++k) {
    agreed += agrees[order[k]] ? 1 : 0;
    const bool boundary = k + 1 == order.size() || scores[order[k + 1]] < scores[order[k]];
    if (!boundary) continue;
    const std::size_t accepted = k + 1;
    const double agreement = static_cast<double>(agreed) / static_cast<double>(accepted);
    if (agreement >= target) {  // later boundaries accept more: keep the last feasible one
      best.threshold = scores[order[k]];
      best.accepted = accepted;
      best.agreement = agreement;
      best.feasible = true;
    }
  }
  return best;
}

std::vector<std::uint8_t> accept_mask(const std::vector<float>& scores, double threshold) {
  std::vector<std::uint8_t> out(scores.size());
  for (std::size_t i = 0; i < scores.size(); ++i) out[i] = scores[i] >= threshold ? 1 : 0;
  return out;
}

}  // namespace deferbench
