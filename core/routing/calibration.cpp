#include "core/routing/calibration.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/stats/binomial.h"
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

double test_level(double delta, double window_scale) {
  return window_scale > 0.0 ? delta / 2.0 : delta;
}

double test_requirement(double target, double delta, double window_scale, std::size_t accepted) {
  if (window_scale <= 0.0) return target;
  const double rows = std::floor(window_scale * static_cast<double>(accepted));
  return window_requirement(target, static_cast<std::uint64_t>(std::max(1.0, rows)),
                            test_level(delta, window_scale));
}

std::vector<std::uint8_t> accept_mask(const std::vector<float>& scores, double threshold) {
  std::vector<std::uint8_t> out(scores.size());
  for (std::size_t i = 0; i < scores.size(); ++i) out[i] = scores[i] >= threshold ? 1 : 0;
  return out;
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_target_delta(double target, double delta) {
  DB_CHECK(target > 0.0 && target <= 1.0, "calibration: target {} is outside (0, 1]", target);
  DB_CHECK(delta > 0.0 && delta < 1.0, "calibration: delta {} is outside (0, 1)", delta);
}

void check_scores(const std::vector<float>& scores, const char* split) {
  for (float s : scores) DB_CHECK(!std::isnan(s), "calibration: a {} acceptor score is NaN", split);
}

void check_grid(const std::vector<double>& grid) {
  for (std::size_t j = 0; j < grid.size(); ++j) {
    DB_CHECK(!std::isnan(grid[j]), "calibration: grid threshold {} is NaN", j);
    DB_CHECK(j == 0 || grid[j] < grid[j - 1],
             "calibration: the grid must be strictly decreasing (strictest first); "
             "threshold {} is {} after {}",
             j, grid[j], grid[j - 1]);
  }
}

void check_classes(const std::vector<std::int32_t>& classes, std::size_t n_classes,
                   const char* split) {
  for (std::int32_t c : classes)
    DB_CHECK(c >= 0 && static_cast<std::size_t>(c) < n_classes,
             "calibration: {} predicted class {} is outside [0, {})", split, c, n_classes);
}

// Rows of `values` whose class is c, for every c (order kept).
template <class T>
std::vector<std::vector<T>> split_by_class(const std::vector<T>& values,
                                           const std::vector<std::int32_t>& classes,
                                           std::size_t n_classes) {
  std::vector<std::vector<T>> out(n_classes);
  for (std::size_t i = 0; i < values.size(); ++i)
    out[static_cast<std::size_t>(classes[i])].push_back(values[i]);
  return out;
}

// Totals of the per-class choices (accepted rows, their agreement, feasible).
void summarize(PerClassChoice* out) {
  double agreed = 0;
  for (const ThresholdChoice& c : out->classes) {
    if (c.accepted == 0) continue;
    out->accepted += c.accepted;
    agreed += c.agreement * static_cast<double>(c.accepted);
    out->feasible = out->feasible || c.feasible;
  }
  out->agreement = out->accepted == 0 ? kNaN : agreed / static_cast<double>(out->accepted);
}

}  // namespace

std::vector<double> quantile_grid(const std::vector<float>& val_scores, int points,
                                  double max_coverage, double min_coverage) {
  DB_CHECK(points >= 1, "calibration: grid points {} must be ≥ 1", points);
  DB_CHECK(min_coverage >= 0.0 && min_coverage <= max_coverage && max_coverage <= 1.0,
           "calibration: grid coverages must satisfy 0 ≤ min_coverage ({}) ≤ max_coverage ({}) "
           "≤ 1",
           min_coverage, max_coverage);
  check_scores(val_scores, "validation");
  std::vector<float> sorted = val_scores;
  std::sort(sorted.begin(), sorted.end(), [](float a, float b) { return a > b; });
  const std::size_t n = sorted.size();
  std::vector<double> grid;
  if (n == 0) return grid;
  grid.reserve(static_cast<std::size_t>(points));
  for (int i = 0; i < points; ++i) {
    const double c = points == 1
                         ? min_coverage
                         : min_coverage + (max_coverage - min_coverage) * static_cast<double>(i) /
                                              static_cast<double>(points - 1);
    // r = ceil(c·n), guarded against c·n landing a rounding error above an integer.
    const double rank = std::ceil(c * static_cast<double>(n) - 1e-9);
    const std::size_t r = std::min(n, static_cast<std::size_t>(std::max(1.0, rank)));
    const double t = sorted[r - 1];
    if (grid.empty() || t < grid.back()) grid.push_back(t);
  }
  return grid;
}

