// The audit's windows in time order and their drift test, by hand.
#include "core/audit/temporal.h"

#include <cmath>

#include <gtest/gtest.h>

#include "core/util/error.h"

namespace deferbench {
namespace {

// 30/100 against 50/100: pooled 0.4, se = sqrt(0.24 · 0.02) = 0.0692820, z = 2.886751,
// p = erfc(z / √2) = 0.0038924.
TEST(AuditTemporal, TwoProportionTest) {
  EXPECT_NEAR(two_proportion_p_value(30, 100, 50, 100), 0.0038924, 1e-7);
  EXPECT_NEAR(two_proportion_p_value(50, 100, 30, 100), 0.0038924, 1e-7);
  EXPECT_DOUBLE_EQ(two_proportion_p_value(5, 10, 5, 10), 1.0);
  EXPECT_DOUBLE_EQ(two_proportion_p_value(0, 10, 0, 20), 1.0);  // pooled 0
  EXPECT_DOUBLE_EQ(two_proportion_p_value(3, 0, 1, 5), 1.0);
}

AuditRows rows_of(const std::vector<std::uint8_t>& handled, const std::vector<LabelId>& answer) {
  AuditRows r;
  r.handled = handled;
  r.answer = answer;
  r.teacher.assign(handled.size(), 1);
  r.prediction = answer;
  return r;
}

// 12 rows in row order, 3 windows of 4: all handled and agreeing; 2 handled, 1 agreeing; none.
TEST(AuditTemporal, WindowsInRowOrder) {
  const AuditRows r =
      rows_of({1, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 0, 2, 0, 0, 0, 0, 0});
  const auto w = temporal_windows(r, {}, 3, 0.1);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0].rows, 4u);
  EXPECT_EQ(w[0].coverage.k, 4u);
  EXPECT_EQ(w[0].agreement.k, 4u);
  EXPECT_TRUE(std::isnan(w[0].coverage_change));
  EXPECT_EQ(w[1].coverage.k, 2u);
  EXPECT_EQ(w[1].agreement.k, 1u);
  EXPECT_DOUBLE_EQ(w[1].coverage_change, -0.5);
  EXPECT_DOUBLE_EQ(w[1].agreement_change, -0.5);
  EXPECT_EQ(w[2].coverage.k, 0u);
  EXPECT_TRUE(std::isnan(w[2].agreement_p));  // nothing handled: not compared
  EXPECT_TRUE(std::isnan(w[0].time_begin));
}

// Times reverse the order, a row without a time is left out: 10 timed rows → 4, 3, 3.
TEST(AuditTemporal, WindowsInTimeOrder) {
  std::vector<std::uint8_t> handled(11, 0);
  handled[10] = 1;  // row 10 has the earliest time
  std::vector<double> times;
  for (int i = 0; i < 11; ++i) times.push_back(100.0 - i);
  times[5] = std::nan("");
  const AuditRows r = rows_of(handled, std::vector<LabelId>(11, 1));
  const auto w = temporal_windows(r, times, 3, 0.1);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0].rows, 4u);
  EXPECT_EQ(w[1].rows, 3u);
  EXPECT_EQ(w[2].rows, 3u);
  EXPECT_DOUBLE_EQ(w[0].time_begin, 90.0);  // row 10, the earliest
  EXPECT_DOUBLE_EQ(w[2].time_end, 100.0);
  EXPECT_EQ(w[0].coverage.k, 1u);  // row 10 is handled
  EXPECT_THROW(temporal_windows(r, {1.0}, 3, 0.1), Error);
  EXPECT_THROW(temporal_windows(r, {}, 1, 0.1), Error);
}

// A window that handles everything after one that handled nothing drifts; equal windows do not.
TEST(AuditTemporal, DriftIsFlagged) {
  std::vector<std::uint8_t> handled(2000, 0);
  for (std::size_t i = 1000; i < 2000; ++i) handled[i] = 1;
  const auto w = temporal_windows(rows_of(handled, std::vector<LabelId>(2000, 1)), {}, 2, 0.1);
  EXPECT_TRUE(w[1].drift);
  EXPECT_LT(w[1].coverage_p, 1e-100);
  std::vector<std::uint8_t> steady(2000);
  for (std::size_t i = 0; i < 2000; ++i) steady[i] = i % 2;
  const auto s = temporal_windows(rows_of(steady, std::vector<LabelId>(2000, 1)), {}, 4, 0.1);
  for (const Window& x : s) EXPECT_FALSE(x.drift);
}

}  // namespace
}  // namespace deferbench
