// The randomized binomial test of the guaranteed calibration (calibration.test: randomized;
// calibration.h, "randomized test"; binomial.h: binomial_randomized_p_value,
// randomized_lower_bound): its p-value by hand, its level by repetition, its lower bound as the
// inversion of the test, and the guarantee over seeds with the threshold walk it drives.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "core/data/dataset.h"
#include "core/routing/calibration.h"
#include "core/routing/families.h"
#include "core/routing/family.h"
#include "core/routing/policy.h"
#include "core/stats/binomial.h"
#include "core/util/error.h"
#include "core/util/random.h"

namespace deferbench {
namespace {

// P(X = j | n, p) by the textbook formula (small n only).
double pmf(int j, int n, double p) {
  double c = 1;
  for (int i = 0; i < j; ++i) c = c * (n - i) / (i + 1);
  return c * std::pow(p, j) * std::pow(1 - p, n - j);
}

TEST(RandomizedTest, PValueIsTheTailAboveKPlusUTimesThePointMass) {
  // n = 5, target 0.9: P(X = 5) = 0.59049, P(X = 4) = 5 · 0.9^4 · 0.1 = 0.32805.
  EXPECT_NEAR(binomial_randomized_p_value(4, 5, 0.9, 0.5), 0.59049 + 0.5 * 0.32805, 1e-12);
  EXPECT_NEAR(binomial_randomized_p_value(5, 5, 0.9, 0.25), 0.25 * 0.59049, 1e-12);
  EXPECT_NEAR(binomial_randomized_p_value(0, 5, 0.9, 0.5), 1.0 - 0.5 * std::pow(0.1, 5), 1e-12);
  // u = 1 is the exact test.
  for (int k = 0; k <= 60; ++k)
    EXPECT_EQ(binomial_randomized_p_value(k, 60, 0.9, 1.0), binomial_p_value(k, 60, 0.9));
  // n = 60: against sums of the pmf.
  for (int k : {50, 55, 57, 58, 60}) {
    double above = 0;
    for (int j = k + 1; j <= 60; ++j) above += pmf(j, 60, 0.9);
    EXPECT_NEAR(binomial_randomized_p_value(k, 60, 0.9, 0.3), above + 0.3 * pmf(k, 60, 0.9), 1e-12);
  }
  EXPECT_THROW(binomial_randomized_p_value(3, 5, 0.9, 0.0), Error);
  EXPECT_THROW(binomial_randomized_p_value(3, 5, 0.9, 1.5), Error);
}

// At the boundary of H0 (true agreement = target) the randomized test rejects with probability
// δ; the exact one with its size P(X ≥ k_min) < δ (0.0530 at m = 60, target 0.9, δ = 0.1);
// inside H0 both stay below δ. 40,000 repetitions: σ of a rate near 0.1 is 0.0015.
TEST(RandomizedTest, HasLevelDeltaAtTheBoundaryWhereTheExactTestUsesLess) {
  constexpr int kReps = 40000, kM = 60;
  constexpr double kDelta = 0.1;
  const double sigma = std::sqrt(kDelta * (1 - kDelta) / kReps);
  double exact_size = 0;
  for (int j = 58; j <= kM; ++j) exact_size += pmf(j, kM, 0.9);
  ASSERT_NEAR(exact_size, 0.0530, 5e-4);
  for (double truth : {0.9, 0.88}) {
    Rng rng(4242 + static_cast<std::uint64_t>(truth * 100));
    int randomized = 0, exact = 0;
    for (int r = 0; r < kReps; ++r) {
      int k = 0;
      for (int i = 0; i < kM; ++i) k += rng.uniform() < truth;
      const double u = 1.0 - rng.uniform();  // (0, 1]
      randomized += binomial_randomized_p_value(k, kM, 0.9, u) <= kDelta;
      exact += binomial_p_value(k, kM, 0.9) <= kDelta;
    }
    const double rr = static_cast<double>(randomized) / kReps;
    const double re = static_cast<double>(exact) / kReps;
    std::printf("[randomized test] m = 60, truth %.2f: randomized rejects %.4f, exact %.4f\n",
                truth, rr, re);
    if (truth == 0.9) {
      EXPECT_NEAR(rr, kDelta, 4 * sigma);
      EXPECT_NEAR(re, exact_size, 4 * sigma);
    } else {
      EXPECT_LE(rr, kDelta + 4 * sigma);
      EXPECT_LT(re, rr);
    }
  }
}

TEST(RandomizedTest, LowerBoundInvertsTheTest) {
  for (int n : {1, 30, 60, 400})
    for (int k : {0, n / 2, n - 1, n}) {
      if (k < 0) continue;
      const auto uk = static_cast<std::uint64_t>(k), un = static_cast<std::uint64_t>(n);
      EXPECT_EQ(randomized_lower_bound(uk, un, 0.1, 1.0), clopper_pearson_lower(uk, un, 0.1));
      double previous = clopper_pearson_lower(uk, un, 0.1);
      for (double u : {0.9, 0.5, 0.2, 0.05}) {
        const double l = randomized_lower_bound(uk, un, 0.1, u);
        EXPECT_GE(l, previous - 1e-12) << "k " << k << " n " << n << " u " << u;  // smaller u:
        previous = l;                                                             // more lenient
        if (l > 0 && l < 1) EXPECT_NEAR(binomial_randomized_p_value(uk, un, l, u), 0.1, 1e-9);
        // The test passes at t exactly when the bound reaches t.
        for (double t : {0.5, 0.8, 0.9, 0.95, 0.99})
          if (std::fabs(l - t) > 1e-9)
            EXPECT_EQ(binomial_randomized_p_value(uk, un, t, u) <= 0.1, l >= t)
                << "k " << k << " n " << n << " u " << u << " t " << t;
      }
    }
  // All agreeing with u ≤ δ rejects H0 at every t < 1.
  EXPECT_EQ(randomized_lower_bound(30, 30, 0.1, 0.05), 1.0);
  EXPECT_EQ(randomized_lower_bound(0, 30, 0.1, 0.5), 0.0);  // u > δ and no agreement
}

TEST(RandomizedTest, NeedsAtMostOneAgreementFewerThanTheExactTest) {
  for (std::uint64_t m : {22u, 30u, 60u, 150u, 1000u})
    for (double u : {1.0, 0.7, 0.3, 0.01}) {
      const std::uint64_t exact = min_passing_agreements(m, 0.9, 0.1);
      const std::uint64_t r = min_passing_agreements(m, 0.9, 0.1, u);
      EXPECT_LE(r, exact);
      EXPECT_GE(r + 1, exact);
      if (r <= m) {
        EXPECT_LE(binomial_randomized_p_value(r, m, 0.9, u), 0.1);
        if (r > 0) EXPECT_GT(binomial_randomized_p_value(r - 1, m, 0.9, u), 0.1);
      }
    }
  // m = 60, target 0.9, δ = 0.1: exact needs 58; with 57, P(X > 57) = 0.0530 and
  // P(X = 57) = 0.0844, so u ≤ 0.556 passes.
  EXPECT_EQ(min_passing_agreements(60, 0.9, 0.1), 58u);
  EXPECT_EQ(min_passing_agreements(60, 0.9, 0.1, 0.5), 57u);
  EXPECT_EQ(min_passing_agreements(60, 0.9, 0.1, 0.6), 58u);
}

TEST(RandomizedTest, TheWalkPassesOneAgreementShortWhenUIsSmall) {
  // 60 calibration rows above the single grid threshold, 57 agreeing, 40 below it.
  std::vector<float> scores;
  std::vector<std::uint8_t> agrees;
  for (int i = 0; i < 100; ++i) {
    scores.push_back(i < 60 ? 0.9f : 0.1f);
    agrees.push_back(i < 57 ? 1 : 0);
  }
  const std::vector<double> grid = {0.5};
  const ThresholdChoice exact = guaranteed_threshold(scores, agrees, grid, 0.9, 0.1, 30);
  EXPECT_FALSE(exact.feasible);
  EXPECT_TRUE(std::isnan(exact.p_value)) << "no threshold passed";
  const ThresholdChoice lucky = guaranteed_threshold(scores, agrees, grid, 0.9, 0.1, 30, 0.0, 0.5);
  ASSERT_TRUE(lucky.feasible);
  EXPECT_EQ(lucky.accepted, 60u);
  EXPECT_NEAR(lucky.p_value, binomial_randomized_p_value(57, 60, 0.9, 0.5), 1e-15);
  EXPECT_LE(lucky.p_value, 0.1);
  EXPECT_GE(lucky.lower_bound, 0.9);  // the randomized bound, consistent with the pass
  EXPECT_LT(clopper_pearson_lower(57, 60, 0.1), 0.9);
  const ThresholdChoice unlucky =
      guaranteed_threshold(scores, agrees, grid, 0.9, 0.1, 30, 0.0, 0.6);
  EXPECT_FALSE(unlucky.feasible);
  EXPECT_THROW(guaranteed_threshold(scores, agrees, grid, 0.9, 0.1, 30, 0.0, 0.0), Error);
}

// The guarantee with the randomized test, where the truth is known (as test_guarantee.cpp):
// scores s ~ U(0, 1), P(agree | s) = 0.5 + 0.5 s, so TA(τ) = 0.5 + 0.25 (1 + τ) and the oracle
// threshold is 0.6 (coverage 0.4). 400 seeds, u drawn per seed: violations ≤ δ + 3σ; and since
// the randomized p-value never exceeds the exact one, on the same draws it certifies at least
// the exact test's coverage, seed by seed.
TEST(RandomizedTest, GuaranteeHoldsOverSeedsAndCoverageNeverFallsBelowTheExactTests) {
  constexpr int kSeeds = 400;
  const double bound = 0.1 + 3 * std::sqrt(0.1 * 0.9 / kSeeds);
  for (std::size_t n : {300u, 1000u}) {
    int violations = 0, exact_violations = 0;
    double coverage = 0, exact_coverage = 0;
    for (int seed = 0; seed < kSeeds; ++seed) {
      Rng rng(99991ULL * n + static_cast<std::uint64_t>(seed));
      auto draw = [&](std::vector<float>& s, std::vector<std::uint8_t>& a) {
        for (std::size_t i = 0; i < n; ++i) {
          const double x = rng.uniform();
          s.push_back(static_cast<float>(x));
          a.push_back(rng.uniform() < 0.5 + 0.5 * x ? 1 : 0);
        }
      };
      std::vector<float> vs, cs;
      std::vector<std::uint8_t> va, ca;
      draw(vs, va);
      draw(cs, ca);
      GuaranteedOptions o;
      const ThresholdChoice e = guaranteed_threshold(vs, cs, ca, 0.9, o);
      o.u = 1.0 - rng.uniform();
      const ThresholdChoice r = guaranteed_threshold(vs, cs, ca, 0.9, o);
      auto truth = [](const ThresholdChoice& c, int* v, double* cov) {
        if (!c.feasible) return;
        const double tau = std::max(0.0, c.threshold);
        *cov += 1 - tau;
        *v += 0.5 + 0.25 * (1 + tau) < 0.9;
      };
      truth(r, &violations, &coverage);
      truth(e, &exact_violations, &exact_coverage);
      if (e.feasible) {
        ASSERT_TRUE(r.feasible);
        EXPECT_LE(r.threshold, e.threshold) << "seed " << seed;
      }
    }
    std::printf(
        "[randomized test] n = %zu, %d seeds: violations %.3f (exact %.3f), mean coverage %.3f "
        "(exact %.3f), bound %.3f\n",
        n, kSeeds, static_cast<double>(violations) / kSeeds,
        static_cast<double>(exact_violations) / kSeeds, coverage / kSeeds, exact_coverage / kSeeds,
        bound);
    EXPECT_LE(static_cast<double>(violations) / kSeeds, bound);
    EXPECT_GE(coverage, exact_coverage);
  }
}

// A calibration split of m rows: two continuous features and an id per row.
Dataset calibration_rows(Rng& rng, std::size_t m) {
  Dataset d;
  d.features = Matrix(m, 2);
  for (std::size_t i = 0; i < m; ++i) {
    d.features(i, 0) = static_cast<float>(rng.normal());
    d.features(i, 1) = static_cast<float>(rng.normal());
    d.ids.push_back("row" + std::to_string(rng.below(1000000)));
  }
  d.teacher.assign(m, 0);
  return d;
}

TEST(RandomizedTest, TheConfigChoosesItAndTheCalibrationRowsDrawU) {
  const auto r = CalibrationSettings::from_yaml(YAML::Load("{target: 0.9}"), "calibration");
  EXPECT_EQ(r.test, "randomized");  // the default
  const auto exact = CalibrationSettings::from_yaml(YAML::Load("{test: exact}"), "calibration");
  EXPECT_EQ(exact.test, "exact");
  try {
    CalibrationSettings::from_yaml(YAML::Load("{test: mid_p}"), "calibration");
    FAIL() << "an unknown test should throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'calibration.test'"), std::string::npos) << e.what();
  }
  Rng rng(7);
  const Dataset cal = calibration_rows(rng, 40), other = calibration_rows(rng, 40);
  const std::vector<FittedStage> fitted(1);
  const FamilyOptions options;
  auto u_of = [&](const CalibrationSettings& s, const Dataset& rows, std::uint64_t seed,
                  std::size_t stage = 0) {
    const FamilyInputs in{fitted, rows, rows, 0.9, s, options, CalibrateOn::kCal, seed};
    return in.resolved(stage).guaranteed.u;
  };
  EXPECT_EQ(u_of(exact, cal, 1), 1.0);
  {
    const FamilyInputs in{fitted, cal, cal, 0.9, r, options, CalibrateOn::kCal, 1};
    EXPECT_TRUE(in.resolved().guaranteed.randomized);
    const FamilyInputs ex{fitted, cal, cal, 0.9, exact, options, CalibrateOn::kCal, 1};
    EXPECT_FALSE(ex.resolved().guaranteed.randomized);
  }
  const double a = u_of(r, cal, 1);
  EXPECT_GT(a, 0.0);
  EXPECT_LE(a, 1.0);
  EXPECT_EQ(a, u_of(r, cal, 2));    // no seed enters u: the same rows, the same draw
  EXPECT_NE(a, u_of(r, other, 1));  // other rows, another draw
  Dataset moved = cal;              // one feature of one row changed
  moved.features(17, 1) += 1e-3f;
  EXPECT_NE(a, u_of(r, moved, 1));
  Dataset relabelled = cal;  // the same rows with another teacher label: another draw
  relabelled.teacher[5] = 3;
  EXPECT_NE(a, u_of(r, relabelled, 1));
  EXPECT_NE(u_of(r, cal, 1, 1), a);  // a cascade's second stage draws its own u
  // The calibrations on val (candidate selection) use the exact test.
  const FamilyInputs on_val{fitted, cal, cal, 0.9, r, options, CalibrateOn::kVal, 1};
  EXPECT_EQ(on_val.resolved().guaranteed.u, 1.0);
  EXPECT_FALSE(on_val.resolved().guaranteed.randomized);
}