ThresholdChoice guaranteed_threshold(const std::vector<float>& cal_scores,
                                     const std::vector<std::uint8_t>& cal_agrees,
                                     const std::vector<double>& grid, double target, double delta,
                                     std::size_t min_accepted, double window_scale, double u) {
  DB_CHECK(cal_scores.size() == cal_agrees.size(), "calibration: {} scores but {} agreement flags",
           cal_scores.size(), cal_agrees.size());
  check_target_delta(target, delta);
  check_scores(cal_scores, "calibration");
  check_grid(grid);
  DB_CHECK(u > 0.0 && u <= 1.0, "calibration: the test's randomization u = {} is outside (0, 1]",
           u);

  // Rows by descending score; agreed[m] = agreements among the m highest-scoring rows.
  std::vector<std::size_t> order(cal_scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return cal_scores[a] > cal_scores[b]; });

  // The level of each test and the agreement it must certify (window: δ/2 and p_w).
  const double level = test_level(delta, window_scale);
  auto required = [&](std::size_t accepted) {
    return test_requirement(target, delta, window_scale, accepted);
  };
  ThresholdChoice best;
  best.agreement = kNaN;
  std::size_t m = 0;    // rows with score ≥ the current threshold
  std::uint64_t k = 0;  // their agreements
  std::uint64_t best_k = 0;
  std::size_t tests = 0;
  std::size_t skipped = 0;
  for (double tau : grid) {
    while (m < order.size() && static_cast<double>(cal_scores[order[m]]) >= tau) {
      k += cal_agrees[order[m]] ? 1 : 0;
      ++m;
    }
    const double req = required(m);
    // Too few rows to pass even with every one agreeing: skipped (counts only, no labels;
    // without a window m only grows along the grid, so these are leading thresholds).
    if (m < std::max<std::uint64_t>(min_accepted, min_passable_rows(req, level))) {
      ++skipped;
      continue;
    }
    if (++tests == 1) {
      best.first_accepted = m;
      best.first_agreed = k;
      best.first_required = req;
    }
    const double p = binomial_randomized_p_value(k, m, req, u);
    if (p > level) break;  // first failure: the walk stops here
    best.required = req;
    best.threshold = tau;
    best.accepted = m;
    best.agreement = static_cast<double>(k) / static_cast<double>(m);
    best.p_value = p;
    best.feasible = true;
    best_k = k;
  }
  if (best.feasible) best.lower_bound = randomized_lower_bound(best_k, best.accepted, level, u);
  best.tests = tests;
  best.skipped = skipped;
  return best;
}

double certifiable_coverage(const std::vector<float>& val_scores,
                            const std::vector<std::uint8_t>& val_agrees, std::size_t cal_rows,
                            double target, double delta, std::size_t min_accepted, double u) {
  DB_CHECK(val_scores.size() == val_agrees.size(), "calibration: {} scores but {} agreement flags",
           val_scores.size(), val_agrees.size());
  check_target_delta(target, delta);
  const std::size_t n = val_scores.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return val_scores[a] > val_scores[b]; });
  const std::uint64_t floor_rows =
      std::max<std::uint64_t>(min_accepted, min_passable_rows(target, delta));
  double best = 0;
  std::size_t j = 0, agreed = 0;
  while (j < n) {
    const float score = val_scores[order[j]];
    while (j < n && val_scores[order[j]] == score) agreed += val_agrees[order[j++]] ? 1 : 0;
    const double coverage = static_cast<double>(j) / static_cast<double>(n);
    // In whole numbers: m = floor(j · cal_rows / n), k = floor(agreed · m / j).
    const std::uint64_t m = static_cast<std::uint64_t>(j) * cal_rows / n;
    if (m < floor_rows) continue;
    const std::uint64_t k = static_cast<std::uint64_t>(agreed) * m / j;
    if (binomial_randomized_p_value(k, m, target, u) <= delta) best = coverage;
  }
  return best;
}

ThresholdChoice guaranteed_threshold(const std::vector<float>& val_scores,
                                     const std::vector<float>& cal_scores,
                                     const std::vector<std::uint8_t>& cal_agrees, double target,
                                     const GuaranteedOptions& options) {
  const std::vector<double> grid = quantile_grid(
      val_scores, options.grid_points, options.grid_max_coverage, options.grid_min_coverage);
  return guaranteed_threshold(cal_scores, cal_agrees, grid, target, options.delta,
                              options.min_accepted, options.window_scale, options.u);
}

std::vector<double> PerClassChoice::thresholds() const {
  std::vector<double> out(classes.size());
  for (std::size_t c = 0; c < classes.size(); ++c) out[c] = classes[c].threshold;
  return out;
}

