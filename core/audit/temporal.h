// The audit's temporal view (issue 15): coverage and agreement per window of traffic, in time
// order, and their change between consecutive windows with a drift flag.
//
// Rows are ordered by time (rows without a time left out) or by row order, and cut into
// `windows` windows of equal row counts (the first ones one row larger when it does not divide).
// Between consecutive windows, coverage and agreement are compared with the two-sided pooled
// two-proportion z-test; the p-values of all comparisons are one Benjamini–Hochberg family at
// `fdr`, and a window whose coverage or agreement change is flagged is marked `drift`.
#pragma once

#include <cstddef>
#include <limits>
#include <vector>

#include "core/audit/slices.h"

namespace deferbench {

// The two-sided p-value of H0 "the two proportions are equal" (pooled z-test); 1 when either
// count is empty or the pooled proportion is 0 or 1.
double two_proportion_p_value(std::size_t k1, std::size_t n1, std::size_t k2, std::size_t n2);

// Benjamini–Hochberg at `fdr` over the p-values that are not NaN: which are discoveries.
std::vector<bool> benjamini_hochberg(const std::vector<double>& p_values, double fdr);

struct Window {
  std::size_t first_row_rank = 0, rows = 0;  // its place in time order, its size
  double time_begin = std::numeric_limits<double>::quiet_NaN();  // NaN: row order
  double time_end = std::numeric_limits<double>::quiet_NaN();
  Proportion coverage, agreement;
  // Against the previous window (NaN for the first).
  double coverage_change = std::numeric_limits<double>::quiet_NaN();
  double agreement_change = std::numeric_limits<double>::quiet_NaN();
  double coverage_p = std::numeric_limits<double>::quiet_NaN();
  double agreement_p = std::numeric_limits<double>::quiet_NaN();
  bool drift = false;
};

// `times` empty: row order; else one per row (NaN: no time, left out).
std::vector<Window> temporal_windows(const AuditRows& r, const std::vector<double>& times,
                                     std::size_t windows, double fdr);

}  // namespace deferbench
