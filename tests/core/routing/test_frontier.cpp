#include "core/routing/frontier.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace deferbench {
namespace {

TEST(Frontier, RealDominanceOverThreeCriteria) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<FrontierPoint> p = {
      {0.50, 0.90, 500},  // 0: on the front
      {0.40, 0.90, 600},  // 1: dominated by 0 (less coverage, same agreement, more cost)
      {0.30, 0.95, 700},  // 2: on the front (best agreement)
      {0.50, 0.90, 500},  // 3: duplicate of 0: neither dominates the other, both kept
      {0.60, 0.85, 400},  // 4: on the front (most coverage)
      {0.00, nan, 1000},  // 5: nothing handled: dominated by everything with coverage > 0
      {0.55, 0.88, 450},  // 6: on the front (between 0 and 4)
      {0.55, 0.87, 450},  // 7: dominated by 6
  };
  EXPECT_EQ(pareto_front(p), (std::vector<std::size_t>{0, 2, 3, 4, 6}));
  EXPECT_TRUE(dominates(p[0], p[1]));
  EXPECT_FALSE(dominates(p[0], p[3]));
  EXPECT_FALSE(dominates(p[2], p[0]));
  EXPECT_TRUE(dominates(p[6], p[7]));
}

TEST(Frontier, CostPerThousandQueries) {
  // 40% handled at 0.01 per call, 60% deferred at 2.0 per call: 1000·(0.004 + 1.2) = 1204.
  EXPECT_DOUBLE_EQ(cost_per_1k(0.4, 2.0, 0.01), 1204.0);
  EXPECT_DOUBLE_EQ(cost_per_1k(0.0, 1.0, 0.0), 1000.0);
}

}  // namespace
}  // namespace deferbench
