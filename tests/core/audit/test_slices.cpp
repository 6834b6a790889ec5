// The audit's slice statistics and agreement gap against hand-computed values.
#include "core/audit/slices.h"

#include <cmath>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/metrics/metrics.h"
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

// The bootstrap interval of a slice's macro-F1: its point value is core/metrics' macro-F1, the
// interval holds it, a perfect slice is [1, 1], rows without gold are left out, and the same
// inputs give the same interval.
TEST(AuditSlices, BootstrapMacroF1) {
  const std::vector<LabelId> truth = {0, 0, 1, 1, 2, 2, 0, 1, 2, kNoLabel, 0, 1};
  const std::vector<LabelId> pred = {0, 1, 1, 1, 2, 0, 0, 2, 2, 1, 0, 1};
  const Estimate e = bootstrap_macro_f1(truth, pred, 1000, 7);
  EXPECT_EQ(e.n, 11u);
  std::vector<LabelId> t2, p2;
  for (std::size_t i = 0; i < truth.size(); ++i)
    if (truth[i] != kNoLabel) t2.push_back(truth[i]), p2.push_back(pred[i]);
  EXPECT_DOUBLE_EQ(e.value, macro_f1(t2, p2));
  EXPECT_LT(e.low, e.value);
  EXPECT_GT(e.high, e.value);
  EXPECT_GE(e.low, 0.0);
  EXPECT_LE(e.high, 1.0);
  const Estimate again = bootstrap_macro_f1(truth, pred, 1000, 7);
  EXPECT_EQ(again.low, e.low);
  EXPECT_EQ(again.high, e.high);
  const Estimate perfect = bootstrap_macro_f1({0, 1, 2, 1}, {0, 1, 2, 1}, 200, 1);
  EXPECT_DOUBLE_EQ(perfect.value, 1.0);
  EXPECT_DOUBLE_EQ(perfect.low, 1.0);
  EXPECT_DOUBLE_EQ(perfect.high, 1.0);
  EXPECT_TRUE(std::isnan(bootstrap_macro_f1({kNoLabel}, {0}, 10, 1).value));
}

// Over many draws of a known population (3 balanced classes, each answer right with
// probability 0.8, else one of the other two), the 95% bootstrap interval of 300 rows holds the
// population's macro-F1 (0.8: every class has precision = recall = 0.8) in about 95% of the
// draws; 200 draws, at least 180 (a percentile bootstrap runs a little narrow).
TEST(AuditSlices, BootstrapMacroF1CoversThePopulationValue) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0, 1);
  int covered = 0;
  double width = 0;
  for (int draw = 0; draw < 200; ++draw) {
    std::vector<LabelId> t, p;
    for (int i = 0; i < 300; ++i) {
      const auto c = static_cast<LabelId>(i % 3);
      t.push_back(c);
      p.push_back(u(rng) < 0.8 ? c : static_cast<LabelId>((c + 1 + (u(rng) < 0.5)) % 3));
    }
    const Estimate e = bootstrap_macro_f1(t, p, 400, static_cast<std::uint64_t>(draw));
    covered += e.low <= 0.8 && 0.8 <= e.high;
    width += e.high - e.low;
  }
  EXPECT_GE(covered, 180);
  // Not covering by being wide: the normal approximation's 95% width at n = 300 is about
  // 2 · 1.96 · sqrt(0.8 · 0.2 / 300) ≈ 0.09.
  EXPECT_LT(width / 200, 0.12);
  EXPECT_GT(width / 200, 0.06);
}

}  // namespace
}  // namespace deferbench
