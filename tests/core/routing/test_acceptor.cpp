#include "core/routing/acceptor.h"

#include <algorithm>
#include <cmath>

#include <gtest/gtest.h>

#include "core/util/random.h"
#include "models/registry.h"

namespace deferbench {
namespace {

TEST(AcceptorFeatures, SummarizeTheProbabilityVector) {
  // Row 0: p = (0.5, 0.3, 0.2, 0): top1 .5, top2 .3, margin .2,
  //        H = −(.5 ln .5 + .3 ln .3 + .2 ln .2) = 1.029653, / ln 4 = 0.742752.
  // Row 1: p = (0, 0, 1, 0): top1 1, top2 0, margin 1, H = 0.
  Matrix p(2, 4, std::vector<float>{0.5f, 0.3f, 0.2f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f});
  Matrix f = acceptor_features(p, {0.7f, 0.1f}, MatrixView());
  ASSERT_EQ(f.cols(), 5u);
  EXPECT_FLOAT_EQ(f(0, 0), 0.5f);
  EXPECT_FLOAT_EQ(f(0, 1), 0.3f);
  EXPECT_FLOAT_EQ(f(0, 2), 0.2f);
  EXPECT_NEAR(f(0, 3), 1.0296530 / std::log(4.0), 1e-6);
  EXPECT_FLOAT_EQ(f(0, 4), 0.7f);
  EXPECT_FLOAT_EQ(f(1, 0), 1.0f);
  EXPECT_FLOAT_EQ(f(1, 1), 0.0f);
  EXPECT_FLOAT_EQ(f(1, 3), 0.0f);
  Matrix emb(2, 3, 9.0f);
  EXPECT_EQ(acceptor_features(p, {}, emb).cols(), 7u);
}

TEST(AcceptorFeatures, VectorizedEntropyMatchesStdLog) {
  // One-entry vectors: −v ln v for v from 1e-37 to 1 (every binade), relative error ≤ 1e-6.
  for (double v = 1e-37; v <= 1.0; v *= 1.37) {
    const float f = static_cast<float>(v);
    const double want = -static_cast<double>(f) * std::log(static_cast<double>(f));
    EXPECT_NEAR(entropy_of(&f, 1), want, 1e-6 * std::abs(want) + 1e-37) << "v = " << v;
  }
  // Random 77-class vectors with zeros (entries of 0 add nothing), against double precision.
  Rng rng(3);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<float> p(77);
    double sum = 0;
    for (float& v : p) {
      v = rng.uniform() < 0.3 ? 0.0f : static_cast<float>(std::exp(8.0 * rng.normal()));
      sum += v;
    }
    double want = 0;
    for (float& v : p) {
      v = static_cast<float>(v / sum);
      if (v > 0) want -= static_cast<double>(v) * std::log(static_cast<double>(v));
    }
    EXPECT_NEAR(entropy_of(p.data(), p.size()), want, 1e-5);
  }
}

TEST(NeighbourIndex, AgreementOfNearestTrainingLabels) {
  // Training points on a line: x = 0,1,2 (label 5) and x = 10,11,12 (label 6).
  Matrix train(6, 1, std::vector<float>{0, 1, 2, 10, 11, 12});
  NeighbourIndex index(train, {5, 5, 5, 6, 6, 6});
  Matrix q(3, 1, std::vector<float>{0.5f, 6.2f, 11.0f});
  // q=0.5, pred 5: nearest 3 are 0,1,2 → 3/3. q=6.2, pred 6: nearest 3 are 10, 2, 11 →
  // labels 6, 5, 6 → 2/3. q=11, pred 5: nearest 3 are 11, 10, 12 → 0/3.
  auto a = index.agreement(q, {5, 6, 5}, 3, 2);
  EXPECT_FLOAT_EQ(a[0], 1.0f);
  EXPECT_FLOAT_EQ(a[1], 2.0f / 3.0f);
  EXPECT_FLOAT_EQ(a[2], 0.0f);
}

TEST(NeighbourIndex, BlockedSearchMatchesNaiveDoubleSearchAndIsMemoized) {
  // 37 queries (not a multiple of the query block) against 301 random training rows in 19-d:
  // the k nearest by an independent double-precision search, ties by lower row index.
  Rng rng(7);
  const std::size_t n_train = 301, n_query = 37, d = 19, k = 5;
  Matrix train(n_train, d), q(n_query, d);
  for (std::size_t i = 0; i < train.size(); ++i) train.data()[i] = static_cast<float>(rng.normal());
  for (std::size_t i = 0; i < q.size(); ++i) q.data()[i] = static_cast<float>(rng.normal());
  std::vector<LabelId> teacher(n_train);
  for (std::size_t t = 0; t < n_train; ++t) teacher[t] = static_cast<LabelId>(t % 3);
  NeighbourIndex index(train, teacher);
  auto table = index.nearest(q, static_cast<int>(k), 2);
  ASSERT_EQ(table->k, k);
  for (std::size_t i = 0; i < n_query; ++i) {
    std::vector<std::pair<double, std::size_t>> all;
    for (std::size_t t = 0; t < n_train; ++t) {
      double s = 0;
      for (std::size_t j = 0; j < d; ++j) {
        const double diff = static_cast<double>(q(i, j)) - train(t, j);
        s += diff * diff;
      }
      all.emplace_back(s, t);
    }
    std::sort(all.begin(), all.end());
    for (std::size_t j = 0; j < k; ++j) {
      EXPECT_EQ(table->rows[i * k + j], all[j].second) << "query " << i << " rank " << j;
      double qq = 0;
      for (std::size_t c = 0; c < d; ++c) qq += static_cast<double>(q(i, c)) * q(i, c);
      EXPECT_NEAR(table->dist[i * k + j] + qq, all[j].first, 1e-3);
    }
  }
  EXPECT_EQ(index.searches(), 1u);
  // The same contents (another buffer) and the same k: answered from the memo.
  Matrix copy = Matrix::copy_of(q);
  EXPECT_EQ(index.nearest(copy, static_cast<int>(k), 1), table);
  std::vector<LabelId> pred(n_query, 1);
  index.agreement(copy, pred, static_cast<int>(k), 1);
  EXPECT_EQ(index.searches(), 1u);
  // A changed value, or another k: a new search.
  copy(3, 4) += 1.0f;
  EXPECT_NE(index.nearest(copy, static_cast<int>(k), 1), table);
  index.nearest(q, 3, 1);
  EXPECT_EQ(index.searches(), 3u);
  // More distinct queries than the memo holds: the oldest is dropped, results stay right.
  for (std::size_t m = 0; m < NeighbourIndex::kMemoEntries; ++m) {
    Matrix other = Matrix::copy_of(q);
    other(0, 0) += static_cast<float>(m + 1);
    index.nearest(other, static_cast<int>(k), 1);
  }
  auto again = index.nearest(q, static_cast<int>(k), 1);
  EXPECT_NE(again, table);
  EXPECT_EQ(again->rows, table->rows);
}

TEST(Acceptor, LearnsWhereTheSurrogateAgreesAndHandlesConstantLabels) {
  // Agreement iff the top probability (feature 0) is above 0.6.
  const std::size_t n = 400;
  Matrix f(n, 4);
  std::vector<std::uint8_t> agrees(n);
  for (std::size_t i = 0; i < n; ++i) {
    float top = 0.3f + 0.7f * static_cast<float>(i) / n;
    f(i, 0) = top;
    f(i, 1) = 1.0f - top;
    f(i, 2) = 2 * top - 1;
    f(i, 3) = 0.5f;
    agrees[i] = top > 0.6f;
  }
  Context ctx{Device::kCpu, 1, 1};
  Acceptor acc(builtin_models().make(YAML::Load("{name: logreg, C: 100}"), "acceptor.model"));
  acc.fit(f, agrees, ctx);
  auto s = acc.score(f, ctx);
  EXPECT_LT(s[10], 0.2f);
  EXPECT_GT(s[n - 10], 0.8f);
  for (std::size_t i = 1; i < n; ++i) EXPECT_GE(s[i], s[i - 1] - 1e-6f);  // monotone in top

  Acceptor always(builtin_models().make(YAML::Load("{name: logreg}"), "acceptor.model"));
  always.fit(f, std::vector<std::uint8_t>(n, 1), ctx);
  EXPECT_EQ(always.constant(), 1);
  EXPECT_EQ(always.score(f, ctx), std::vector<float>(n, 1.0f));
}

}  // namespace
}  // namespace deferbench