std::vector<std::vector<double>> per_class_quantile_grids(
    const std::vector<float>& val_scores, const std::vector<std::int32_t>& val_classes,
    std::size_t n_classes, int points, double max_coverage, double min_coverage) {
  DB_CHECK(val_scores.size() == val_classes.size(),
           "calibration: {} validation scores but {} predicted classes", val_scores.size(),
           val_classes.size());
  check_classes(val_classes, n_classes, "validation");
  const auto by_class = split_by_class(val_scores, val_classes, n_classes);
  std::vector<std::vector<double>> grids(n_classes);
  for (std::size_t c = 0; c < n_classes; ++c)
    grids[c] = quantile_grid(by_class[c], points, max_coverage, min_coverage);
  return grids;
}

PerClassChoice guaranteed_per_class(const std::vector<float>& cal_scores,
                                    const std::vector<std::uint8_t>& cal_agrees,
                                    const std::vector<std::int32_t>& cal_classes,
                                    const std::vector<std::vector<double>>& grids, double target,
                                    double delta, std::size_t min_accepted, double window_scale,
                                    double u) {
  DB_CHECK(cal_scores.size() == cal_agrees.size() && cal_scores.size() == cal_classes.size(),
           "calibration: {} scores, {} agreement flags and {} predicted classes", cal_scores.size(),
           cal_agrees.size(), cal_classes.size());
  check_target_delta(target, delta);
  const std::size_t n_classes = grids.size();
  check_classes(cal_classes, n_classes, "calibration");

  PerClassChoice out;
  out.classes.resize(n_classes);
  for (const auto& g : grids) out.classes_tested += g.empty() ? 0 : 1;
  if (out.classes_tested == 0) {
    summarize(&out);
    return out;
  }
  out.delta_per_class = delta / static_cast<double>(out.classes_tested);

  const auto scores = split_by_class(cal_scores, cal_classes, n_classes);
  const auto agrees = split_by_class(cal_agrees, cal_classes, n_classes);
  for (std::size_t c = 0; c < n_classes; ++c) {
    if (grids[c].empty()) {
      out.classes[c].agreement = kNaN;
      continue;
    }
    out.classes[c] = guaranteed_threshold(scores[c], agrees[c], grids[c], target,
                                          out.delta_per_class, min_accepted, window_scale, u);
  }
  summarize(&out);
  return out;
}

PerClassChoice guaranteed_per_class(const std::vector<float>& val_scores,
                                    const std::vector<std::int32_t>& val_classes,
                                    const std::vector<float>& cal_scores,
                                    const std::vector<std::uint8_t>& cal_agrees,
                                    const std::vector<std::int32_t>& cal_classes,
                                    std::size_t n_classes, double target,
                                    const GuaranteedOptions& options) {
  const auto grids =
      per_class_quantile_grids(val_scores, val_classes, n_classes, options.grid_points,
                               options.grid_max_coverage, options.grid_min_coverage);
  return guaranteed_per_class(cal_scores, cal_agrees, cal_classes, grids, target, options.delta,
                              options.min_accepted, options.window_scale, options.u);
}

PerClassChoice empirical_per_class(const std::vector<float>& cal_scores,
                                   const std::vector<std::uint8_t>& cal_agrees,
                                   const std::vector<std::int32_t>& cal_classes,
                                   std::size_t n_classes, double target) {
  DB_CHECK(cal_scores.size() == cal_agrees.size() && cal_scores.size() == cal_classes.size(),
           "calibration: {} scores, {} agreement flags and {} predicted classes", cal_scores.size(),
           cal_agrees.size(), cal_classes.size());
  check_classes(cal_classes, n_classes, "calibration");
  const auto scores = split_by_class(cal_scores, cal_classes, n_classes);
  const auto agrees = split_by_class(cal_agrees, cal_classes, n_classes);
  PerClassChoice out;
  out.classes.resize(n_classes);
  for (std::size_t c = 0; c < n_classes; ++c)
    out.classes[c] = empirical_threshold(scores[c], agrees[c], target);
  summarize(&out);
  return out;
}

std::vector<std::uint8_t> accept_mask_per_class(const std::vector<float>& scores,
                                                const std::vector<std::int32_t>& classes,
                                                const std::vector<double>& thresholds) {
  DB_CHECK(scores.size() == classes.size(), "calibration: {} scores but {} predicted classes",
           scores.size(), classes.size());
  check_classes(classes, thresholds.size(), "routed");
  std::vector<std::uint8_t> out(scores.size());
  for (std::size_t i = 0; i < scores.size(); ++i)
    out[i] = scores[i] >= thresholds[static_cast<std::size_t>(classes[i])] ? 1 : 0;
  return out;
}

}  // namespace deferbench
