// Routing rules of multi-expert deferral (core/experts/routing.h) and the experts' columns
// (core/experts/choices.h) on hand-worked tables.
#include <cmath>
#include <memory>
#include <numeric>

#include <gtest/gtest.h>

#include "core/experts/choices.h"
#include "core/experts/routing.h"
#include "core/stats/binomial.h"
#include "core/util/error.h"
#include "core/util/random.h"

namespace deferbench {
namespace {

TEST(ExpertRouting, CascadeStopsAtTheFirstConfidentChoice) {
  // Three choices; scores of P(right): order cheap (1) → mid (2) → dear (0).
  const std::vector<std::vector<float>> score = {
      {0.9f, 0.9f, 0.9f, 0.9f}, {0.8f, 0.3f, 0.6f, 0.1f}, {0.2f, 0.7f, 0.6f, 0.2f}};
  const std::vector<int> order = {1, 2, 0};
  // τ = 0.6: row 0 stops at 1 (0.8), row 1 at 2 (0.7), row 2 at 1 (0.6 ≥ 0.6), row 3 reaches 0.
  EXPECT_EQ(route_cascade(score, order, 0.6), (std::vector<int>{1, 2, 1, 0}));
  // τ above every score: everything reaches the last choice of the order.
  EXPECT_EQ(route_cascade(score, order, 1.01), (std::vector<int>{0, 0, 0, 0}));
  // τ = 0: everything stops at the first.
  EXPECT_EQ(route_cascade(score, order, 0.0), (std::vector<int>{1, 1, 1, 1}));
  EXPECT_THROW(route_cascade(score, {3}, 0.5), Error);
}

TEST(ExpertRouting, MixtureHullDropsDominatedAndConcaveBreakingPoints) {
  // (price, accuracy): a (0, .5), b (1, .6) lies below the segment a–c (0.5 + 0.25 = .75 at 1),
  // c (2, 1.0), d (3, .9) is dominated by c (dearer, less accurate).
  const std::vector<MixturePoint> hull =
      mixture_hull({{3, 3.0, 0.9}, {1, 1.0, 0.6}, {0, 0.0, 0.5}, {2, 2.0, 1.0}});
  ASSERT_EQ(hull.size(), 2u);
  EXPECT_EQ(hull[0].choice, 0);
  EXPECT_EQ(hull[1].choice, 2);
  // b above the segment (0.8 > 0.75) stays.
  const std::vector<MixturePoint> h2 = mixture_hull({{0, 0.0, 0.5}, {1, 1.0, 0.8}, {2, 2.0, 1.0}});
  EXPECT_EQ(h2.size(), 3u);
}

TEST(ExpertRouting, RandomRouterMatchesThePriceInExpectation) {
  const std::vector<MixturePoint> hull = {{0, 0.0, 0.5}, {2, 1.0, 0.8}, {1, 3.0, 0.9}};
  // Price 2 lies halfway between choice 2 (1.0) and choice 1 (3.0): half the rows each.
  const std::size_t n = 200000;
  const std::vector<int> r = route_random_at_price(hull, 2.0, n, 7);
  std::size_t to1 = 0, to2 = 0;
  for (int c : r) (c == 1 ? to1 : to2) += (c == 1 || c == 2) ? 1 : 0;
  EXPECT_EQ(to1 + to2, n);
  const double share = static_cast<double>(to1) / n;
  EXPECT_NEAR(share, 0.5, 4 * std::sqrt(0.25 / n));
  // Seeded: the same seed gives the same routing, another seed another.
  EXPECT_EQ(route_random_at_price(hull, 2.0, 1000, 7), route_random_at_price(hull, 2.0, 1000, 7));
  EXPECT_NE(route_random_at_price(hull, 2.0, 1000, 7), route_random_at_price(hull, 2.0, 1000, 8));
  // Clamped at the ends.
  for (int c : route_random_at_price(hull, -1.0, 10, 1)) EXPECT_EQ(c, 0);
  for (int c : route_random_at_price(hull, 9.0, 10, 1)) EXPECT_EQ(c, 1);
}

TEST(ExpertRouting, BudgetPicksTheMostAccurateAffordablePoint) {
  const std::vector<double> price = {5, 3, 3, 1, 0};
  const std::vector<double> acc = {0.9, 0.85, 0.85, 0.8, 0.6};
  EXPECT_EQ(pick_within_budget(price, acc, 10), 0);
  EXPECT_EQ(pick_within_budget(price, acc, 4), 1);  // tie 1 vs 2: the earlier
  EXPECT_EQ(pick_within_budget(price, acc, 2), 3);
  EXPECT_EQ(pick_within_budget(price, acc, -1), -1);
}

TEST(ExpertRouting, FixedSequenceStopsAtTheFirstFailure) {
  // 100 calibration rows, target 0.8, δ = 0.1: the test passes with k right when
  // P(Bin(100, 0.8) ≥ k) ≤ 0.1, i.e. k ≥ 86 (P(X ≥ 86) = 0.0804, P(X ≥ 85) = 0.1285).
  EXPECT_LE(binomial_p_value(86, 100, 0.8), 0.1);
  EXPECT_GT(binomial_p_value(85, 100, 0.8), 0.1);
  const FixedSequence fs = fixed_sequence({95, 90, 86, 85, 99}, 100, 0.8, 0.1);
  EXPECT_EQ(fs.deployed, 2);  // point 3 fails; point 4 (99) is never tested
  EXPECT_EQ(fs.tests, 4u);
  const FixedSequence none = fixed_sequence({80, 99}, 100, 0.8, 0.1);
  EXPECT_EQ(none.deployed, -1);
  EXPECT_EQ(none.tests, 1u);
}

TEST(ExpertRouting, FixedSequenceKeepsItsLevelOverRepetitions) {
  // A curve of 8 points whose true accuracies fall 0.95 → 0.6 (the first three ≥ 0.8, the rest
  // below): a deployment of a point below 0.8 must happen in at most δ of the draws (plus
  // binomial slack over 2,000 repetitions).
  const std::vector<double> truth = {0.95, 0.9, 0.82, 0.79, 0.75, 0.7, 0.65, 0.6};
  const std::size_t rows = 300, reps = 2000;
  const double delta = 0.1;
  Rng rng(11);
  std::size_t bad = 0, deployed = 0;
  for (std::size_t r = 0; r < reps; ++r) {
    std::vector<std::size_t> right;
    for (double p : truth) {
      std::size_t k = 0;
      for (std::size_t i = 0; i < rows; ++i) k += rng.uniform() < p ? 1 : 0;
      right.push_back(k);
    }
    const FixedSequence fs = fixed_sequence(right, rows, 0.8, delta);
    if (fs.deployed >= 0) {
      ++deployed;
      bad += truth[static_cast<std::size_t>(fs.deployed)] < 0.8 ? 1 : 0;
    }
  }
  const double slack = 3 * std::sqrt(delta * (1 - delta) / reps);
  EXPECT_LE(static_cast<double>(bad) / reps, delta + slack);
  EXPECT_GT(deployed, reps / 2);  // it certifies something most of the time (not vacuous)
}

Dataset expert_rows_fixture() {
  Dataset d;
  d.labels = std::make_shared<const LabelSpace>(std::vector<std::string>{"a", "b", "c"});
  d.teacher = {0, 1, 2, 0};
  d.gold = {0, 1, 2, 1};
  d.ids = {"f.csv:2", "f.csv:3", "f.csv:4", "f.csv:5"};
  d.fields["ans"] = {"a", "c", "c", "zzz"};
  d.fields["ok"] = {"True", "false", "1", "0"};
  d.fields["bad"] = {"True", "maybe", "1", "0"};
  return d;
}

TEST(ExpertColumns, AnswersAgainstGoldAndCorrectnessParsed) {
  const Dataset d = expert_rows_fixture();
  std::vector<ExpertSpec> e = {{"x", "ans", ExpertColumnKind::kAnswer, {}},
                               {"y", "ok", ExpertColumnKind::kCorrectness, {}}};
  const ExpertRows r = read_expert_rows(d, e, "gold");
  EXPECT_EQ(r.correct[0], (std::vector<std::uint8_t>{1, 0, 1, 0}));  // "zzz": not a label: wrong
  EXPECT_EQ(r.answer[0], (std::vector<LabelId>{0, 2, 2, kNoLabel}));
  EXPECT_EQ(r.correct[1], (std::vector<std::uint8_t>{1, 0, 1, 0}));
  EXPECT_EQ(r.answer[1], (std::vector<LabelId>(4, kNoLabel)));
  // Against an expert as the reference: x is right wherever it answered a label.
  std::vector<ExpertSpec> two = {{"x", "ans", ExpertColumnKind::kAnswer, {}}};
  Dataset d2 = d;
  d2.fields["ans"][3] = "b";
  const ExpertRows r2 = read_expert_rows(d2, two, "x");
  EXPECT_EQ(r2.correct[0], (std::vector<std::uint8_t>{1, 1, 1, 1}));
  EXPECT_EQ(r2.reference, (std::vector<LabelId>{0, 2, 2, 1}));
}

TEST(ExpertColumns, BadColumnsAreOneLineErrors) {
  const Dataset d = expert_rows_fixture();
  auto message = [&](std::vector<ExpertSpec> e, const std::string& ref) {
    try {
      read_expert_rows(d, e, ref);
    } catch (const Error& err) {
      return std::string(err.what());
    }
    return std::string("no error");
  };
  const std::string bad = message({{"y", "bad", ExpertColumnKind::kCorrectness, {}}}, "gold");
  EXPECT_NE(bad.find("f.csv:3"), std::string::npos) << bad;
  EXPECT_NE(bad.find("'bad'"), std::string::npos) << bad;
  EXPECT_NE(bad.find("maybe"), std::string::npos) << bad;
  EXPECT_EQ(bad.find('\n'), std::string::npos) << bad;
  const std::string unknown = message({{"y", "nope", ExpertColumnKind::kAnswer, {}}}, "gold");
  EXPECT_NE(unknown.find("'nope'"), std::string::npos) << unknown;
  EXPECT_NE(message({{"y", "ans", ExpertColumnKind::kAnswer, {}}}, "z").find("'z'"),
            std::string::npos);
  EXPECT_NE(message({{"y", "ok", ExpertColumnKind::kCorrectness, {}}}, "y").find("correctness"),
            std::string::npos);
  EXPECT_NE(message({{"y", "ans", ExpertColumnKind::kAnswer, {}},
                     {"y", "ok", ExpertColumnKind::kCorrectness, {}}},
                    "gold")
                .find("twice"),
            std::string::npos);
  Dataset nogold = d;
  nogold.gold.clear();
  try {
    read_expert_rows(nogold, {{"x", "ans", ExpertColumnKind::kAnswer, {}}}, "gold");
    ADD_FAILURE() << "no error without gold";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("no gold"), std::string::npos) << err.what();
  }
}

}  // namespace
}  // namespace deferbench

namespace deferbench {
namespace {

TEST(ExpertRouting, CascadePaysForEveryStageItPasses) {
  // Chain 1 (β 0.5) → 2 (β 2) → 0 (β 10): a row answered by 1 pays 0.5, by 2 pays 2.5, by 0
  // pays 12.5. Rows answered by 1, 2, 0, 0: mean (0.5 + 2.5 + 12.5 + 12.5) / 4 = 7.
  const std::vector<ChoiceCost> choices = {{1, 10}, {1, 0.5}, {1, 2}};
  const CascadeCalls c = cascade_calls({1, 2, 0, 0}, {1, 2, 0}, choices);
  EXPECT_DOUBLE_EQ(c.price_per_query, 7.0);
  EXPECT_EQ(c.calls, (std::vector<std::size_t>{2, 4, 3}));
  EXPECT_THROW(cascade_calls({1}, {2, 0}, choices), Error);  // 1 is not in the chain
}

}  // namespace
}  // namespace deferbench
