#include "models/torch/logreg.h"

#include <cmath>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/util/error.h"
#include "models/registry.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

using ::testing::HasSubstr;

// Three Gaussian blobs in 4-d, labels over a 5-class global space (classes 1 and 4 unused).
Dataset blobs(std::size_t n, std::uint64_t seed, double spread) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, spread);
  const double centres[3][4] = {{2, 0, 0, 1}, {0, 2, 0, -1}, {0, 0, 2, 0}};
  const LabelId ids[3] = {0, 2, 3};
  Dataset d;
  d.labels = std::make_shared<LabelSpace>(std::vector<std::string>{"0", "1", "2", "3", "4"});
  d.features = Matrix(n, 4);
  for (std::size_t i = 0; i < n; ++i) {
    int c = static_cast<int>(i % 3);
    for (int j = 0; j < 4; ++j) d.features(i, j) = static_cast<float>(centres[c][j] + noise(rng));
    d.teacher.push_back(ids[c]);
  }
  return d;
}

Context cpu() {
  return Context{Device::kCpu, 7, 1};
}

TEST(TorchLogReg, SolvesTheScikitLearnObjective) {
  // At the optimum of C·Σ CE + ½‖W‖², the gradient C·Σ_i (p_i − y_i) x̃_iᵀ + W is zero, and
  // Σ_i (p_i − y_i) = 0 for the unpenalized intercept. Checked here in double precision,
  // independently of LibTorch, on the standardized features x̃ the model uses.
  Dataset d = blobs(300, 1, 1.5);  // overlapping: a finite optimum
  LogRegParams p;
  p.C = 0.5;
  p.max_iter = 500;
  p.tol = 1e-7;
  TorchLogReg model(p);
  model.fit(d, nullptr, cpu());
  Matrix proba = model.predict_proba(d.features, cpu());

  // Standardization recomputed independently from the data.
  const std::size_t n = d.size(), dim = 4;
  std::vector<double> mean(dim, 0), sd(dim, 0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < dim; ++j) mean[j] += d.features(i, j) / n;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < dim; ++j) sd[j] += std::pow(d.features(i, j) - mean[j], 2) / n;
  for (std::size_t j = 0; j < dim; ++j) {
    sd[j] = std::sqrt(sd[j]);
    EXPECT_NEAR(model.mean()[j], mean[j], 1e-4);
    EXPECT_NEAR(model.scale()[j], 1.0 / sd[j], 1e-4);
  }

  ASSERT_EQ(model.classes(), (std::vector<std::int32_t>{0, 2, 3}));
  double worst = 0;
  for (std::size_t c = 0; c < 3; ++c) {
    const LabelId cls = model.classes()[c];
    double gb = 0;
    std::vector<double> gw(dim, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      double r = proba(i, cls) - (d.teacher[i] == cls ? 1.0 : 0.0);
      gb += p.C * r;
      for (std::size_t j = 0; j < dim; ++j) gw[j] += p.C * r * (d.features(i, j) - mean[j]) / sd[j];
    }
    worst = std::max(worst, std::abs(gb));
    for (std::size_t j = 0; j < dim; ++j)
      worst = std::max(worst, std::abs(gw[j] + model.weight()(c, j)));
  }
  // Relative to the size of the data term (C·n): a converged solution, not a rough one.
  EXPECT_LT(worst / (p.C * n), 1e-4);
  // And the weights are not trivially zero (the condition is not vacuous).
  EXPECT_GT(std::abs(model.weight()(0, 0)), 0.1);
}

TEST(TorchLogReg, UnseenClassesGetExactlyZeroAndRowsSumToOne) {
  Dataset d = blobs(150, 2, 0.5);
  TorchLogReg model(LogRegParams{});
  model.fit(d, nullptr, cpu());
  ASSERT_EQ(model.n_classes(), 5u);
  Matrix proba = model.predict_proba(d.features, cpu());
  ASSERT_EQ(proba.cols(), 5u);
  for (std::size_t i = 0; i < proba.rows(); ++i) {
    EXPECT_EQ(proba(i, 1), 0.0f);
    EXPECT_EQ(proba(i, 4), 0.0f);
    double sum = 0;
    for (std::size_t j = 0; j < 5; ++j) sum += proba(i, j);
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
  // Well separated blobs: nearly perfect on the training data.
  auto pred = model.predict(d.features, cpu());
  std::size_t right = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) right += pred[i] == d.teacher[i];
  EXPECT_GE(right, 147u);
}

TEST(TorchLogReg, SaveLoadPredictsIdentically) {
  Dataset d = blobs(120, 3, 1.0);
  TorchLogReg model(LogRegParams{});
  model.fit(d, nullptr, cpu());
  testing::TempDir dir;
  model.save(dir / "logreg.bin");
  auto loaded = builtin_models().load(dir / "logreg.bin");
  EXPECT_EQ(loaded->name(), "logreg");
  EXPECT_EQ(loaded->predict_proba(d.features, cpu()).values(),
            model.predict_proba(d.features, cpu()).values());
}

TEST(TorchLogReg, DeterministicForAContextAndChunkingDoesNotChangeTheFit) {
  Dataset d = blobs(200, 4, 1.2);
  TorchLogReg a(LogRegParams{}), b(LogRegParams{});
  a.fit(d, nullptr, cpu());
  b.fit(d, nullptr, cpu());
  EXPECT_EQ(a.predict_proba(d.features, cpu()).values(),
            b.predict_proba(d.features, cpu()).values());
  LogRegParams small;
  small.batch_rows = 7;  // gradients accumulated over 29 chunks
  TorchLogReg c(small);
  c.fit(d, nullptr, cpu());
  Matrix pa = a.predict_proba(d.features, cpu()), pc = c.predict_proba(d.features, cpu());
  for (std::size_t i = 0; i < pa.size(); ++i) EXPECT_NEAR(pa.data()[i], pc.data()[i], 1e-3);
}

TEST(TorchLogReg, ParamsFromYamlValidate) {
  EXPECT_THAT([] { LogRegParams::from_yaml(YAML::Load("name: logreg\nC: 0\n"), "model"); },
              ::testing::ThrowsMessage<Error>(AllOf(HasSubstr("'model.C'"), HasSubstr("[1e-06"))));
  EXPECT_THAT([] { LogRegParams::from_yaml(YAML::Load("name: logreg\nepochs: 3\n"), "model"); },
              ::testing::ThrowsMessage<Error>(
                  AllOf(HasSubstr("'model.epochs' does not exist"), HasSubstr("max_iter"))));
  auto p = LogRegParams::from_yaml(YAML::Load("name: logreg\nC: 10\n"), "model");
  EXPECT_EQ(p.C, 10.0);
}

TEST(ModelRegistry, UnknownModelListsTheValidOnes) {
  EXPECT_THAT([] { builtin_models().make(YAML::Load("name: svm\n"), "model"); },
              ::testing::ThrowsMessage<Error>(
                  AllOf(HasSubstr("unknown model 'svm'"), HasSubstr("logreg"))));
}

TEST(ModelRegistry, ForeignFileIsAnError) {
  testing::TempDir dir;
  auto f = dir.write("x.bin", "hello, not a model");
  EXPECT_THAT([&] { builtin_models().load(f); },
              ::testing::ThrowsMessage<Error>(HasSubstr("x.bin")));
}

}  // namespace
}  // namespace deferbench
