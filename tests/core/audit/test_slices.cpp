// The audit's slice statistics and agreement gap against hand-computed values.
#include "core/audit/slices.h"

#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/util/error.h"

namespace deferbench {
namespace {

using ::testing::ElementsAre;

// Exact 95% intervals (two one-sided 2.5% Clopper–Pearson bounds), from the Beta quantiles:
// 3 of 10 → (0.0667395, 0.6524529); 0 of 10 → (0, 1 − 0.025^(1/10)); 10 of 10 → (0.025^(1/10), 1).
TEST(AuditProportion, ClopperPearsonIntervals) {
  const Proportion p = proportion(3, 10);
  EXPECT_DOUBLE_EQ(p.value, 0.3);
  EXPECT_NEAR(p.low, 0.0667395, 1e-7);
  EXPECT_NEAR(p.high, 0.6524529, 1e-7);
  EXPECT_NEAR(proportion(0, 10).low, 0.0, 1e-15);
  EXPECT_NEAR(proportion(0, 10).high, 1 - std::pow(0.025, 0.1), 1e-12);
  EXPECT_NEAR(proportion(10, 10).low, std::pow(0.025, 0.1), 1e-12);
  EXPECT_NEAR(proportion(10, 10).high, 1.0, 1e-15);
  EXPECT_TRUE(std::isnan(proportion(0, 0).value));
}

// Six rows: handled 1 1 1 0 1 0; answers a a b – c –; teacher a b b c c a; gold a a b c – b.
// Handled 4 (coverage 4/6), agreeing 3 (rows 0, 2, 4); end to end against gold, over the five
// rows with gold: a✓ a✓ b✓ c✓ (row 3 deferred: the teacher's c) and row 5 deferred with the
// teacher's a against gold b ✗ → 4/5. At target 0.9, p = P(X ≤ 3 | 4, 0.9) = 1 − 0.9^4.
TEST(AuditSlices, HandWorkedSlice) {
  const LabelId a = 0, b = 1, c = 2;
  AuditRows r;
  r.teacher = {a, b, b, c, c, a};
  r.prediction = {a, a, b, a, c, b};
  r.answer = {a, a, b, kNoLabel, c, kNoLabel};
  r.handled = {1, 1, 1, 0, 1, 0};
  r.gold = {a, a, b, c, kNoLabel, b};
  const SliceStats s = slice_stats(r, {0, 1, 2, 3, 4, 5}, "all", "all", 0.9);
  EXPECT_EQ(s.rows, 6u);
  EXPECT_EQ(s.coverage.k, 4u);
  EXPECT_EQ(s.agreement.k, 3u);
  EXPECT_EQ(s.agreement.n, 4u);
  EXPECT_EQ(s.e2e_accuracy.k, 4u);
  EXPECT_EQ(s.e2e_accuracy.n, 5u);
  EXPECT_NEAR(s.p_value, 1 - std::pow(0.9, 4), 1e-12);
  // By teacher label: a → rows 0, 5 (1 handled, agreeing); b → 1, 2; c → 3, 4.
  const auto by = slices_by(r, {"a", "b", "b", "c", "c", "a"}, "teacher_label", 0.9);
  ASSERT_EQ(by.size(), 3u);
  EXPECT_EQ(by[0].name, "a");
  EXPECT_EQ(by[0].coverage.k, 1u);
  EXPECT_EQ(by[0].agreement.k, 1u);
  EXPECT_EQ(by[1].agreement.k, 1u);
  EXPECT_EQ(by[1].agreement.n, 2u);
  EXPECT_NEAR(by[1].p_value, 1 - 0.81, 1e-12);  // P(X ≤ 1 | 2, 0.9)
  // A slice with nothing handled is not tested.
  EXPECT_TRUE(std::isnan(slice_stats(r, {3, 5}, "x", "deferred", 0.9).p_value));
  EXPECT_THROW(slice_stats(r, {6}, "x", "y", 0.9), Error);
  r.gold.pop_back();
  EXPECT_THROW(slice_stats(r, {0}, "x", "y", 0.9), Error);
}

TEST(AuditSlices, LengthTertilesByRank) {
  EXPECT_THAT(length_tertiles({5, 1, 3, 3, 9, 2}), ElementsAre(2, 0, 1, 1, 2, 0));
  EXPECT_THAT(length_tertiles({4, 4, 4}), ElementsAre(0, 1, 2));  // ties by row order
}

std::vector<SliceStats> with_p(const std::vector<double>& p) {
  std::vector<SliceStats> s(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) s[i].p_value = p[i];
  return s;
}

// Step-up: with α = 0.05 and m = 3 the thresholds are 0.0167, 0.0333, 0.05; p = 0.02 fails its
// own but 0.024 passes the second, so both are flagged; 0.6 is not. A slice without a p-value
// (nothing handled) neither counts in m nor is flagged.
TEST(AuditSlices, BenjaminiHochbergFlags) {
  auto s = with_p({0.6, 0.024, std::nan(""), 0.02});
  EXPECT_EQ(flag_slices(s, 0.05), 2u);
  EXPECT_FALSE(s[0].flagged);
  EXPECT_TRUE(s[1].flagged);
  EXPECT_FALSE(s[2].flagged);
  EXPECT_TRUE(s[3].flagged);
  // Thresholds 0.0125, 0.025, 0.0375, 0.05: only 0.01 passes.
  auto t = with_p({0.01, 0.04, 0.03, 0.2});
  EXPECT_EQ(flag_slices(t, 0.05), 1u);
  EXPECT_TRUE(t[0].flagged);
  EXPECT_FALSE(t[1].flagged || t[2].flagged || t[3].flagged);
  auto none = with_p({0.5, 0.9});
  EXPECT_EQ(flag_slices(none, 0.05), 0u);
}

// Handled rows (answer, teacher, gold): (1,2,1) the surrogate right, (1,2,2) the teacher right,
// (1,2,3) both wrong, (3,1,–) no gold, (2,2,2) agreeing; one deferred row is left out.
TEST(AuditGap, PairsAndWhoWasRight) {
  AuditRows r;
  r.answer = {1, 1, 1, 3, 2, kNoLabel};
  r.prediction = {1, 1, 1, 3, 2, 0};
  r.teacher = {2, 2, 2, 1, 2, 1};
  r.gold = {1, 2, 3, kNoLabel, 2, 0};
  r.handled = {1, 1, 1, 1, 1, 0};
  const AgreementGap g = agreement_gap(r, 10, 2);
  EXPECT_EQ(g.handled, 5u);
  EXPECT_EQ(g.disagreements, 4u);
  ASSERT_EQ(g.pairs.size(), 2u);
  EXPECT_EQ(g.pairs[0].answer, 1);
  EXPECT_EQ(g.pairs[0].teacher, 2);
  EXPECT_EQ(g.pairs[0].count, 3u);
  EXPECT_THAT(g.pairs[0].examples, ElementsAre(0, 1));
  EXPECT_EQ(g.pairs[1].count, 1u);
  EXPECT_EQ(g.surrogate_right, 1u);
  EXPECT_EQ(g.teacher_right, 1u);
  EXPECT_EQ(g.both_wrong, 1u);
  EXPECT_EQ(g.without_gold, 1u);
  EXPECT_EQ(agreement_gap(r, 1, 2).pairs.size(), 1u);
}

}  // namespace
}  // namespace deferbench