// The point of hashing u from the calibration rows: at one fixed seed the test's level over
// calibration draws is δ, where a u drawn from the seed fixes the level at that u's (at m = 60,
// target 0.9, δ = 0.1 either 0.053 or 0.137). Two kinds of draw: fresh rows each time, whose
// agreement depends on their features (0.8 where the first feature is negative, 1.0 elsewhere:
// 0.9 overall, the boundary of H0), so that a u leaking the features into the count would show;
// and the same 60 rows every time with only their labels drawn (agreement 0.9 each), where u
// can vary only through the labels, i.e. through the agreement pattern itself. The teacher
// label is 0 where the row agrees (the surrogate says 0), 1 where not. 40,000 draws each,
// σ 0.0015.
TEST(RandomizedTest, HasLevelDeltaAtEveryFixedSeedWithUFromTheRows) {
  constexpr int kReps = 40000;
  constexpr std::size_t kM = 60;
  constexpr double kDelta = 0.1;
  const double sigma = std::sqrt(kDelta * (1 - kDelta) / kReps);
  const auto settings = CalibrationSettings::from_yaml(YAML::Load("{target: 0.9}"), "calibration");
  const std::vector<FittedStage> fitted(1);
  const FamilyOptions options;
  for (bool fixed_rows : {false, true}) {
    for (std::uint64_t seed : {0u, 1u}) {
      Rng rng(99 + seed + (fixed_rows ? 10 : 0));
      Dataset cal = calibration_rows(rng, kM);
      int rejects = 0, small_u = 0;
      for (int r = 0; r < kReps; ++r) {
        if (!fixed_rows) cal = calibration_rows(rng, kM);
        std::size_t k = 0;
        for (std::size_t i = 0; i < kM; ++i) {
          const double p = fixed_rows ? 0.9 : (cal.features(i, 0) < 0 ? 0.8 : 1.0);
          const bool agrees = rng.uniform() < p;
          cal.teacher[i] = agrees ? 0 : 1;
          k += agrees;
        }
        const FamilyInputs in{fitted, cal, cal, 0.9, settings, options, CalibrateOn::kCal, seed};
        const double u = in.resolved().guaranteed.u;
        small_u += u <= 0.5;
        rejects += binomial_randomized_p_value(k, kM, 0.9, u) <= kDelta;
      }
      const double level = static_cast<double>(rejects) / kReps;
      std::printf(
          "[randomized test] seed %d, %s, u hashed from 60 rows: level %.4f, P(u <= 0.5) %.4f\n",
          static_cast<int>(seed), fixed_rows ? "fixed rows, labels drawn" : "fresh rows", level,
          static_cast<double>(small_u) / kReps);
      EXPECT_NEAR(level, kDelta, 4 * sigma) << "seed " << seed << " fixed rows " << fixed_rows;
      EXPECT_NEAR(static_cast<double>(small_u) / kReps, 0.5, 4 * std::sqrt(0.25 / kReps));
    }
  }
}

}  // namespace
}  // namespace deferbench
