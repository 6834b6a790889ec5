// Student's t quantile and the mean's t interval against hand computations.
#include <gtest/gtest.h>

#include <cmath>

#include "core/stats/intervals.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

TEST(Intervals, StudentTQuantileMatchesPublishedTables) {
  EXPECT_NEAR(student_t_quantile(0.975, 4), 2.776445, 1e-6);
  EXPECT_NEAR(student_t_quantile(0.95, 4), 2.131847, 1e-6);
  EXPECT_NEAR(student_t_quantile(0.975, 3), 3.182446, 1e-6);
  // The CDF inverts the quantile; the distribution is symmetric.
  EXPECT_NEAR(student_t_cdf(2.776445, 4), 0.975, 1e-7);
  EXPECT_NEAR(student_t_quantile(0.025, 4), -student_t_quantile(0.975, 4), 1e-12);
}

TEST(Intervals, MeanCiOfFiveValuesByHand) {
  // {0.2, 0.4, 0.6, 0.8, 1.0}: mean 0.6; squared deviations 0.16+0.04+0+0.04+0.16 = 0.4,
  // sd = sqrt(0.4/4) = sqrt(0.1); half-width t_{0.975,4}·sd/√5 = 2.776445·0.316228/2.236068.
  const MeanCI m = mean_ci({0.2, 0.4, 0.6, 0.8, 1.0});
  EXPECT_EQ(m.n, 5u);
  EXPECT_NEAR(m.mean, 0.6, 1e-15);
  EXPECT_NEAR(m.sd, std::sqrt(0.1), 1e-15);
  const double half = 2.776445 * std::sqrt(0.1) / std::sqrt(5.0);  // 0.392648
  EXPECT_NEAR(half, 0.392648, 1e-6);
  EXPECT_NEAR(m.ci_low, 0.6 - half, 1e-6);
  EXPECT_NEAR(m.ci_high, 0.6 + half, 1e-6);
}

TEST(Intervals, BadArgumentsAreErrors) {
  EXPECT_NE(testing::error_of([] { student_t_quantile(0, 4); }).find("p must be in (0, 1)"),
            std::string::npos);
  EXPECT_NE(testing::error_of([] { student_t_cdf(1, -1); }).find("degrees of freedom"),
            std::string::npos);
}

}  // namespace
}  // namespace deferbench
