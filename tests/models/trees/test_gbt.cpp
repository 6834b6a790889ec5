#include "models/trees/gbt.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/util/error.h"
#include "core/util/random.h"
#include "models/registry.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::shared_ptr<LabelSpace> labels(int n) {
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) names.push_back("c" + std::to_string(i));
  return std::make_shared<LabelSpace>(names);
}

// Gaussian blobs in `dim` dimensions, one centre per class of `ids`, over a global space of
// `n_labels` classes.
Dataset blobs(std::size_t n, std::uint64_t seed, double spread, const std::vector<LabelId>& ids,
              int n_labels, std::size_t dim = 4) {
  Rng rng(seed);
  Dataset d;
  d.labels = labels(n_labels);
  d.features = Matrix(n, dim);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t c = i % ids.size();
    for (std::size_t j = 0; j < dim; ++j)
      d.features(i, j) =
          static_cast<float>((j % ids.size() == c ? 2.0 : 0.0) + spread * rng.normal());
    d.teacher.push_back(ids[c]);
  }
  return d;
}

Context cpu(int threads = 1, std::uint64_t seed = 7) {
  return Context{Device::kCpu, seed, threads};
}

double log_loss(const Matrix& proba, const std::vector<LabelId>& y) {
  double sum = 0;
  for (std::size_t i = 0; i < y.size(); ++i)
    sum -= std::log(std::max(static_cast<double>(proba(i, static_cast<std::size_t>(y[i]))), 1e-15));
  return sum / static_cast<double>(y.size());
}

TEST(GbtTraining, TrainingLossDecreasesEveryRound) {
  Dataset d = blobs(300, 1, 1.5, {0, 1, 2}, 3);  // overlapping classes: nothing is fitted at once
  GbtParams p;
  p.n_rounds = 25;
  p.max_depth = 2;
  GbtClassifier model(p);
  model.fit(d, nullptr, cpu());
  ASSERT_EQ(model.train_loss().size(), 25u);
  EXPECT_TRUE(model.val_loss().empty());
  const double prior_loss = std::log(3.0);  // balanced classes: the initial scores' loss
  EXPECT_LT(model.train_loss()[0], prior_loss);
  for (std::size_t r = 1; r < model.train_loss().size(); ++r)
    EXPECT_LT(model.train_loss()[r], model.train_loss()[r - 1]) << "round " << r;
  // The recorded loss is the loss of the model's own predictions.
  EXPECT_NEAR(model.train_loss().back(),
              log_loss(model.predict_proba(d.features, cpu()), d.teacher), 1e-6);
}

TEST(GbtTraining, OneStumpIsTheHandComputedNewtonStep) {
  // x = 1…5, labels 0 0 1 1 1: priors 0.4 / 0.6, so p₁ = 0.6 on every row at the start.
  Dataset d;
  d.labels = labels(2);
  d.features = Matrix(5, 1, std::vector<float>{1, 2, 3, 4, 5});
  d.teacher = {0, 0, 1, 1, 1};
  GbtParams p;
  p.n_rounds = 1;
  p.max_depth = 1;
  p.learning_rate = 0.5;
  p.l2 = 1.0;
  p.min_child_weight = 0.0;
  GbtClassifier model(p);
  model.fit(d, nullptr, cpu());
  ASSERT_EQ(model.n_rounds(), 1u);
  EXPECT_NEAR(model.init_scores()[0], std::log(0.4), 1e-12);
  EXPECT_NEAR(model.init_scores()[1], std::log(0.6), 1e-12);

  // Class 1: g = p − y = 0.6, 0.6, −0.4, −0.4, −0.4; h = K/(K−1)·p(1−p) = 2·0.24 = 0.48.
  // Gains G_L²/(H_L+λ) + G_R²/(H_R+λ): x ≤ 1.5: 0.36/1.48 + 0.36/2.92 = 0.37;
  // x ≤ 2.5: 1.44/1.96 + 1.44/2.44 = 1.32 (best); x ≤ 3.5: 0.64/2.44 + 0.64/1.96 = 0.59.
  // Leaves −η·G/(H+λ): left −0.5·1.2/1.96, right −0.5·(−1.2)/2.44.
  const double left1 = -0.5 * 1.2 / 1.96, right1 = 0.5 * 1.2 / 2.44;
  const auto& t1 = model.tree(0, 1);
  ASSERT_EQ(t1.size(), 3u);
  EXPECT_EQ(t1[0].feature, 0);
  EXPECT_FLOAT_EQ(t1[0].threshold, 2.5f);  // the midpoint between 2 and 3
  EXPECT_NEAR(t1[static_cast<std::size_t>(t1[0].left)].value, left1, 1e-6);
  EXPECT_NEAR(t1[static_cast<std::size_t>(t1[0].right)].value, right1, 1e-6);
  // Class 0 sees the opposite gradients and the same hessians: the mirror image.
  const auto& t0 = model.tree(0, 0);
  ASSERT_EQ(t0.size(), 3u);
  EXPECT_FLOAT_EQ(t0[0].threshold, 2.5f);
  EXPECT_NEAR(t0[static_cast<std::size_t>(t0[0].left)].value, -left1, 1e-6);
  EXPECT_NEAR(t0[static_cast<std::size_t>(t0[0].right)].value, -right1, 1e-6);

  Matrix proba = model.predict_proba(d.features, cpu());
  auto p1 = [](double s0, double s1) { return 1.0 / (1.0 + std::exp(s0 - s1)); };
  const double p_left = p1(std::log(0.4) - left1, std::log(0.6) + left1);
  const double p_right = p1(std::log(0.4) - right1, std::log(0.6) + right1);
  for (std::size_t i = 0; i < 5; ++i) {
    const double expected = i < 2 ? p_left : p_right;
    EXPECT_NEAR(proba(i, 1), expected, 1e-6) << "row " << i;
    EXPECT_NEAR(proba(i, 0), 1.0 - expected, 1e-6) << "row " << i;
  }
  // Between the training values, the raw threshold decides.
  Matrix probe(2, 1, std::vector<float>{2.4f, 2.6f});
  Matrix pp = model.predict_proba(probe, cpu());
  EXPECT_NEAR(pp(0, 1), p_left, 1e-6);
  EXPECT_NEAR(pp(1, 1), p_right, 1e-6);
}

