// The guarantee of the `guaranteed` calibration, measured where the truth is known in closed
// form: acceptor scores s ~ U(0, 1) and P(agree | s) = a + b·s, so the true agreement of the
// accepted traffic {s ≥ τ} is TA(τ) = a + b·(1 + τ)/2 and its coverage is 1 − τ (τ ∈ [0, 1)).
// Each repetition draws a validation split (for the grid) and a calibration split, calibrates at
// target 0.9, δ = 0.1, and checks the TRUE agreement of the chosen threshold. Over 200 seeds the
// fraction of violations (TA < target) must stay ≤ δ + 3·sqrt(δ(1 − δ)/200) = 0.164 for
// `guaranteed`; the point estimate (`empirical`) violates far more often.
//
// Measured (Release, x86-64; the tests print these lines; defaults: 50 grid points from 5% val
// coverage, min_accepted 50):
//   one threshold, η = 0.5 + 0.5 s (oracle τ = 0.6, coverage 0.40):
//     n = 300:  guaranteed 0.025 violations, mean coverage 0.13; empirical 0.570, coverage 0.42
//     n = 1000: guaranteed 0.080 violations, mean coverage 0.28; empirical 0.615, coverage 0.41
//   every threshold a true H0 (η = 0.88 flat; 200-point grid from 1% coverage, skip active):
//     n = 300:  guaranteed deploys in 0.035 of the runs; empirical in 0.965 (all violations)
//   per class, C = 3 (η = 0.7 + 0.3s, 0.5 + 0.5s, 0.2 + 0.8s; δ/3 per class):
//     n = 300:  guaranteed 0.010 overall / 0.010 any-class violations (coverage 0.013);
//               empirical 0.805 overall / 0.920 any-class (coverage 0.48)
//     n = 1000: guaranteed 0.020 overall / 0.035 any-class violations (coverage 0.088);
//               empirical 0.590 overall / 0.850 any-class (coverage 0.44)
//   measured on a window of W = 1000 fresh queries (n = 1000): the population guarantee's
//   window agreement falls below the target in 0.120 of the runs (coverage 0.268); the window
//   guarantee (calibration.window) in 0.010 (coverage 0.058)
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include <gtest/gtest.h>

#include "core/routing/calibration.h"
#include "core/routing/policy.h"
#include "core/util/random.h"

