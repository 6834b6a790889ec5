// The audit's examples: boundary pairs against a brute-force search, representatives and
// confident disagreements by hand.
#include "core/audit/examples.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <tuple>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/util/error.h"

namespace deferbench {
namespace {

using ::testing::ElementsAre;

TEST(AuditExamples, BoundaryPairsAreTrulyNearest) {
  std::mt19937 rng(7);
  std::normal_distribution<float> x(0.0f, 1.0f);
  const std::size_t n = 120, d = 4;
  Matrix f(n, d);
  std::vector<LabelId> pred(n);
  std::vector<std::uint8_t> handled(n);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < d; ++j) f.row(i)[j] = x(rng);
    pred[i] = static_cast<LabelId>(i % 4);
    // Class 3 is deferred most (3 in 4 rows), class 0 least; class 2 never handled.
    const std::size_t c = i % 4;
    handled[i] = c == 2 ? 0 : (c == 3 ? (i % 16 == 3) : (i % 3 != 0));
  }
  const auto pairs = boundary_pairs(f.view(), pred, handled, 2, 3);
  // Brute force: per class with both kinds, every deferred row's nearest handled row.
  std::vector<std::tuple<LabelId, double, std::size_t, std::size_t>> expect;
  std::vector<std::pair<std::size_t, LabelId>> deferred_count;
  for (LabelId c = 0; c < 4; ++c) {
    std::size_t deferred = 0, kept = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (pred[i] == c) (handled[i] ? kept : deferred) += 1;
    if (kept && deferred) deferred_count.emplace_back(deferred, c);
  }
  std::stable_sort(deferred_count.begin(), deferred_count.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  ASSERT_GE(deferred_count.size(), 2u);
  for (std::size_t k = 0; k < 2; ++k) {
    const LabelId c = deferred_count[k].second;
    std::vector<std::tuple<double, std::size_t, std::size_t>> cand;
    for (std::size_t r = 0; r < n; ++r) {
      if (pred[r] != c || handled[r]) continue;
      double best = 1e300;
      std::size_t at = 0;
      for (std::size_t h = 0; h < n; ++h) {
        if (pred[h] != c || !handled[h]) continue;
        double s = 0;
        for (std::size_t j = 0; j < d; ++j) s += std::pow(f.row(r)[j] - f.row(h)[j], 2);
        if (s < best) best = s, at = h;
      }
      cand.emplace_back(std::sqrt(best), at, r);
    }
    std::stable_sort(cand.begin(), cand.end(),
                     [](const auto& a, const auto& b) { return std::get<0>(a) < std::get<0>(b); });
    for (std::size_t i = 0; i < 3 && i < cand.size(); ++i)
      expect.emplace_back(c, std::get<0>(cand[i]), std::get<1>(cand[i]), std::get<2>(cand[i]));
  }
  ASSERT_EQ(pairs.size(), expect.size());
  EXPECT_EQ(pairs.front().predicted, 3);  // the most deferred class first
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    EXPECT_EQ(pairs[i].predicted, std::get<0>(expect[i]));
    EXPECT_NEAR(pairs[i].distance, std::get<1>(expect[i]), 1e-6);
    EXPECT_EQ(pairs[i].handled_row, std::get<2>(expect[i]));
    EXPECT_EQ(pairs[i].deferred_row, std::get<3>(expect[i]));
    EXPECT_TRUE(handled[pairs[i].handled_row]);
    EXPECT_FALSE(handled[pairs[i].deferred_row]);
  }
  EXPECT_THROW(boundary_pairs(f.view(), {0}, {1}, 2, 3), Error);
}

// One feature: class 0 at 0, 1, 2, 10 (centroid 3.25), handled 1 0 1 0 → the handled row
// closest is x = 2 (row 2), the deferred x = 1 (row 1). Class 1 (rows 4, 5) is all handled.
TEST(AuditExamples, RepresentativesAreClosestToTheCentroid) {
  Matrix f(6, 1);
  const float xs[] = {0, 1, 2, 10, 5, 7};
  for (std::size_t i = 0; i < 6; ++i) f.row(i)[0] = xs[i];
  const auto reps = representatives(f.view(), {0, 0, 0, 0, 1, 1}, {1, 0, 1, 0, 1, 1});
  ASSERT_EQ(reps.size(), 2u);
  EXPECT_EQ(reps[0].rows, 4u);
  EXPECT_EQ(reps[0].handled_row, 2u);
  EXPECT_EQ(reps[0].deferred_row, 1u);
  EXPECT_EQ(reps[1].handled_row, 4u);  // 5 and 7 tie around 6: the lower row
  EXPECT_EQ(reps[1].deferred_row, static_cast<std::size_t>(-1));
}

TEST(AuditExamples, ConfidentDisagreementsByScore) {
  // Handled disagreements: rows 0 (0.2), 2 (0.9), 4 (0.5); row 3 disagrees but is deferred.
  const auto rows = confident_disagreements({0.2f, 0.8f, 0.9f, 0.99f, 0.5f}, {1, 2, 1, 1, 3},
                                            {2, 2, 3, 2, 1}, {1, 1, 1, 0, 1}, 2);
  EXPECT_THAT(rows, ElementsAre(2, 4));
}

}  // namespace
}  // namespace deferbench