TEST(GbtPredict, SeparableDataAbsentClassesAndRowSums) {
  // Classes 0, 2, 3 of a 5-class space; 1 and 4 never occur.
  Dataset d = blobs(300, 2, 0.3, {0, 2, 3}, 5);
  Dataset test = blobs(300, 3, 0.3, {0, 2, 3}, 5);
  GbtParams p;
  p.n_rounds = 20;
  GbtClassifier model(p);
  model.fit(d, nullptr, cpu());
  EXPECT_EQ(model.n_classes(), 5u);
  EXPECT_EQ(model.classes(), (std::vector<std::int32_t>{0, 2, 3}));
  Matrix proba = model.predict_proba(test.features, cpu());
  ASSERT_EQ(proba.cols(), 5u);
  testing::expect_distributions(proba, {1, 4});
  auto pred = model.predict(test.features, cpu());
  std::size_t right = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) right += pred[i] == test.teacher[i];
  EXPECT_GE(right, 294u);  // ≥ 98% on held-out rows
}

// softmax(init + Σ_r leaf of tree(r, c)) from the model's own trees, walked node by node in
// double: the definition of the prediction, independent of how predict_proba lays trees out.
Matrix predict_by_walking(const GbtClassifier& m, MatrixView x) {
  const std::size_t K = m.classes().size();
  Matrix out(x.rows(), m.n_classes(), 0.0f);
  for (std::size_t i = 0; i < x.rows(); ++i) {
    std::vector<double> s(m.init_scores());
    for (std::size_t r = 0; r < m.n_rounds(); ++r)
      for (std::size_t c = 0; c < K; ++c) {
        const auto& t = m.tree(r, c);
        std::size_t node = 0;
        while (t[node].feature >= 0)
          node = static_cast<std::size_t>(
              x(i, static_cast<std::size_t>(t[node].feature)) <= t[node].threshold ? t[node].left
                                                                                   : t[node].right);
        s[c] += t[node].value;
      }
    const double top = *std::max_element(s.begin(), s.end());
    double sum = 0;
    for (double& v : s) sum += v = std::exp(v - top);
    for (std::size_t c = 0; c < K; ++c)
      out(i, static_cast<std::size_t>(m.classes()[c])) = static_cast<float>(s[c] / sum);
  }
  return out;
}

TEST(GbtPredict, EqualsWalkingEveryTreeAtAnyDepthAndForNaN) {
  // Depth 3 and 6 use the complete-tree layout (shallow leaves pushed down), depth 12 the node
  // walk; a NaN feature goes right at every split in all of them.
  Dataset d = blobs(400, 5, 0.9, {0, 1, 3}, 4, 6);
  Dataset test = blobs(257, 6, 0.9, {0, 1, 3}, 4, 6);
  test.features(5, 2) = std::numeric_limits<float>::quiet_NaN();
  for (int depth : {3, 6, 12}) {
    SCOPED_TRACE(depth);
    GbtParams p;
    p.n_rounds = 15;
    p.max_depth = depth;
    GbtClassifier model(p);
    model.fit(d, nullptr, cpu());
    const Matrix got = model.predict_proba(test.features, cpu(2));
    const Matrix want = predict_by_walking(model, test.features);
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i)
      ASSERT_NEAR(got.data()[i], want.data()[i], 1e-6) << "entry " << i;
  }
}

