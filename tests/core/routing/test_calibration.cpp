#include "core/routing/calibration.h"

#include <cmath>

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace deferbench
