#include "core/metrics/metrics.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "core/util/error.h"

namespace deferbench {
namespace {

constexpr LabelId kNo = kNoLabel;

TEST(Metrics, AccuracySkipsRowsWithoutTruth) {
  // Kept rows 0..3 (row 4 has no truth): right on rows 0, 2, 3 → 3 / 4.
  EXPECT_DOUBLE_EQ(accuracy({0, 1, 2, 1, kNo}, {0, 2, 2, 1, 0}), 0.75);
  EXPECT_DOUBLE_EQ(accuracy({3, 3}, {3, 3}), 1.0);
  EXPECT_DOUBLE_EQ(accuracy({3, 3}, {kNo, 1}), 0.0);  // a missing prediction is wrong
}

TEST(Metrics, AccuracyIsNaNWithoutRows) {
  EXPECT_TRUE(std::isnan(accuracy({}, {})));
  EXPECT_TRUE(std::isnan(accuracy({kNo, kNo}, {0, 1})));
}

TEST(Metrics, SizeMismatchThrows) {
  EXPECT_THROW(accuracy({0, 1}, {0}), Error);
  EXPECT_THROW(macro_f1({0}, {0, 1}), Error);
}

TEST(Metrics, MacroF1CountsPredictedOnlyAndTruthOnlyClasses) {
  // truth = 0 0 1 1 2, pred = 0 1 1 1 3; classes {0, 1, 2, 3}; F1 = 2·tp / (n_true + n_pred).
  //   class 0: tp 1, n_true 2, n_pred 1 → 2/3
  //   class 1: tp 2, n_true 2, n_pred 3 → 4/5
  //   class 2 (truth only): tp 0 → 0
  //   class 3 (predicted only): tp 0 → 0
  // macro = (2/3 + 4/5 + 0 + 0) / 4 = (22/15) / 4 = 11/30.
  EXPECT_NEAR(macro_f1({0, 0, 1, 1, 2}, {0, 1, 1, 1, 3}), 11.0 / 30.0, 1e-12);
}

TEST(Metrics, MacroF1SkipsRowsWithoutTruth) {
  // Row 2 has no truth, so its prediction 7 must not add class 7. Kept: truth 0 1, pred 0 1 →
  // both classes F1 1 → 1. (Counting class 7 would give 2/3.)
  EXPECT_DOUBLE_EQ(macro_f1({0, 1, kNo}, {0, 1, 7}), 1.0);
  // Classes absent from both truth and pred (ids 1..4 here) do not count: only {0, 5}.
  //   class 0: tp 1, n_true 1, n_pred 2 → 2/3; class 5: tp 1, n_true 2, n_pred 1 → 2/3.
  EXPECT_NEAR(macro_f1({0, 5, 5}, {0, 5, 0}), 2.0 / 3.0, 1e-12);
}

TEST(Metrics, MacroF1MissingPredictionIsAClassOfItsOwn) {
  // truth 0 1, pred 0 kNoLabel: classes {kNoLabel, 0, 1} as scikit-learn would see -1:
  // class 0 F1 1, class 1 F1 0, class -1 F1 0 → 1/3.
  EXPECT_NEAR(macro_f1({0, 1}, {0, kNo}), 1.0 / 3.0, 1e-12);
}

TEST(Metrics, MacroF1NaNAndInvalidIds) {
  EXPECT_TRUE(std::isnan(macro_f1({}, {})));
  EXPECT_TRUE(std::isnan(macro_f1({kNo}, {2})));
  EXPECT_THROW(macro_f1({0, -3}, {0, 0}), Error);
  EXPECT_THROW(macro_f1({0, 1}, {0, -2}), Error);
}

TEST(Metrics, RoutingHandWorkedEightRows) {
  //            row:  0  1  2  3  4  5  6  7
  const std::vector<LabelId> surrogate = {0, 1, 2, 0, 1, 2, 0, 1};
  const std::vector<LabelId> teacher = {0, 1, 1, 0, 2, 2, 1, 1};
  const std::vector<LabelId> gold = {0, 1, 2, 1, 2, 2, 1, kNo};
  const std::vector<std::uint8_t> accepted = {1, 1, 1, 1, 0, 0, 0, 1};
  const RoutingMetrics m = routing_metrics(surrogate, teacher, gold, accepted);
  // Handled rows 0, 1, 2, 3, 7 → 5 of 8; coverage 5/8; 3 teacher calls.
  EXPECT_EQ(m.rows, 8u);
  EXPECT_EQ(m.handled, 5u);
  EXPECT_EQ(m.teacher_calls, 3u);
  EXPECT_DOUBLE_EQ(m.coverage, 0.625);
  EXPECT_DOUBLE_EQ(m.teacher_calls_saved, 0.625);
  // Agreement on handled rows: 0 (0=0), 1 (1=1), 2 (2≠1), 3 (0=0), 7 (1=1) → 4/5.
  EXPECT_DOUBLE_EQ(m.teacher_agreement, 0.8);
  // End-to-end answers: 0 1 2 0 | 2 2 1 | 1 (rows 4-6 from the teacher). Row 7 has no gold.
  // Against gold 0 1 2 1 2 2 1: wrong only on row 3 → 6/7.
  EXPECT_DOUBLE_EQ(m.e2e_accuracy, 6.0 / 7.0);
  // Macro-F1 of truth 0 1 2 1 2 2 1 vs answers 0 1 2 0 2 2 1:
  //   class 0: tp 1, n_true 1, n_pred 2 → 2/3
  //   class 1: tp 2, n_true 3, n_pred 2 → 4/5
  //   class 2: tp 3, n_true 3, n_pred 3 → 1
  // macro = (2/3 + 4/5 + 1) / 3 = (37/15) / 3 = 37/45.
  EXPECT_NEAR(m.e2e_macro_f1, 37.0 / 45.0, 1e-12);
  // Teacher alone vs gold on rows 0..6: wrong on rows 2 (1≠2) and 3 (0≠1) → 5/7.
  EXPECT_DOUBLE_EQ(m.teacher_accuracy, 5.0 / 7.0);
}

TEST(Metrics, RoutingNothingHandled) {
  const RoutingMetrics m = routing_metrics({0, 0, 0}, {0, 1, 2}, {0, 1, 1}, {0, 0, 0});
  EXPECT_EQ(m.handled, 0u);
  EXPECT_EQ(m.teacher_calls, 3u);
  EXPECT_DOUBLE_EQ(m.coverage, 0.0);
  EXPECT_TRUE(std::isnan(m.teacher_agreement));
  // Everything deferred: end-to-end is the teacher (2 of 3 right).
  EXPECT_DOUBLE_EQ(m.e2e_accuracy, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.teacher_accuracy, 2.0 / 3.0);
}

TEST(Metrics, RoutingWithoutGold) {
  // No gold at all (empty), and gold present but missing on every row: gold metrics are NaN.
  for (const std::vector<LabelId>& gold :
       {std::vector<LabelId>{}, std::vector<LabelId>{kNo, kNo}}) {
    const RoutingMetrics m = routing_metrics({0, 1}, {0, 0}, gold, {1, 1});
    EXPECT_DOUBLE_EQ(m.coverage, 1.0);
    EXPECT_DOUBLE_EQ(m.teacher_agreement, 0.5);
    EXPECT_TRUE(std::isnan(m.e2e_accuracy));
    EXPECT_TRUE(std::isnan(m.e2e_macro_f1));
    EXPECT_TRUE(std::isnan(m.teacher_accuracy));
  }
}

TEST(Metrics, RoutingNoRows) {
  const RoutingMetrics m = routing_metrics({}, {}, {}, {});
  EXPECT_EQ(m.rows, 0u);
  EXPECT_TRUE(std::isnan(m.coverage));
  EXPECT_TRUE(std::isnan(m.teacher_agreement));
}

TEST(Metrics, RoutingSizeMismatchThrows) {
  EXPECT_THROW(routing_metrics({0}, {0, 1}, {}, {1, 1}), Error);
  EXPECT_THROW(routing_metrics({0, 1}, {0, 1}, {}, {1}), Error);
  EXPECT_THROW(routing_metrics({0, 1}, {0, 1}, {0}, {1, 0}), Error);
}

// Worked by hand: scores 0.9 0.8 0.7 0.6, agreement 1 0 1 1 → risk at k = 1..4: 0, 1/2, 1/3,
// 1/4; AURC = (0 + 1/2 + 1/3 + 1/4) / 4 = 13/48. Oracle (the three agreeing rows first): 0, 0, 0,
// 1/4 → 1/16. E-AURC = 13/48 − 3/48 = 10/48.
TEST(RiskCoverage, HandWorkedCurve) {
  const RiskCoverage rc = risk_coverage({0.9f, 0.8f, 0.7f, 0.6f}, {1, 0, 1, 1});
  EXPECT_NEAR(rc.aurc, 13.0 / 48, 1e-15);
  EXPECT_NEAR(rc.optimal, 1.0 / 16, 1e-15);
  EXPECT_NEAR(rc.e_aurc, 10.0 / 48, 1e-15);
  // Row order does not matter, only the scores.
  EXPECT_NEAR(risk_coverage({0.6f, 0.9f, 0.7f, 0.8f}, {1, 1, 1, 0}).aurc, 13.0 / 48, 1e-15);
  // A perfect ranking has E-AURC 0; all agreeing: AURC 0.
  EXPECT_NEAR(risk_coverage({0.9f, 0.8f, 0.1f}, {1, 1, 0}).e_aurc, 0.0, 1e-15);
  EXPECT_EQ(risk_coverage({0.5f, 0.4f}, {1, 1}).aurc, 0.0);
  EXPECT_TRUE(std::isnan(risk_coverage({}, {}).aurc));
}

// Tied scores enter together: 0.9, 0.9, 0.5 with agreement 0 1 1 → k = 1 and 2 both see the
// block's risk 1/2, k = 3 sees 1/3: AURC = (1/2 + 1/2 + 1/3) / 3 = 4/9. A constant score gives
// the overall disagreement rate at every k.
TEST(RiskCoverage, TiesEnterTogether) {
  EXPECT_NEAR(risk_coverage({0.9f, 0.9f, 0.5f}, {0, 1, 1}).aurc, 4.0 / 9, 1e-15);
  EXPECT_NEAR(risk_coverage({0.9f, 0.9f, 0.5f}, {1, 0, 1}).aurc, 4.0 / 9, 1e-15);
  EXPECT_NEAR(risk_coverage({1.f, 1.f, 1.f, 1.f}, {1, 0, 1, 1}).aurc, 0.25, 1e-15);
}

// Against a direct O(n²) sum on distinct random scores, and the oracle against its closed
// form's exact sum.
TEST(RiskCoverage, MatchesADirectSum) {
  std::uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) / 9007199254740992.0;
  };
  const std::size_t n = 300;
  std::vector<float> scores(n);
  std::vector<std::uint8_t> agrees(n);
  for (std::size_t i = 0; i < n; ++i) {
    scores[i] = static_cast<float>(i) / n + 0.5f / n;             // distinct
    agrees[i] = next() < 0.3 + 0.6 * static_cast<double>(i) / n;  // better when scored higher
  }
  double direct = 0;
  std::size_t errors = 0;
  for (std::size_t k = 1; k <= n; ++k) {
    std::size_t e = 0;
    for (std::size_t j = 0; j < k; ++j) e += !agrees[n - 1 - j];  // the k highest scores
    direct += static_cast<double>(e) / static_cast<double>(k);
  }
  for (std::uint8_t a : agrees) errors += !a;
  const RiskCoverage rc = risk_coverage(scores, agrees);
  EXPECT_NEAR(rc.aurc, direct / n, 1e-12);
  double oracle = 0;
  for (std::size_t k = 1; k <= n; ++k)
    oracle += k <= n - errors ? 0.0 : static_cast<double>(k - (n - errors)) / k;
  EXPECT_NEAR(rc.optimal, oracle / n, 1e-12);
  EXPECT_GT(rc.e_aurc, 0.0);
  EXPECT_THROW(risk_coverage({0.5f, std::nanf("")}, {1, 1}), Error);
  EXPECT_THROW(risk_coverage({0.5f}, {1, 1}), Error);
}

}  // namespace
}  // namespace deferbench
