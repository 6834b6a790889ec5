// The cost model of multi-expert deferral and RouteLLM's metrics on hand-worked tables.
#include <cmath>

#include <gtest/gtest.h>

#include "core/experts/costs.h"
#include "core/experts/routellm_metrics.h"
#include "core/util/error.h"

namespace deferbench {
namespace {

// Four rows, three choices: the surrogate (free), a cheap LLM (0.2 per call), a strong LLM (1).
//            row 0  row 1  row 2  row 3
// surrogate    ✓      ✗      ✗      ✗
// cheap        ✓      ✓      ✗      ✗
// strong       ✓      ✓      ✓      ✗
const Correctness kRight = {{1, 0, 0, 0}, {1, 1, 0, 0}, {1, 1, 1, 0}};
const std::vector<ChoiceCost> kChoices = {{1.0, 0.0}, {1.0, 0.2}, {1.0, 1.0}};

TEST(ExpertCosts, CostMatrixByHand) {
  const Matrix c = cost_matrix(kRight, kChoices, 1.0);
  const float want[4][3] = {{0, 0.2f, 1}, {1, 0.2f, 1}, {1, 1.2f, 1}, {1, 1.2f, 2}};
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t j = 0; j < 3; ++j) EXPECT_FLOAT_EQ(c(i, j), want[i][j]) << i << "," << j;
  // λ scales the prices only: row 1 at λ = 0.5 is (1, 0.1, 0.5).
  const Matrix h = cost_matrix(kRight, kChoices, 0.5);
  EXPECT_FLOAT_EQ(h(1, 0), 1.0f);
  EXPECT_FLOAT_EQ(h(1, 1), 0.1f);
  EXPECT_FLOAT_EQ(h(1, 2), 0.5f);
}

TEST(ExpertCosts, BayesRuleTakesTheLeastCostTiesToTheCheaper) {
  // On the realized costs (a perfect estimate): row 0 → surrogate (0), row 1 → cheap (0.2),
  // row 2 → surrogate and strong tie at 1: the cheaper, the surrogate; row 3 → surrogate (1).
  const std::vector<int> r = route_by_cost(cost_matrix(kRight, kChoices, 1.0), kChoices);
  EXPECT_EQ(r, (std::vector<int>{0, 1, 0, 0}));
  // With errors weighted 3 for the surrogate: row 2 (3, 1.2, 1) goes to the strong model, row 3
  // (3, 1.2, 2) to the cheap one.
  std::vector<ChoiceCost> heavy = kChoices;
  heavy[0].alpha = 3.0;
  EXPECT_EQ(route_by_cost(cost_matrix(kRight, heavy, 1.0), heavy), (std::vector<int>{0, 1, 2, 1}));
}

TEST(ExpertCosts, CompSumWeightsAreTheOtherChoicesCosts) {
  const Matrix w = comp_sum_weights(cost_matrix(kRight, kChoices, 1.0));
  // Row 1: costs (1, 0.2, 1), total 2.2: weights (1.2, 2.0, 1.2) — the cheap LLM, the Bayes
  // choice, gets the largest weight.
  EXPECT_FLOAT_EQ(w(1, 0), 1.2f);
  EXPECT_FLOAT_EQ(w(1, 1), 2.0f);
  EXPECT_FLOAT_EQ(w(1, 2), 1.2f);
  // The argmax of the weights is the argmin of the costs on every row.
  const Matrix c = cost_matrix(kRight, kChoices, 1.0);
  for (std::size_t i = 0; i < 4; ++i) {
    std::size_t wmax = 0, cmin = 0;
    for (std::size_t j = 1; j < 3; ++j) {
      if (w(i, j) > w(i, wmax)) wmax = j;
      if (c(i, j) < c(i, cmin)) cmin = j;
    }
    EXPECT_EQ(wmax, cmin) << i;
  }
}

TEST(ExpertCosts, RoutingOutcomeByHand) {
  // Route (surrogate, cheap, strong, surrogate): calls (2, 1, 1); right on rows 0, 1, 2: 0.75;
  // price (0 + 0.2 + 1 + 0) / 4 = 0.3; cost at λ = 1 adds the surrogate's error on row 3: 0.55.
  const RoutingOutcome o = routing_outcome({0, 1, 2, 0}, kRight, kChoices, 1.0);
  EXPECT_EQ(o.calls, (std::vector<std::size_t>{2, 1, 1}));
  EXPECT_DOUBLE_EQ(o.accuracy, 0.75);
  EXPECT_DOUBLE_EQ(o.price_per_query, 0.3);
  EXPECT_DOUBLE_EQ(o.cost_per_query, 0.55);
}

TEST(ExpertCosts, OracleFrontierBuysTheCheapestUpgradesFirst) {
  // Free: row 0 right on the surrogate. Upgrades: row 1 for 0.2 (cheap), row 2 for 1 (strong);
  // row 3 nobody answers. Frontier (price per query, accuracy): (0, 0.25), (0.05, 0.5), (0.3,
  // 0.75).
  const auto f = oracle_frontier(kRight, kChoices);
  ASSERT_EQ(f.size(), 3u);
  EXPECT_DOUBLE_EQ(f[0].price_per_query, 0.0);
  EXPECT_DOUBLE_EQ(f[0].accuracy, 0.25);
  EXPECT_DOUBLE_EQ(f[1].price_per_query, 0.05);
  EXPECT_DOUBLE_EQ(f[1].accuracy, 0.5);
  EXPECT_DOUBLE_EQ(f[2].price_per_query, 0.3);
  EXPECT_DOUBLE_EQ(f[2].accuracy, 0.75);
  // No routing of these rows beats it: every one of the 3^4 routings lies on or below the frontier
  // (accuracy at most the frontier's at the largest frontier price not above its own).
  for (int code = 0; code < 81; ++code) {
    std::vector<int> r(4);
    for (int i = 0, c = code; i < 4; ++i, c /= 3) r[static_cast<std::size_t>(i)] = c % 3;
    const RoutingOutcome o = routing_outcome(r, kRight, kChoices);
    double best = 0;
    for (const auto& p : f)
      if (p.price_per_query <= o.price_per_query + 1e-12) best = p.accuracy;
    EXPECT_LE(o.accuracy, best + 1e-12) << code;
  }
}

TEST(ExpertCosts, BadInputIsNamed) {
  EXPECT_THROW(cost_matrix(kRight, {{1.0, 0.0}, {1.0, -0.2}, {1.0, 1.0}}, 1.0), Error);
  EXPECT_THROW(cost_matrix(kRight, {{1.0, 0.0}, {1.0, 0.2}}, 1.0), Error);
  EXPECT_THROW(cost_matrix({{1, 0}, {1}, {1, 1}}, kChoices, 1.0), Error);
  EXPECT_THROW(cost_matrix(kRight, kChoices, -1.0), Error);
  EXPECT_THROW(routing_outcome({0, 1, 3, 0}, kRight, kChoices), Error);
}

// weak 0.6, strong 0.8; a router at (0.5 strong share, 0.75). By hand: the curve
// (0, 0.6) – (0.5, 0.75) – (1, 0.8) has area 0.5·1.35/2 + 0.5·1.55/2 = 0.725: APGR (0.725 − 0.6) /
// 0.2 = 0.625. CPT(50%): 0.7 on the first segment at 0.1/0.15 of 0.5 = 1/3. CPT(80%): 0.76 on the
// second at 0.5 + 0.2·0.5 = 0.6.
TEST(RouteLlmMetrics, ApgrAndCptByHand) {
  const std::vector<ShareCurvePoint> curve = {{0.5, 0.75}};
  EXPECT_NEAR(apgr(curve, 0.6, 0.8), 0.625, 1e-12);
  EXPECT_NEAR(cpt(curve, 0.6, 0.8, 0.5), 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(cpt(curve, 0.6, 0.8, 0.8), 0.6, 1e-12);
  EXPECT_NEAR(cpt(curve, 0.6, 0.8, 0.0), 0.0, 1e-12);
  EXPECT_NEAR(cpt(curve, 0.6, 0.8, 1.0), 1.0, 1e-12);
  // A router above the strong model early: 0.8 is recovered at 0.8 of the first segment, 0.16.
  EXPECT_NEAR(cpt({{0.2, 0.85}}, 0.6, 0.8, 1.0), 0.16, 1e-12);
  // The random router: APGR 0.5, CPT(x) = x.
  const auto line = random_router_curve(0.6, 0.8, 11);
  EXPECT_NEAR(apgr(line, 0.6, 0.8), 0.5, 1e-12);
  EXPECT_NEAR(cpt(line, 0.6, 0.8, 0.5), 0.5, 1e-12);
  EXPECT_NEAR(cpt(line, 0.6, 0.8, 0.8), 0.8, 1e-12);
  // A curve that never recovers 90% of the gap (its last point, all calls strong, reaches 0.75 of
  // a possible 0.8 — a strong model measured lower on this curve): CPT(90%) is NaN, CPT(50%) 0.5.
  const std::vector<ShareCurvePoint> short_of = {{1.0, 0.75}, {0.5, 0.7}};
  EXPECT_TRUE(std::isnan(cpt(short_of, 0.6, 0.8, 0.9)));
  EXPECT_NEAR(cpt(short_of, 0.6, 0.8, 0.5), 0.5, 1e-12);
  // The order of the points does not matter.
  EXPECT_NEAR(apgr({{0.9, 0.7}, {0.3, 0.65}}, 0.6, 0.8), apgr({{0.3, 0.65}, {0.9, 0.7}}, 0.6, 0.8),
              1e-12);
  EXPECT_THROW(apgr(curve, 0.7, 0.7), Error);
  EXPECT_THROW(apgr({{1.5, 0.7}}, 0.6, 0.8), Error);
}

}  // namespace
}  // namespace deferbench
