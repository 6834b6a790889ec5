// Aggregation of a sweep's runs over seeds: per group (dataset, calibration mode, setting of the
// other swept keys, target) the deployed policies' means with 95% CIs and guarantee violations.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "core/stats/intervals.h"
#include "experiments/report/sweep_reader.h"

namespace deferbench::report {

// Runs that differ only in their seed, at one target.
using GroupKey = std::tuple<std::string, std::string, std::vector<std::string>, double>;
//                          dataset      mode         setting                   target

struct TargetStats {
  std::size_t runs = 0;
  std::size_t defined = 0;     // runs that handled something (agreement defined)
  std::size_t violations = 0;  // of those, test agreement < target
  std::string selection;       // the most frequent selection (ties: the first in sort order)
  std::size_t selection_count = 0;
  MeanCI coverage, agreement, macro_f1;
  MeanCI oracle, efficiency;  // over the runs where they are defined
  double delta = kNaN;        // the first run's
};

std::map<GroupKey, TargetStats> target_stats(const Sweep& s);

// The values that are not NaN, in order.
std::vector<double> defined(const std::vector<double>& values);

// A family's own choice in one run at a target: among its val-feasible candidates the one with
// the highest val coverage (ties: the first row); its test coverage, 0 (teacher only) when none is
// feasible, NaN when the run has no candidate of the family.
double family_coverage(const Run& r, const std::string& family, double target);

// Table 2's target: the requested one (>= 0; an Error when the sweep lacks it), else 0.9 when the
// sweep has it, else the (lower) median.
double choose_zoo_target(const Sweep& s, double requested);

// The violation rate k/n with its two-sided 95% Clopper–Pearson interval (NaN for n = 0).
std::tuple<double, double, double> violation_rate(std::size_t k, std::size_t n);

}  // namespace deferbench::report
