#include "core/routing/calibration.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "core/stats/binomial.h"

#include "core/util/error.h"

namespace deferbench {
namespace {

TEST(EmpiricalThreshold, PicksTheLargestFeasiblePrefix) {
  // Scores descending with agreement flags:
  //   0.9 ✓, 0.8 ✓, 0.7 ✗, 0.6 ✓, 0.5 ✓, 0.4 ✗, 0.3 ✗
  // prefix agreements: 1/1, 2/2, 2/3=.667, 3/4=.75, 4/5=.8, 4/6=.667, 4/7=.571
  // target 0.75 → the largest prefix with ≥ .75 is k=5 (0.8): threshold 0.5.
  std::vector<float> s = {0.3f, 0.9f, 0.5f, 0.7f, 0.4f, 0.8f, 0.6f};
  std::vector<std::uint8_t> a = {0, 1, 1, 0, 0, 1, 1};
  auto c = empirical_threshold(s, a, 0.75);
  ASSERT_TRUE(c.feasible);
  EXPECT_FLOAT_EQ(c.threshold, 0.5f);
  EXPECT_EQ(c.accepted, 5u);
  EXPECT_DOUBLE_EQ(c.agreement, 0.8);
  // target 0.81: k=5 fails (.8), k=4 fails (.75), k=3 fails, k=2 → 1.0: threshold 0.8.
  auto d = empirical_threshold(s, a, 0.81);
  EXPECT_FLOAT_EQ(d.threshold, 0.8f);
  EXPECT_EQ(d.accepted, 2u);
  // target 0.5: everything (4/7 = .571 ≥ .5).
  EXPECT_EQ(empirical_threshold(s, a, 0.5).accepted, 7u);
}

TEST(EmpiricalThreshold, TiedScoresMoveTogether) {
  // Two rows tie at 0.9 (one agrees, one not): accepting one without the other is impossible.
  std::vector<float> s = {0.9f, 0.9f, 0.5f};
  std::vector<std::uint8_t> a = {1, 0, 1};
  auto c = empirical_threshold(s, a, 0.9);
  EXPECT_FALSE(c.feasible);  // {0.9,0.9}: 1/2; all: 2/3
  EXPECT_TRUE(std::isinf(c.threshold));
  auto mask = accept_mask(s, c.threshold);
  EXPECT_EQ(mask, (std::vector<std::uint8_t>{0, 0, 0}));
}

TEST(EmpiricalThreshold, MaskAcceptsAtOrAboveThreshold) {
  EXPECT_EQ(accept_mask({0.2f, 0.5f, 0.7f}, 0.5), (std::vector<std::uint8_t>{0, 1, 1}));
}

TEST(EmpiricalThreshold, RejectsBadInput) {
  EXPECT_THROW(empirical_threshold({0.1f}, {1, 0}, 0.9), Error);
  EXPECT_THROW(empirical_threshold({0.1f}, {1}, 1.5), Error);
}

// ---- binomial tails ---------------------------------------------------------------------------

double rel_err(double got, long double want) {
  return static_cast<double>(std::fabs((static_cast<long double>(got) - want) / want));
}

TEST(BinomialTail, HandWorkedTable) {
  // n = 10, p = 1/2: P(X ≥ 8) = (45 + 10 + 1)/1024, symmetric P(X ≤ 2); P(X ≥ 5) = 638/1024.
  EXPECT_NEAR(binomial_upper_tail(8, 10, 0.5), 56.0 / 1024, 1e-15);
  EXPECT_NEAR(binomial_cdf(2, 10, 0.5), 56.0 / 1024, 1e-15);
  EXPECT_NEAR(binomial_upper_tail(5, 10, 0.5), 638.0 / 1024, 1e-15);
  EXPECT_NEAR(binomial_upper_tail(1, 3, 0.5), 7.0 / 8, 1e-15);
  // n = 20, p = 0.9: P(X ≥ 20) = 0.9^20, P(X ≤ 19) = 1 − 0.9^20.
  EXPECT_LT(rel_err(binomial_upper_tail(20, 20, 0.9), std::pow(0.9L, 20)), 1e-14);
  EXPECT_LT(rel_err(binomial_cdf(19, 20, 0.9), 1 - std::pow(0.9L, 20)), 1e-14);
  // DESIGN.md: 10 of 10 agreements give p-value 0.9^10 = 0.3487 at target 0.9 — not ≤ 0.1.
  EXPECT_NEAR(binomial_p_value(10, 10, 0.9), 0.3486784401, 1e-10);
  EXPECT_GT(binomial_p_value(10, 10, 0.9), 0.1);
  EXPECT_EQ(min_passable_rows(0.9, 0.1), 22u);  // 0.9^21 = 0.109, 0.9^22 = 0.0985
  EXPECT_GT(binomial_p_value(21, 21, 0.9), 0.1);
  EXPECT_LE(binomial_p_value(22, 22, 0.9), 0.1);
  EXPECT_EQ(min_passable_rows(0.5, 0.1), 4u);
  // Edges.
  EXPECT_EQ(binomial_upper_tail(0, 5, 0.3), 1.0);
  EXPECT_EQ(binomial_upper_tail(6, 5, 0.3), 0.0);
  EXPECT_EQ(binomial_cdf(5, 5, 0.3), 1.0);
  EXPECT_EQ(binomial_upper_tail(1, 5, 0.0), 0.0);
  EXPECT_EQ(binomial_upper_tail(5, 5, 1.0), 1.0);
  EXPECT_EQ(binomial_cdf(4, 5, 1.0), 0.0);
  EXPECT_EQ(binomial_p_value(0, 0, 0.9), 1.0);  // no rows, no evidence
  EXPECT_NEAR(std::exp(binomial_log_pmf(3, 10, 0.5)), 120.0 / 1024, 1e-15);
}

// Both tails of Binomial(n, p) for every k by long-double summation of the exact pmf, smallest
// terms first (lgammal is accurate to ~1e-15 absolute for these n).
struct DirectTails {
  std::vector<long double> upper;  // upper[k] = P(X ≥ k)
  std::vector<long double> lower;  // lower[k] = P(X ≤ k)
  DirectTails(unsigned n, long double p) : upper(n + 2, 0), lower(n + 1, 0) {
    std::vector<long double> pmf(n + 1);
    for (unsigned j = 0; j <= n; ++j)
      pmf[j] = std::exp(std::lgamma(n + 1.0L) - std::lgamma(j + 1.0L) - std::lgamma(n - j + 1.0L) +
                        j * std::log(p) + (n - j) * std::log1p(-p));
    for (unsigned j = n + 1; j-- > 0;) upper[j] = upper[j + 1] + pmf[j];
    for (unsigned j = 0; j <= n; ++j) lower[j] = (j == 0 ? 0 : lower[j - 1]) + pmf[j];
  }
};

TEST(BinomialTail, MatchesDirectSummation) {
  double worst = 0;
  for (unsigned n : {1u, 2u, 7u, 30u, 101u, 500u, 2000u}) {
    for (double p : {1e-4, 0.03, 0.25, 0.5, 0.7, 0.9, 0.999}) {
      const DirectTails want(n, p);
      for (unsigned k = 0; k <= n; ++k) {
        if (want.upper[k] > 1e-280L) {
          const double e = rel_err(binomial_upper_tail(k, n, p), want.upper[k]);
          worst = std::max(worst, e);
          EXPECT_LT(e, 1e-11) << "P(X >= " << k << " | " << n << ", " << p << ")";
        }
        if (want.lower[k] > 1e-280L) {
          const double e = rel_err(binomial_cdf(k, n, p), want.lower[k]);
          worst = std::max(worst, e);
          EXPECT_LT(e, 1e-11) << "P(X <= " << k << " | " << n << ", " << p << ")";
        }
      }
    }
  }
  std::printf("[binomial] worst relative error against direct summation: %.2e\n", worst);
}

TEST(BinomialTail, HighPrecisionReferencesUpToTenMillion) {
  // P(X ≥ k | n, p) from 40-digit summation (mpmath), near the mean and far in the tails.
  struct Case {
    std::uint64_t k, n;
    double p;
    long double want;
  };
  const Case cases[] = {
      {163, 1000, 0.1, 4.840828518038338318578826e-10L},
      {921, 1000, 0.9, 0.01326522973176722603568838L},
      {999, 1000, 0.999999, 0.9999995008322097529218216L},
      {337, 100000, 0.003, 0.01879696000248250950474745L},
      {50955, 100000, 0.5, 7.851921376409047774404041e-10L},
      {89952, 100000, 0.9, 0.6957697992629788210099161L},
      {99065, 100000, 0.99, 0.01936152256261956584944252L},
      {18, 10000000, 1e-06, 0.0142775689230797559582879L},
      {8, 10000000, 1e-06, 0.77977948851720190263L},
      {1005698, 10000000, 0.1, 9.818842393734423756647862e-10L},
      {5000791, 10000000, 0.5, 0.3085529963422286733433612L},
      {9001899, 10000000, 0.9, 0.02266294656374388483899523L},
      {9999992, 10000000, 0.999999, 0.33281956611924434127L},
      {9999998, 10000000, 0.999999, 0.0027693866348812335273L},
  };
  for (const Case& c : cases) {
    EXPECT_LT(rel_err(binomial_upper_tail(c.k, c.n, c.p), c.want), 1e-10)
        << "P(X >= " << c.k << " | " << c.n << ", " << c.p << ")";
    if (c.want < 0.5L) {  // the complement side, through the CDF
      EXPECT_LT(rel_err(binomial_cdf(c.k - 1, c.n, c.p), 1 - c.want), 1e-12);
    }
  }
}

TEST(BinomialTail, ComplementAndReflection) {
  for (std::uint64_t n : {5u, 40u, 1000u, 123457u}) {
    for (double p : {0.25, 0.5, 0.75}) {  // 1 − p exact
      for (std::uint64_t k : {std::uint64_t{1}, n / 3, n / 2, n - n / 5, n}) {
        EXPECT_NEAR(binomial_upper_tail(k, n, p) + binomial_cdf(k - 1, n, p), 1.0, 1e-14);
        // X ≥ k  ⟺  n − X ≤ n − k, with n − X ~ Binomial(n, 1 − p).
        const double a = binomial_upper_tail(k, n, p);
        const double b = binomial_cdf(n - k, n, 1 - p);
        EXPECT_LE(std::fabs(a - b), 1e-12 * std::max(a, 1e-300)) << n << " " << p << " " << k;
      }
    }
  }
}

TEST(ClopperPearson, KnownValues) {
  EXPECT_EQ(clopper_pearson_lower(0, 50, 0.1), 0.0);
  for (std::uint64_t n : {1u, 10u, 20u, 1000u})
    EXPECT_NEAR(clopper_pearson_lower(n, n, 0.1), std::pow(0.1, 1.0 / static_cast<double>(n)),
                1e-15);
  // References: 40-digit root of I_p(k, n − k + 1) = δ (mpmath). 5/10 at δ = 0.05 is the lower
  // end of the textbook 90% two-sided interval [0.2224, 0.7776].
  EXPECT_NEAR(clopper_pearson_lower(5, 10, 0.05), 0.22244110100812908173, 1e-13);
  EXPECT_NEAR(clopper_pearson_upper(5, 10, 0.05), 1 - 0.22244110100812908173, 1e-13);
  EXPECT_NEAR(clopper_pearson_lower(85, 100, 0.1), 0.79387061959237317078, 1e-13);
  EXPECT_NEAR(clopper_pearson_lower(900, 1000, 0.1), 0.88674443654669264532, 1e-13);
  EXPECT_LT(std::fabs(clopper_pearson_lower(1, 1000, 0.1) / 0.00010535496543362300533 - 1), 1e-12);
  EXPECT_EQ(clopper_pearson_upper(7, 7, 0.1), 1.0);
}

TEST(ClopperPearson, SolvesItsDefiningEquation) {
  for (std::uint64_t n : {3u, 17u, 300u, 5000u, 10000000u}) {
    for (std::uint64_t k : {std::uint64_t{1}, n / 4, n / 2, (9 * n) / 10, n - 1}) {
      if (k == 0) continue;
      for (double delta : {0.01, 0.1, 0.3}) {
        const double lb = clopper_pearson_lower(k, n, delta);
        EXPECT_GT(lb, 0.0);
        EXPECT_LT(lb, static_cast<double>(k) / static_cast<double>(n));
        EXPECT_NEAR(binomial_upper_tail(k, n, lb) / delta, 1.0, 1e-9) << k << "/" << n;
        const double ub = clopper_pearson_upper(k, n, delta);
        EXPECT_GT(ub, static_cast<double>(k) / static_cast<double>(n));
        EXPECT_EQ(ub, 1 - clopper_pearson_lower(n - k, n, delta));
        // (Near 1 a double cannot place ub finely enough for the equation: skip those.)
        if (ub < 0.999) EXPECT_NEAR(binomial_cdf(k, n, ub) / delta, 1.0, 1e-9) << k << "/" << n;
      }
    }
  }
  // More successes, higher bound; more confidence, lower bound.
  EXPECT_LT(clopper_pearson_lower(80, 100, 0.1), clopper_pearson_lower(81, 100, 0.1));
  EXPECT_LT(clopper_pearson_lower(80, 100, 0.05), clopper_pearson_lower(80, 100, 0.1));
}

TEST(BinomialPValue, RejectsExactlyWhenTheLowerBoundClearsTheTarget) {
  int passes = 0;
  for (std::uint64_t n = 1; n <= 150; ++n) {
    for (std::uint64_t k = 0; k <= n; ++k) {
      const double pv = binomial_p_value(k, n, 0.9);
      if (std::fabs(pv - 0.1) < 1e-12) continue;  // a tie decided by rounding
      const bool pass = pv <= 0.1;
      passes += pass ? 1 : 0;
      EXPECT_EQ(pass, clopper_pearson_lower(k, n, 0.1) >= 0.9) << k << "/" << n;
    }
  }
  EXPECT_GT(passes, 100);
}

TEST(BinomialTail, RejectsBadInput) {
  EXPECT_THROW(binomial_upper_tail(1, 5, 1.5), Error);
  EXPECT_THROW(binomial_upper_tail(1, 5, std::nan("")), Error);
  EXPECT_THROW(binomial_log_pmf(6, 5, 0.5), Error);
  EXPECT_THROW(binomial_p_value(6, 5, 0.9), Error);
  EXPECT_THROW(binomial_p_value(1, 5, 0.0), Error);
  EXPECT_THROW(binomial_p_value(1, 5, 1.1), Error);
  EXPECT_THROW(clopper_pearson_lower(1, 5, 0.0), Error);
  EXPECT_THROW(clopper_pearson_lower(1, 5, 1.0), Error);
  EXPECT_THROW(clopper_pearson_lower(6, 5, 0.1), Error);
  EXPECT_THROW(min_passable_rows(0.9, 1.0), Error);
}

// ---- the threshold grid ----------------------------------------------------------------------

TEST(CalibrationGrid, QuantilesOfValidationScoresStrictestFirst) {
  std::vector<float> val;
  for (int i = 100; i >= 1; --i) val.push_back(static_cast<float>(i) / 100.0f);  // 1.00 … 0.01
  // Coverages 0.2, 0.4, …, 1.0 → the 20th, 40th, … highest scores.
  const auto grid = quantile_grid(val, 5, 1.0, 0.2);
  ASSERT_EQ(grid.size(), 5u);
  const float want[] = {0.81f, 0.61f, 0.41f, 0.21f, 0.01f};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(grid[i], static_cast<double>(want[i]));
    // Its val coverage is the planned one.
    const auto mask = accept_mask(val, grid[i]);
    EXPECT_EQ(std::count(mask.begin(), mask.end(), 1), 20 * (i + 1));
  }
  // Ties and coverages closer than 1/n collapse: strictly decreasing.
  const auto flat = quantile_grid({0.5f, 0.5f, 0.5f, 0.2f}, 10, 1.0, 0.0);
  EXPECT_EQ(flat, (std::vector<double>{0.5, static_cast<double>(0.2f)}));
  const auto one = quantile_grid(val, 1, 1.0, 0.3);
  EXPECT_EQ(one, (std::vector<double>{static_cast<double>(0.71f)}));
  EXPECT_TRUE(quantile_grid({}, 10, 1.0, 0.1).empty());
}

TEST(CalibrationGrid, RejectsBadInput) {
  EXPECT_THROW(quantile_grid({0.1f}, 0, 1.0, 0.1), Error);
  EXPECT_THROW(quantile_grid({0.1f}, 5, 0.5, 0.6), Error);  // min > max
  EXPECT_THROW(quantile_grid({0.1f}, 5, 1.5, 0.1), Error);
  EXPECT_THROW(quantile_grid({0.1f}, 5, 1.0, -0.1), Error);
  EXPECT_THROW(quantile_grid({std::nanf("")}, 5, 1.0, 0.1), Error);
}

// ---- fixed-sequence testing ------------------------------------------------------------------

// 5 rows at 0.95 that agree, 5 at 0.85 that do not, 20 at 0.75 that agree (shuffled order).
struct Staircase {
  std::vector<float> scores;
  std::vector<std::uint8_t> agrees;
  Staircase() {
    for (int i = 0; i < 30; ++i) {
      const int j = (i * 7) % 30;  // a permutation of 0..29
      scores.push_back(j < 5 ? 0.95f : j < 10 ? 0.85f : 0.75f);
      agrees.push_back(j < 5 || j >= 10 ? 1 : 0);
    }
  }
};

// certifiable_coverage by hand: 10 val rows, scores 10 … 1, agreeing 1 1 1 1 1 1 0 1 0 0, and
// 100 calibration rows. The prefixes of 1–6 rows agree fully (m = 10 … 60 calibration rows,
// all agreeing): they pass at 0.9 and δ 0.1 once m ≥ 22 (0.9^22 ≤ 0.1). The 7-row prefix
// (6/7: 60 of 70) and the longer ones fail. So 0.6; with min_accepted 70, nothing (0).
TEST(CalibrationGuaranteed, CertifiableCoverageFromValAgreement) {
  const std::vector<float> scores = {10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
  const std::vector<std::uint8_t> agrees = {1, 1, 1, 1, 1, 1, 0, 1, 0, 0};
  EXPECT_DOUBLE_EQ(certifiable_coverage(scores, agrees, 100, 0.9, 0.1, 0), 0.6);
  EXPECT_DOUBLE_EQ(certifiable_coverage(scores, agrees, 100, 0.9, 0.1, 50), 0.6);
  EXPECT_DOUBLE_EQ(certifiable_coverage(scores, agrees, 100, 0.9, 0.1, 70), 0.0);
  // 30 calibration rows: a fully agreeing prefix needs m ≥ 22, i.e. 8 val rows (m = 24), whose
  // agreement is 7/8 (21 of 24: fails): nothing.
  EXPECT_DOUBLE_EQ(certifiable_coverage(scores, agrees, 30, 0.9, 0.1, 0), 0.0);
  // Tied scores enter together: the first two rows tie with a disagreeing one.
  EXPECT_DOUBLE_EQ(certifiable_coverage({5, 5, 5, 1}, {1, 1, 0, 1}, 1000, 0.9, 0.1, 0), 0.0);
  EXPECT_THROW(certifiable_coverage({1}, {}, 10, 0.9, 0.1, 0), Error);
  // The randomized test at u: 30 rows, 27 agreeing (9 of 10 val rows), target 0.8:
  // P(X > 27) = 0.0442, P(X = 27) = 0.0785, so it passes iff u ≤ (0.1 − 0.0442) / 0.0785 = 0.711;
  // the exact test (u = 1) stops at the 9 all-agreeing rows (27 of 27).
  const std::vector<std::uint8_t> nine = {1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
  EXPECT_DOUBLE_EQ(certifiable_coverage(scores, nine, 30, 0.8, 0.1, 0), 0.9);
  EXPECT_DOUBLE_EQ(certifiable_coverage(scores, nine, 30, 0.8, 0.1, 0, 0.70), 1.0);
  EXPECT_DOUBLE_EQ(certifiable_coverage(scores, nine, 30, 0.8, 0.1, 0, 0.72), 0.9);
}

TEST(CalibrationGuaranteed, StopsAtTheFirstFailure) {
  // Target 0.5, δ = 0.1 (a threshold needs ≥ 4 rows). Along {0.9, 0.8, 0.7}:
  //   0.9: 5/5,   p = 1/32 = 0.031 → pass
  //   0.8: 5/10,  p = P(X ≥ 5 | 10, 0.5) = 638/1024 = 0.62 → fail: stop
  //   0.7: 25/30, p = 1.6e-4 → would pass, but is never tested.
  const Staircase d;
  const auto c = guaranteed_threshold(d.scores, d.agrees, {0.9, 0.8, 0.7}, 0.5, 0.1, 0);
  ASSERT_TRUE(c.feasible);
  EXPECT_EQ(c.threshold, 0.9);
  EXPECT_EQ(c.accepted, 5u);
  EXPECT_DOUBLE_EQ(c.agreement, 1.0);
  EXPECT_NEAR(c.p_value, 1.0 / 32, 1e-15);
  EXPECT_NEAR(c.lower_bound, std::pow(0.1, 0.2), 1e-15);  // 5/5: δ^(1/5)
  EXPECT_EQ(c.tests, 2u);
  EXPECT_EQ(c.skipped, 0u);
  // The point estimate on the same rows goes to 25/30 (no guarantee).
  EXPECT_EQ(empirical_threshold(d.scores, d.agrees, 0.5).accepted, 30u);
}

TEST(CalibrationGuaranteed, ReturnsTheLoosestPassingThreshold) {
  const Staircase d;
  // Without the failing step, every threshold passes: the last one is deployed.
  const auto c = guaranteed_threshold(d.scores, d.agrees, {0.9, 0.7}, 0.5, 0.1, 0);
  ASSERT_TRUE(c.feasible);
  EXPECT_EQ(c.threshold, 0.7);
  EXPECT_EQ(c.accepted, 30u);
  EXPECT_NEAR(c.agreement, 25.0 / 30, 1e-15);
  EXPECT_NEAR(c.p_value, binomial_upper_tail(25, 30, 0.5), 1e-18);
  EXPECT_NEAR(c.lower_bound, clopper_pearson_lower(25, 30, 0.1), 1e-15);
  EXPECT_GE(c.lower_bound, 0.5);
  EXPECT_EQ(c.tests, 2u);
  // Scores equal to a grid threshold are accepted.
  EXPECT_EQ(guaranteed_threshold(d.scores, d.agrees, {0.95, 0.75}, 0.5, 0.1, 0).accepted, 30u);
}

TEST(CalibrationGuaranteed, WindowCertifiesTheWindowRequirementAtHalfDelta) {
  // Target 0.5, δ = 0.2 (0.1 for the test, 0.1 for the window), a window of 10 queries per 30
  // calibration rows (scale 1/3). Along {0.9, 0.7}:
  //   0.9: m = 5 → m_w = 1: p_w = 0.9 (1 − p = 0.1); a test needs ≥ 22 rows at 0.9: skipped;
  //   0.7: m = 30 → m_w = 10, 5 agreements needed: p_w solves P(X ≤ 4 | 10, p) = 0.1, p_w =
  //        0.645784071 (bisection on the exact sum, by hand in Python); P(X ≥ 25 | 30, p_w) =
  //        0.0208242 ≤ 0.1 → pass.
  const Staircase d;
  EXPECT_NEAR(window_requirement(0.5, 10, 0.1), 0.6457840711273908, 1e-9);
  EXPECT_NEAR(window_requirement(0.5, 1, 0.1), 0.9, 1e-12);
  const auto c = guaranteed_threshold(d.scores, d.agrees, {0.9, 0.7}, 0.5, 0.2, 0, 1.0 / 3);
  ASSERT_TRUE(c.feasible);
  EXPECT_EQ(c.threshold, 0.7);
  EXPECT_EQ(c.skipped, 1u);
  EXPECT_EQ(c.tests, 1u);
  EXPECT_NEAR(c.required, 0.6457840711273908, 1e-9);
  EXPECT_NEAR(c.p_value, 0.020824228001858347, 1e-9);
  EXPECT_NEAR(c.lower_bound, clopper_pearson_lower(25, 30, 0.1), 1e-15);
  // A window of one query per 30 rows needs p_w = 0.9 everywhere: 25/30 fails.
  const auto tiny = guaranteed_threshold(d.scores, d.agrees, {0.9, 0.7}, 0.5, 0.2, 0, 1.0 / 30);
  EXPECT_FALSE(tiny.feasible);
  // Larger windows need less, down to the target itself.
  EXPECT_GT(window_requirement(0.9, 100, 0.05), window_requirement(0.9, 10000, 0.05));
  EXPECT_NEAR(window_requirement(0.9, 1000000, 0.05), 0.9, 1e-3);
  EXPECT_GT(window_requirement(0.9, 1000000, 0.05), 0.9);
}

TEST(CalibrationGuaranteed, SkipsLeadingThresholdsWithTooFewRows) {
  const Staircase d;
  // 0.99 accepts nothing (< 4 rows): skipped, not a stop.
  auto c = guaranteed_threshold(d.scores, d.agrees, {0.99, 0.9, 0.8, 0.7}, 0.5, 0.1, 0);
  EXPECT_EQ(c.threshold, 0.9);
  EXPECT_EQ(c.skipped, 1u);
  EXPECT_EQ(c.tests, 2u);
  // min_accepted = 6 also skips 0.9 (5 rows); 0.8 (5/10) is then the first test and fails.
  c = guaranteed_threshold(d.scores, d.agrees, {0.99, 0.9, 0.8, 0.7}, 0.5, 0.1, 6);
  EXPECT_FALSE(c.feasible);
  EXPECT_TRUE(std::isinf(c.threshold) && c.threshold > 0);
  EXPECT_EQ(c.accepted, 0u);
  EXPECT_TRUE(std::isnan(c.agreement));
  EXPECT_TRUE(std::isnan(c.lower_bound));
  EXPECT_EQ(c.skipped, 2u);
  EXPECT_EQ(c.tests, 1u);
  // min_accepted = 11 skips 0.9; 0.7 (25/30) passes.
  c = guaranteed_threshold(d.scores, d.agrees, {0.9, 0.7}, 0.5, 0.1, 11);
  EXPECT_EQ(c.threshold, 0.7);
  EXPECT_EQ(c.skipped, 1u);
  EXPECT_EQ(c.tests, 1u);
  // min_accepted above every count: nothing tested, nothing accepted.
  c = guaranteed_threshold(d.scores, d.agrees, {0.9, 0.7}, 0.5, 0.1, 31);
  EXPECT_FALSE(c.feasible);
  EXPECT_EQ(c.tests, 0u);
  EXPECT_EQ(c.skipped, 2u);
}

TEST(CalibrationGuaranteed, TenOfTenNeverPassesAtNinetyPercent) {
  // DESIGN.md: a threshold accepting 10 calibration rows fails at δ = 0.1, target 0.9, even at
  // 10/10. It is skipped (it could only stop the walk); 30/30 then passes.
  std::vector<float> s;
  std::vector<std::uint8_t> a;
  for (int i = 0; i < 10; ++i) s.push_back(0.99f), a.push_back(1);
  auto c = guaranteed_threshold(s, a, {0.9}, 0.9, 0.1, 0);
  EXPECT_FALSE(c.feasible);
  EXPECT_EQ(c.tests, 0u);
  for (int i = 0; i < 20; ++i) s.push_back(0.8f), a.push_back(1);
  c = guaranteed_threshold(s, a, {0.9, 0.7}, 0.9, 0.1, 0);
  ASSERT_TRUE(c.feasible);
  EXPECT_EQ(c.threshold, 0.7);
  EXPECT_NEAR(c.p_value, std::pow(0.9, 30), 1e-15);
  // Target 1 can never be guaranteed.
  EXPECT_FALSE(guaranteed_threshold(s, a, {0.9, 0.7}, 1.0, 0.1, 0).feasible);
}

TEST(CalibrationGuaranteed, FirstTestedFailureMeansNothingIsAccepted) {
  const Staircase d;
  const auto c = guaranteed_threshold(d.scores, d.agrees, {0.8, 0.7}, 0.5, 0.1, 0);
  EXPECT_FALSE(c.feasible);
  EXPECT_EQ(c.tests, 1u);
  EXPECT_EQ(accept_mask(d.scores, c.threshold), std::vector<std::uint8_t>(30, 0));
}

TEST(CalibrationGuaranteed, ConvenienceOverloadBuildsTheGridFromValidation) {
  const Staircase d;
  GuaranteedOptions o;
  o.delta = 0.1;
  o.min_accepted = 0;
  o.grid_points = 3;
  o.grid_min_coverage = 1.0 / 6;
  o.grid_max_coverage = 1.0;
  // val = cal here: coverages 1/6, 7/12, 1 → thresholds 0.95, 0.75 (0.85 is never a quantile).
  const auto grid = quantile_grid(d.scores, 3, 1.0, 1.0 / 6);
  EXPECT_EQ(grid, (std::vector<double>{static_cast<double>(0.95f), static_cast<double>(0.75f)}));
  const auto a = guaranteed_threshold(d.scores, d.scores, d.agrees, 0.5, o);
  const auto b = guaranteed_threshold(d.scores, d.agrees, grid, 0.5, 0.1, 0);
  EXPECT_EQ(a.threshold, b.threshold);
  EXPECT_EQ(a.accepted, 30u);
  EXPECT_EQ(a.tests, b.tests);
}

TEST(CalibrationGuaranteed, RejectsBadInput) {
  const std::vector<float> s = {0.5f, 0.4f};
  const std::vector<std::uint8_t> a = {1, 1};
  EXPECT_THROW(guaranteed_threshold(s, {1}, {0.5}, 0.9, 0.1, 0), Error);
  EXPECT_THROW(guaranteed_threshold(s, a, {0.5}, 0.9, 0.0, 0), Error);
  EXPECT_THROW(guaranteed_threshold(s, a, {0.5}, 0.9, 1.0, 0), Error);
  EXPECT_THROW(guaranteed_threshold(s, a, {0.5}, 0.0, 0.1, 0), Error);
  EXPECT_THROW(guaranteed_threshold(s, a, {0.5}, 1.2, 0.1, 0), Error);
  EXPECT_THROW(guaranteed_threshold(s, a, {0.4, 0.5}, 0.9, 0.1, 0), Error);  // not decreasing
  EXPECT_THROW(guaranteed_threshold(s, a, {0.5, 0.5}, 0.9, 0.1, 0), Error);
  EXPECT_THROW(guaranteed_threshold(s, a, {std::nan("")}, 0.9, 0.1, 0), Error);
  EXPECT_THROW(guaranteed_threshold({std::nanf(""), 0.1f}, a, {0.5}, 0.9, 0.1, 0), Error);
}

// ---- per-class thresholds --------------------------------------------------------------------

TEST(CalibrationPerClass, SplitsDeltaOverTheTestedClasses) {
  // Class 0: 40 rows at 0.9, all agree. Class 1: 40 rows at 0.9, 20 agree. Class 2: no grid.
  std::vector<float> s;
  std::vector<std::uint8_t> a;
  std::vector<std::int32_t> cls;
  for (int i = 0; i < 80; ++i) {
    s.push_back(0.9f);
    cls.push_back(i % 2);
    a.push_back(i % 2 == 0 || i % 4 == 1 ? 1 : 0);
  }
  s.push_back(0.9f), a.push_back(1), cls.push_back(2);
  const std::vector<std::vector<double>> grids = {{0.5}, {0.5}, {}};
  const auto c = guaranteed_per_class(s, a, cls, grids, 0.9, 0.1, 0);
  EXPECT_EQ(c.classes_tested, 2u);
  EXPECT_DOUBLE_EQ(c.delta_per_class, 0.05);
  ASSERT_EQ(c.classes.size(), 3u);
  EXPECT_TRUE(c.classes[0].feasible);  // 0.9^40 = 0.015 ≤ 0.05
  EXPECT_EQ(c.classes[0].threshold, 0.5);
  EXPECT_NEAR(c.classes[0].lower_bound, std::pow(0.05, 1.0 / 40), 1e-15);  // at δ/C
  EXPECT_FALSE(c.classes[1].feasible);
  EXPECT_FALSE(c.classes[2].feasible);  // no grid: never accepted, not counted in C
  EXPECT_TRUE(c.feasible);
  EXPECT_EQ(c.accepted, 40u);
  EXPECT_DOUBLE_EQ(c.agreement, 1.0);
  const auto th = c.thresholds();
  EXPECT_EQ(th[0], 0.5);
  EXPECT_TRUE(std::isinf(th[1]) && std::isinf(th[2]));
  EXPECT_EQ(accept_mask_per_class({0.6f, 0.6f, 0.4f, 0.99f}, {0, 1, 0, 2}, th),
            (std::vector<std::uint8_t>{1, 0, 0, 0}));
}

TEST(CalibrationPerClass, BonferroniCostsPower) {
  // 24 rows at 0.9^24 = 0.080: pass at δ = 0.1 alone, fail at δ/2 = 0.05 (skipped: < 29 rows).
  std::vector<float> s(48, 0.9f);
  std::vector<std::uint8_t> a(48, 1);
  std::vector<std::int32_t> cls(48, 0);
  for (int i = 24; i < 48; ++i) cls[i] = 1;
  const std::vector<float> s0(s.begin(), s.begin() + 24);
  const std::vector<std::uint8_t> a0(a.begin(), a.begin() + 24);
  EXPECT_TRUE(guaranteed_threshold(s0, a0, {0.5}, 0.9, 0.1, 0).feasible);
  const auto c = guaranteed_per_class(s, a, cls, {{0.5}, {0.5}}, 0.9, 0.1, 0);
  EXPECT_FALSE(c.feasible);
  EXPECT_EQ(c.accepted, 0u);
  EXPECT_TRUE(std::isnan(c.agreement));
}

TEST(CalibrationPerClass, GridsComeFromEachClassValidationRows) {
  const std::vector<float> val = {0.9f, 0.8f, 0.3f, 0.2f, 0.7f};
  const std::vector<std::int32_t> cls = {0, 0, 1, 1, 0};
  const auto grids = per_class_quantile_grids(val, cls, 3, 3, 1.0, 1.0 / 3);
  ASSERT_EQ(grids.size(), 3u);
  EXPECT_EQ(grids[0], (std::vector<double>{static_cast<double>(0.9f), static_cast<double>(0.8f),
                                           static_cast<double>(0.7f)}));
  EXPECT_EQ(grids[1], (std::vector<double>{static_cast<double>(0.3f), static_cast<double>(0.2f)}));
  EXPECT_TRUE(grids[2].empty());
  EXPECT_THROW(per_class_quantile_grids(val, {0, 0, 1, 3, 0}, 3, 3, 1.0, 0.1), Error);
  EXPECT_THROW(per_class_quantile_grids(val, {0, 0}, 3, 3, 1.0, 0.1), Error);
}

TEST(CalibrationPerClass, EmpiricalPerClassAndBadInput) {
  const std::vector<float> s = {0.9f, 0.8f, 0.7f, 0.9f, 0.8f};
  const std::vector<std::uint8_t> a = {1, 1, 0, 0, 1};
  const std::vector<std::int32_t> cls = {0, 0, 0, 1, 1};
  const auto e = empirical_per_class(s, a, cls, 3, 0.6);
  EXPECT_EQ(e.classes[0].accepted, 3u);  // 1/1, 2/2, 2/3 ≥ 0.6
  EXPECT_FALSE(e.classes[1].feasible);   // 0/1, 1/2
  EXPECT_FALSE(e.classes[2].feasible);   // no rows
  EXPECT_EQ(e.accepted, 3u);
  EXPECT_THROW(guaranteed_per_class(s, a, {0, 0, 0, 1, 5}, {{0.5}, {0.5}}, 0.9, 0.1, 0), Error);
  EXPECT_THROW(guaranteed_per_class(s, a, {0, 0}, {{0.5}, {0.5}}, 0.9, 0.1, 0), Error);
  EXPECT_THROW(guaranteed_per_class(s, a, cls, {{0.5}, {0.5}}, 0.9, 1.5, 0), Error);
  EXPECT_THROW(accept_mask_per_class({0.5f}, {2}, {0.1, 0.2}), Error);
}

TEST(BinomialTail, MinPassingAgreementsIsTheLeastPassingCount) {
  // Against a direct scan of the p-value, for many m, targets and δ.
  for (double target : {0.5, 0.8, 0.9, 0.95})
    for (double delta : {0.01, 0.05, 0.1})
      for (std::uint64_t m : {1, 5, 21, 22, 50, 100, 151, 400}) {
        std::uint64_t want = m + 1;
        for (std::uint64_t k = 0; k <= m; ++k)
          if (binomial_p_value(k, m, target) <= delta) {
            want = k;
            break;
          }
        EXPECT_EQ(min_passing_agreements(m, target, delta), want)
            << "m " << m << " target " << target << " delta " << delta;
      }
  EXPECT_EQ(min_passing_agreements(21, 0.9, 0.1), 22u);  // below min_passable_rows: none
  EXPECT_EQ(min_passing_agreements(22, 0.9, 0.1), 22u);  // only 22 of 22
  EXPECT_EQ(min_passing_agreements(0, 0.9, 0.1), 1u);
}

TEST(CalibrationGuaranteed, ReportsTheFirstTestedThresholdsCounts) {
  // Scores 1.0 … 0.01 (100 rows); the 30 highest agree, then every other row.
  std::vector<float> scores;
  std::vector<std::uint8_t> agrees;
  for (int i = 0; i < 100; ++i) {
    scores.push_back(static_cast<float>(100 - i) / 100.0f);
    agrees.push_back(i < 30 || i % 2 == 0);
  }
  // Grid 0.995 (accepts 0 rows: skipped), 0.705 (accepts 30, all agreeing), 0.405 (60 rows,
  // 45 agreeing: fails at target 0.9).
  const ThresholdChoice c =
      guaranteed_threshold(scores, agrees, {0.995, 0.705, 0.405}, 0.9, 0.1, 25);
  EXPECT_EQ(c.skipped, 1u);
  EXPECT_EQ(c.tests, 2u);
  EXPECT_EQ(c.first_accepted, 30u);
  EXPECT_EQ(c.first_agreed, 30u);
  EXPECT_DOUBLE_EQ(c.first_required, 0.9);
  EXPECT_TRUE(c.feasible);
  EXPECT_EQ(c.accepted, 30u);
  // No threshold with enough rows: nothing tested, counts 0.
  const ThresholdChoice none = guaranteed_threshold(scores, agrees, {0.995}, 0.9, 0.1, 25);
  EXPECT_EQ(none.tests, 0u);
  EXPECT_EQ(none.first_accepted, 0u);
  EXPECT_TRUE(std::isnan(none.first_required));
}

}  // namespace
}  // namespace deferbench