TEST(GbtPredict, OneClassGivesProbabilityOne) {
  Dataset d = blobs(20, 4, 1.0, {2}, 4);
  GbtClassifier model(GbtParams{});
  model.fit(d, nullptr, cpu());
  Matrix proba = model.predict_proba(d.features, cpu());
  for (std::size_t i = 0; i < proba.rows(); ++i) {
    EXPECT_EQ(proba(i, 2), 1.0f);
    EXPECT_EQ(proba(i, 0) + proba(i, 1) + proba(i, 3), 0.0f);
  }
}

TEST(GbtEarlyStopping, StopsEarlyAndKeepsTheBestRound) {
  // Pure noise labels with deep trees and a large step: the val loss soon goes up.
  Rng rng(5);
  auto noise = [&](std::size_t n) {
    Dataset d;
    d.labels = labels(3);
    d.features = Matrix(n, 5);
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = 0; j < 5; ++j) d.features(i, j) = static_cast<float>(rng.normal());
      d.teacher.push_back(static_cast<LabelId>(rng.below(3)));
    }
    return d;
  };
  Dataset train = noise(300), val = noise(300);
  GbtParams p;
  p.n_rounds = 200;
  p.max_depth = 4;
  p.learning_rate = 0.5;
  p.min_child_weight = 0.0;
  p.early_stopping_rounds = 5;
  GbtClassifier model(p);
  model.fit(train, &val, cpu());
  const auto& history = model.val_loss();
  ASSERT_LT(history.size(), 200u);  // stopped early
  const std::size_t kept = model.n_rounds();
  ASSERT_GE(kept, 1u);
  const std::size_t best =
      static_cast<std::size_t>(std::min_element(history.begin(), history.end()) - history.begin());
  EXPECT_EQ(kept, best + 1);            // the best round is kept
  EXPECT_EQ(history.size(), kept + 5);  // and it stopped 5 rounds after it
  EXPECT_EQ(model.train_loss().size(), history.size());
  // The kept model's val loss is the minimum seen.
  EXPECT_NEAR(log_loss(model.predict_proba(val.features, cpu()), val.teacher), history[best], 1e-6);

  // Without early stopping, every round is kept.
  p.early_stopping_rounds = 0;
  p.n_rounds = 30;
  GbtClassifier full(p);
  full.fit(train, &val, cpu());
  EXPECT_EQ(full.n_rounds(), 30u);
  EXPECT_EQ(full.val_loss().size(), 30u);
}

TEST(GbtDeterminism, SaveLoadPredictsBitIdentically) {
  Dataset d = blobs(200, 6, 1.0, {0, 1, 3}, 4, 6);
  GbtParams p;
  p.n_rounds = 15;
  p.subsample = 0.8;
  GbtClassifier model(p);
  model.fit(d, nullptr, cpu());
  testing::TempDir dir;
  model.save(dir / "gbt.bin");
  auto loaded = builtin_models().load(dir / "gbt.bin");
  EXPECT_EQ(loaded->name(), "gbt");
  EXPECT_EQ(loaded->n_classes(), 4u);
  EXPECT_EQ(loaded->predict_proba(d.features, cpu()).values(),
            model.predict_proba(d.features, cpu()).values());
}

TEST(GbtDeterminism, SameSeedSameModelForAnyThreadCount) {
  // Large enough for every heavy loop to run in parallel (small ones run on one thread).
  Dataset d = blobs(4000, 7, 1.2, {0, 1, 2, 3}, 4, 10);
  GbtParams p;
  p.n_rounds = 5;
  p.subsample = 0.7;
  GbtClassifier a(p), b(p), c(p);
  a.fit(d, nullptr, cpu(1));
  b.fit(d, nullptr, cpu(1));
  c.fit(d, nullptr, cpu(2));
  const auto pa = a.predict_proba(d.features, cpu(1)).values();
  EXPECT_EQ(b.predict_proba(d.features, cpu(1)).values(), pa);
  EXPECT_EQ(c.predict_proba(d.features, cpu(2)).values(), pa);
  EXPECT_EQ(c.train_loss(), a.train_loss());
}