namespace deferbench {
namespace {

constexpr double kTarget = 0.9;
constexpr double kDelta = 0.1;
constexpr int kSeeds = 200;
// δ plus three binomial standard deviations of a frequency over kSeeds repetitions.
const double kViolationBound = kDelta + 3.0 * std::sqrt(kDelta * (1.0 - kDelta) / kSeeds);

// P(agree | s) = a + b·s on s ~ U(0, 1).
struct Linear {
  double a, b;
  double eta(double s) const { return a + b * s; }
  // Coverage and true agreement of {s ≥ τ}.
  double coverage(double tau) const {
    if (!(tau < 1.0)) return 0.0;  // +∞ included
    return tau <= 0.0 ? 1.0 : 1.0 - tau;
  }
  double agreement(double tau) const {
    const double t = std::max(0.0, tau);
    return a + b * (1.0 + t) / 2.0;
  }
};

struct Draw {
  std::vector<float> scores;
  std::vector<std::uint8_t> agrees;
  std::vector<std::int32_t> classes;
};

// n rows; class uniform over `classes` (one class: all 0).
Draw draw(Rng& rng, std::size_t n, const std::vector<Linear>& classes) {
  Draw d;
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<std::int32_t>(classes.size() == 1 ? 0 : rng.below(classes.size()));
    const double s = static_cast<float>(rng.uniform());
    d.classes.push_back(c);
    d.scores.push_back(static_cast<float>(s));
    d.agrees.push_back(rng.uniform() < classes[static_cast<std::size_t>(c)].eta(s) ? 1 : 0);
  }
  return d;
}

struct Tally {
  int violations = 0;
  int class_violations = 0;  // per-class mode: some class's accepted traffic below target
  int feasible = 0;
  double coverage = 0;  // summed true coverage
  double rate(int count) const { return static_cast<double>(count) / kSeeds; }
  double mean_coverage() const { return coverage / kSeeds; }
};

// Scores one choice of per-class thresholds against the truth (one class: a single threshold).
void score(const std::vector<Linear>& classes, const std::vector<double>& thresholds, Tally* t) {
  const double prior = 1.0 / static_cast<double>(classes.size());
  double mass = 0, agreed = 0;
  bool class_violation = false;
  for (std::size_t c = 0; c < classes.size(); ++c) {
    const double cov = classes[c].coverage(thresholds[c]);
    if (cov <= 0) continue;
    const double ta = classes[c].agreement(thresholds[c]);
    mass += prior * cov;
    agreed += prior * cov * ta;
    class_violation = class_violation || ta < kTarget;
  }
  t->coverage += mass;
  if (mass <= 0) return;
  ++t->feasible;
  t->violations += agreed / mass < kTarget ? 1 : 0;
  t->class_violations += class_violation ? 1 : 0;
}

TEST(Guarantee, SingleThresholdHoldsWithProbabilityOneMinusDelta) {
  const std::vector<Linear> truth = {{0.5, 0.5}};  // TA ≥ 0.9 iff τ ≥ 0.6: oracle coverage 0.4
  for (std::size_t n : {300u, 1000u}) {
    Tally guaranteed, empirical;
    for (int seed = 0; seed < kSeeds; ++seed) {
      Rng rng(1000003ULL * n + static_cast<std::uint64_t>(seed));
      const Draw val = draw(rng, n, truth);
      const Draw cal = draw(rng, n, truth);
      const ThresholdChoice g =
          guaranteed_threshold(val.scores, cal.scores, cal.agrees, kTarget, GuaranteedOptions{});
      const ThresholdChoice e = empirical_threshold(cal.scores, cal.agrees, kTarget);
      score(truth, {g.threshold}, &guaranteed);
      score(truth, {e.threshold}, &empirical);
      if (g.feasible) EXPECT_GE(g.lower_bound, kTarget);  // pass ⟺ CP bound clears the target
    }
    std::printf(
        "[guarantee] one threshold, n = %zu: guaranteed %.3f violations (coverage %.3f, "
        "feasible %.2f); empirical %.3f violations (coverage %.3f); bound %.3f\n",
        n, guaranteed.rate(guaranteed.violations), guaranteed.mean_coverage(),
        guaranteed.rate(guaranteed.feasible), empirical.rate(empirical.violations),
        empirical.mean_coverage(), kViolationBound);
    EXPECT_LE(guaranteed.rate(guaranteed.violations), kViolationBound);
    EXPECT_GT(empirical.rate(empirical.violations), 0.3);
    // Not trivially safe: it accepts a real share of the traffic (the oracle accepts 0.40; the
    // guarantee costs much of it at n = 300 on this shallow acceptor).
    EXPECT_GT(guaranteed.mean_coverage(), n >= 1000 ? 0.2 : 0.05);
    EXPECT_GT(guaranteed.rate(guaranteed.feasible), n >= 1000 ? 0.8 : 0.3);
  }
}

// The window guarantee: the promise is about the agreement MEASURED on a window of W fresh
// queries, binomial noise included. With W = n = 1000 the population guarantee fails on the
// measured window far more often than δ (its threshold sits just above the target); the window
// guarantee keeps the measured failure rate ≤ δ, at a price in coverage.
TEST(Guarantee, WindowGuaranteeHoldsOnTheMeasuredWindow) {
  const std::vector<Linear> truth = {{0.5, 0.5}};
  const std::size_t n = 1000, window = 1000;
  int population_fail = 0, window_fail = 0;
  double population_cov = 0, window_cov = 0;
  for (int seed = 0; seed < kSeeds; ++seed) {
    Rng rng(7777ULL + static_cast<std::uint64_t>(seed));
    const Draw val = draw(rng, n, truth), cal = draw(rng, n, truth);
    const Draw fresh = draw(rng, window, truth);
    // As the policy builder does: the grid from val, started where val's margin peaks.
    const double scale = static_cast<double>(window) / static_cast<double>(n);
    const GuaranteedOptions o;
    const std::vector<double> grid =
        quantile_grid(val.scores, o.grid_points, o.grid_max_coverage, o.grid_min_coverage);
    const ThresholdChoice p =
        guaranteed_threshold(cal.scores, cal.agrees,
                             start_where_bound_peaks(grid, val.scores, val.agrees, kDelta, kTarget),
                             kTarget, kDelta, o.min_accepted);
    const ThresholdChoice w = guaranteed_threshold(
        cal.scores, cal.agrees,
        start_where_bound_peaks(grid, val.scores, val.agrees, kDelta, kTarget, scale), kTarget,
        kDelta, o.min_accepted, scale);
    if (w.feasible) {
      // It certified more than the target, at δ/2.
      EXPECT_GT(w.required, kTarget);
      EXPECT_GE(w.lower_bound, w.required);
    }
    // The measured agreement on the window's handled queries.
    auto fails = [&](const ThresholdChoice& c, double* cov) {
      std::size_t m = 0, k = 0;
      for (std::size_t i = 0; i < window; ++i)
        if (static_cast<double>(fresh.scores[i]) >= c.threshold) {
          ++m;
          k += fresh.agrees[i];
        }
      *cov += static_cast<double>(m) / static_cast<double>(window);
      return m > 0 && static_cast<double>(k) < kTarget * static_cast<double>(m) ? 1 : 0;
    };
    population_fail += fails(p, &population_cov);
    window_fail += fails(w, &window_cov);
  }
  const double pf = static_cast<double>(population_fail) / kSeeds;
  const double wf = static_cast<double>(window_fail) / kSeeds;
  std::printf(
      "[guarantee] window W = %zu, n = %zu: population guarantee fails on the window in %.3f "
      "(coverage %.3f); window guarantee %.3f (coverage %.3f); bound %.3f\n",
      window, n, pf, population_cov / kSeeds, wf, window_cov / kSeeds, kViolationBound);
  EXPECT_LE(wf, kViolationBound);
  EXPECT_GT(pf, kDelta);  // why the window option exists
  // It still hands over traffic, at a steep price on this shallow acceptor (measured: 0.058
  // against the population guarantee's 0.268; the population one fails on 12% of windows).
  EXPECT_GT(window_cov / kSeeds, 0.03);
}

TEST(Guarantee, AllThresholdsBelowTargetRarelyDeploys) {
  // η = 0.88 everywhere: every threshold is a true H0, so ANY deployment is a violation. A fine
  // grid from 1% coverage with min_accepted = 40 makes the count-based skip fire at every seed.
  const std::vector<Linear> truth = {{0.88, 0.0}};
  const std::size_t n = 300;
  GuaranteedOptions o;
  o.grid_points = 200;
  o.grid_min_coverage = 0.01;
  o.min_accepted = 40;
  Tally guaranteed, empirical;
  int skipped = 0;
  for (int seed = 0; seed < kSeeds; ++seed) {
    Rng rng(77ULL + static_cast<std::uint64_t>(seed));
    const Draw val = draw(rng, n, truth);
    const Draw cal = draw(rng, n, truth);
    const ThresholdChoice g = guaranteed_threshold(val.scores, cal.scores, cal.agrees, kTarget, o);
    skipped += g.skipped > 0 ? 1 : 0;
    score(truth, {g.threshold}, &guaranteed);
    score(truth, {empirical_threshold(cal.scores, cal.agrees, kTarget).threshold}, &empirical);
  }
  std::printf("[guarantee] all H0 true, n = %zu: guaranteed %.3f deployed; empirical %.3f\n", n,
              guaranteed.rate(guaranteed.violations), empirical.rate(empirical.violations));
  EXPECT_EQ(skipped, kSeeds);
  EXPECT_LE(guaranteed.rate(guaranteed.violations), kViolationBound);
  EXPECT_GT(empirical.rate(empirical.violations), 0.5);
}

TEST(Guarantee, PerClassHoldsOverallAndPerClass) {
  // Three predicted classes of different difficulty; oracle thresholds 1/3, 0.6, 0.75.
  const std::vector<Linear> truth = {{0.7, 0.3}, {0.5, 0.5}, {0.2, 0.8}};
  const std::size_t n_classes = truth.size();
  for (std::size_t n : {300u, 1000u}) {
    Tally guaranteed, empirical;
    for (int seed = 0; seed < kSeeds; ++seed) {
      Rng rng(5000011ULL * n + static_cast<std::uint64_t>(seed));
      const Draw val = draw(rng, n, truth);
      const Draw cal = draw(rng, n, truth);
      const PerClassChoice g =
          guaranteed_per_class(val.scores, val.classes, cal.scores, cal.agrees, cal.classes,
                               n_classes, kTarget, GuaranteedOptions{});
      EXPECT_EQ(g.classes_tested, n_classes);
      EXPECT_NEAR(g.delta_per_class, kDelta / 3, 1e-15);
      const PerClassChoice e =
          empirical_per_class(cal.scores, cal.agrees, cal.classes, n_classes, kTarget);
      score(truth, g.thresholds(), &guaranteed);
      score(truth, e.thresholds(), &empirical);
    }
    std::printf(
        "[guarantee] per class (C = 3), n = %zu: guaranteed %.3f overall / %.3f any-class "
        "violations (coverage %.3f); empirical %.3f overall / %.3f any-class (coverage %.3f)\n",
        n, guaranteed.rate(guaranteed.violations), guaranteed.rate(guaranteed.class_violations),
        guaranteed.mean_coverage(), empirical.rate(empirical.violations),
        empirical.rate(empirical.class_violations), empirical.mean_coverage());
    EXPECT_LE(guaranteed.rate(guaranteed.violations), kViolationBound);
    EXPECT_LE(guaranteed.rate(guaranteed.class_violations), kViolationBound);
    EXPECT_GT(empirical.rate(empirical.violations), 0.3);
    // Per class at δ/3 with ~n/3 rows per class the price is steep; it still deploys.
    EXPECT_GT(guaranteed.mean_coverage(), n >= 1000 ? 0.04 : 0.005);
  }
}

}  // namespace
}  // namespace deferbench
