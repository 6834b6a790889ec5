#include "models/trees/binning.h"

#include <random>
#include <sstream>

#include <gtest/gtest.h>

namespace deferbench {
namespace {

Context ctx1() {
  return Context{Device::kCpu, 3, 1};
}

TEST(FeatureBinner, FewDistinctValuesGetOneBinEachWithMidpointCuts) {
  // Column 0 takes values {1, 2, 4}; column 1 is constant.
  Matrix x(6, 2, std::vector<float>{1, 5, 2, 5, 4, 5, 1, 5, 2, 5, 4, 5});
  FeatureBinner b;
  b.fit(x, 256, 0, ctx1());
  EXPECT_EQ(b.cuts(0), (std::vector<float>{1.5f, 3.0f}));
  EXPECT_EQ(b.n_bins(1), 1);
  BinnedMatrix m = b.transform(x, 1);
  EXPECT_EQ(m(0, 0), 0);
  EXPECT_EQ(m(1, 0), 1);
  EXPECT_EQ(m(2, 0), 2);
  EXPECT_EQ(m(2, 1), 0);
  // Unseen values fall by the same rule: bin = #cuts < v.
  EXPECT_EQ(b.bin_of(0, 1.5f), 0);
  EXPECT_EQ(b.bin_of(0, 1.6f), 1);
  EXPECT_EQ(b.bin_of(0, 100.0f), 2);
}

TEST(FeatureBinner, QuantileBinsAreBalancedAndConsistentWithThresholds) {
  std::mt19937 rng(1);
  std::normal_distribution<float> g;
  const std::size_t n = 20000;
  Matrix x(n, 3);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < 3; ++j) x(i, j) = g(rng) * static_cast<float>(j + 1);
  FeatureBinner b;
  b.fit(x, 64, 0, ctx1());
  BinnedMatrix m = b.transform(x, 2);
  for (std::size_t j = 0; j < 3; ++j) {
    ASSERT_EQ(b.n_bins(j), 64);
    std::vector<std::size_t> count(64, 0);
    for (std::size_t i = 0; i < n; ++i) ++count[m(i, j)];
    for (std::size_t c : count) EXPECT_NEAR(static_cast<double>(c), n / 64.0, n / 64.0 * 0.1);
    // bin ≤ k ⇔ x ≤ threshold(k), for every row and a few k.
    for (int k : {0, 10, 31, 62})
      for (std::size_t i = 0; i < n; i += 7) EXPECT_EQ(m(i, j) <= k, x(i, j) <= b.threshold(j, k));
  }
}

TEST(FeatureBinner, SampledFitIsSeededAndSaveLoadKeepsCuts) {
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> u;
  Matrix x(5000, 2);
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = u(rng);
  FeatureBinner a, b, c;
  a.fit(x, 32, 1000, ctx1());
  b.fit(x, 32, 1000, ctx1());
  c.fit(x, 32, 1000, Context{Device::kCpu, 4, 1});
  EXPECT_EQ(a.cuts(0), b.cuts(0));
  EXPECT_NE(a.cuts(0), c.cuts(0));
  std::stringstream buf;
  BinaryWriter w(buf);
  a.save(w);
  FeatureBinner d;
  BinaryReader r(buf, "mem");
  d.load(r);
  EXPECT_EQ(d.cuts(1), a.cuts(1));
}

}  // namespace
}  // namespace deferbench