TEST(GbtDeterminism, SubsampleChangesTheModelAndIsSeeded) {
  Dataset d = blobs(400, 8, 1.2, {0, 1, 2}, 3, 6);
  GbtParams full, half;
  full.n_rounds = half.n_rounds = 8;
  half.subsample = 0.5;
  GbtClassifier m_full(full), m_half(half), m_half_again(half), m_half_other(half);
  m_full.fit(d, nullptr, cpu(1, 7));
  m_half.fit(d, nullptr, cpu(1, 7));
  m_half_again.fit(d, nullptr, cpu(1, 7));
  m_half_other.fit(d, nullptr, cpu(1, 8));
  const auto p_half = m_half.predict_proba(d.features, cpu()).values();
  EXPECT_NE(m_full.predict_proba(d.features, cpu()).values(), p_half);
  EXPECT_EQ(m_half_again.predict_proba(d.features, cpu()).values(), p_half);
  EXPECT_NE(m_half_other.predict_proba(d.features, cpu()).values(), p_half);
  // Without subsampling the seed does not matter (no other random draw on small data).
  GbtClassifier m_full_other(full);
  m_full_other.fit(d, nullptr, cpu(1, 8));
  EXPECT_EQ(m_full_other.predict_proba(d.features, cpu()).values(),
            m_full.predict_proba(d.features, cpu()).values());
}

TEST(GbtParamsTest, ValidationNamesKeyValueAndRange) {
  auto parse = [](const std::string& yaml) {
    return [yaml] { GbtParams::from_yaml(YAML::Load(yaml), "model"); };
  };
  EXPECT_THAT(parse("name: gbt\nn_rounds: 0\n"),
              ::testing::ThrowsMessage<Error>(
                  AllOf(HasSubstr("'model.n_rounds'"), HasSubstr("0"), HasSubstr("[1, 100000]"))));
  EXPECT_THAT(parse("name: gbt\nsubsample: 1.5\n"),
              ::testing::ThrowsMessage<Error>(AllOf(HasSubstr("'model.subsample'"),
                                                    HasSubstr("1.5"), HasSubstr("[1e-06, 1]"))));
  EXPECT_THAT(parse("name: gbt\nmax_bins: 300\n"),
              ::testing::ThrowsMessage<Error>(
                  AllOf(HasSubstr("'model.max_bins'"), HasSubstr("300"), HasSubstr("[2, 256]"))));
  EXPECT_THAT(parse("name: gbt\nl2: -1\n"),
              ::testing::ThrowsMessage<Error>(AllOf(HasSubstr("'model.l2'"), HasSubstr("-1"))));
  EXPECT_THAT(parse("name: gbt\nn_estimators: 10\n"),
              ::testing::ThrowsMessage<Error>(
                  AllOf(HasSubstr("'model.n_estimators' does not exist"), HasSubstr("n_rounds"),
                        HasSubstr("early_stopping_rounds"))));
  auto p = GbtParams::from_yaml(
      YAML::Load("name: gbt\nn_rounds: 7\nlearning_rate: 0.3\nmax_depth: 5\nsubsample: 0.5\n"
                 "min_samples_leaf: 3\nl2: 0\nmin_child_weight: 2\nmax_bins: 64\n"
                 "early_stopping_rounds: 4\n"),
      "model");
  EXPECT_EQ(p.n_rounds, 7);
  EXPECT_EQ(p.learning_rate, 0.3);
  EXPECT_EQ(p.max_depth, 5);
  EXPECT_EQ(p.subsample, 0.5);
  EXPECT_EQ(p.min_samples_leaf, 3);
  EXPECT_EQ(p.l2, 0.0);
  EXPECT_EQ(p.min_child_weight, 2.0);
  EXPECT_EQ(p.max_bins, 64);
  EXPECT_EQ(p.early_stopping_rounds, 4);
  // The registry builds it from a model spec.
  auto model = builtin_models().make(YAML::Load("name: gbt\nn_rounds: 3\n"), "model");
  EXPECT_EQ(model->name(), "gbt");
}

TEST(GbtParamsTest, MinSamplesLeafIsRespected) {
  Dataset d = blobs(200, 9, 1.0, {0, 1}, 2, 3);
  GbtParams p;
  p.n_rounds = 5;
  p.max_depth = 6;
  p.min_samples_leaf = 30;
  p.min_child_weight = 0.0;
  GbtClassifier model(p);
  model.fit(d, nullptr, cpu());
  // Count the training rows in each leaf of every tree.
  for (std::size_t r = 0; r < model.n_rounds(); ++r) {
    const auto& t = model.tree(r, 0);
    std::vector<std::size_t> rows(t.size(), 0);
    for (std::size_t i = 0; i < d.size(); ++i) {
      std::int32_t n = 0;
      while (t[static_cast<std::size_t>(n)].feature >= 0) {
        const auto& node = t[static_cast<std::size_t>(n)];
        n = d.features(i, static_cast<std::size_t>(node.feature)) <= node.threshold ? node.left
                                                                                    : node.right;
      }
      ++rows[static_cast<std::size_t>(n)];
    }
    for (std::size_t n = 0; n < t.size(); ++n)
      if (t[n].feature < 0) EXPECT_GE(rows[n], 30u) << "round " << r << " leaf " << n;
  }
}

}  // namespace
}  // namespace deferbench
