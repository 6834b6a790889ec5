// Threshold calibration for an acceptor score: choose τ so that the traffic with score ≥ τ is
// as large as possible while the surrogate's agreement with the teacher on it meets a target.
//
// This file holds the `empirical` mode (what the first public TRACER release did): the point
// estimate of agreement on the calibration rows. It carries NO statistical guarantee — on new
// traffic the agreement falls below the target about half the time. The `guaranteed` mode
// (Learn-then-Test with exact binomial bounds) is the routing issue's; it will sit beside this.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace deferbench {

struct ThresholdChoice {
  // Accept a row iff score ≥ threshold. +infinity: accept nothing (no feasible threshold).
  double threshold = std::numeric_limits<double>::infinity();
  std::size_t accepted = 0;  // calibration rows accepted at the threshold
  double agreement = 0;      // their agreement with the teacher (NaN when accepted == 0)
  bool feasible = false;     // false: no threshold reached the target
};

// Among the thresholds "accept the k highest-scoring rows" (k at boundaries between distinct
// scores, so tied scores are accepted or rejected together), the one accepting the most rows
// whose agreement — mean of `agrees` over the accepted rows — is ≥ target. O(n log n).
ThresholdChoice empirical_threshold(const std::vector<float>& scores,
                                    const std::vector<std::uint8_t>& agrees, double target);

// The decisions of a threshold: 1 where score ≥ threshold.
std::vector<std::uint8_t> accept_mask(const std::vector<float>& scores, double threshold);

}  // namespace deferbench
