#include "models/dense/logreg.h"

#include <algorithm>
#include <cmath>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/util/error.h"
#include "models/backend.h"
#include "models/registry.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

using ::testing::HasSubstr;

using testing::blobs;

Context cpu() {
  return Context{Device::kCpu, 7, 1};
}

TEST(LogReg, SolvesTheScikitLearnObjective) {
  // At the optimum of C·Σ CE + ½‖W‖², the gradient C·Σ_i (p_i − y_i) x̃_iᵀ + W is zero, and
  // Σ_i (p_i − y_i) = 0 for the unpenalized intercept. Checked here in double precision,
  // independently of LibTorch, on the standardized features x̃ the model uses.
  Dataset d = blobs(300, 1, 1.5);  // overlapping: a finite optimum
  LogRegParams p;
  p.C = 0.5;
  p.max_iter = 500;
  p.tol = 1e-7;
  LogReg model(p);
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

TEST(LogReg, UnseenClassesGetExactlyZeroAndRowsSumToOne) {
  Dataset d = blobs(150, 2, 0.5);
  LogReg model(LogRegParams{});
  model.fit(d, nullptr, cpu());
  ASSERT_EQ(model.n_classes(), 5u);
  Matrix proba = model.predict_proba(d.features, cpu());
  ASSERT_EQ(proba.cols(), 5u);
  testing::expect_distributions(proba, {1, 4});
  // Well separated blobs: nearly perfect on the training data.
  auto pred = model.predict(d.features, cpu());
  std::size_t right = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) right += pred[i] == d.teacher[i];
  EXPECT_GE(right, 147u);
}

TEST(LogReg, SaveLoadPredictsIdentically) {
  Dataset d = blobs(120, 3, 1.0);
  LogReg model(LogRegParams{});
  model.fit(d, nullptr, cpu());
  testing::TempDir dir;
  model.save(dir / "logreg.bin");
  auto loaded = builtin_models().load(dir / "logreg.bin");
  EXPECT_EQ(loaded->name(), "logreg");
  EXPECT_EQ(loaded->predict_proba(d.features, cpu()).values(),
            model.predict_proba(d.features, cpu()).values());
}

TEST(LogReg, DeterministicForAContextAndChunkingDoesNotChangeTheFit) {
  Dataset d = blobs(200, 4, 1.2);
  LogReg a(LogRegParams{}), b(LogRegParams{});
  a.fit(d, nullptr, cpu());
  b.fit(d, nullptr, cpu());
  EXPECT_EQ(a.predict_proba(d.features, cpu()).values(),
            b.predict_proba(d.features, cpu()).values());
  LogRegParams small;
  small.batch_rows = 7;  // gradients accumulated over 29 chunks
  LogReg c(small);
  c.fit(d, nullptr, cpu());
  Matrix pa = a.predict_proba(d.features, cpu()), pc = c.predict_proba(d.features, cpu());
  for (std::size_t i = 0; i < pa.size(); ++i) EXPECT_NEAR(pa.data()[i], pc.data()[i], 1e-3);
}

TEST(LogReg, ParamsFromYamlValidate) {
  EXPECT_THAT([] { LogRegParams::from_yaml(YAML::Load("name: logreg\nC: 0\n"), "model"); },
              ::testing::ThrowsMessage<Error>(AllOf(HasSubstr("'model.C'"), HasSubstr("[1e-06"))));
  EXPECT_THAT([] { LogRegParams::from_yaml(YAML::Load("name: logreg\nepochs: 3\n"), "model"); },
              ::testing::ThrowsMessage<Error>(
                  AllOf(HasSubstr("'model.epochs' does not exist"), HasSubstr("max_iter"))));
  auto p = LogRegParams::from_yaml(YAML::Load("name: logreg\nC: 10\n"), "model");
  EXPECT_EQ(p.C, 10.0);
}

// C·Σ_i CE_i + ½‖W‖² (scikit-learn's objective) of a fitted model, in double.
double sklearn_objective(const LogReg& model, const Dataset& d, const Context& ctx) {
  Matrix proba = model.predict_proba(d.features, ctx);
  double ce = 0;
  for (std::size_t i = 0; i < d.size(); ++i)
    ce -= std::log(static_cast<double>(proba(i, static_cast<std::size_t>(d.teacher[i]))));
  double sq = 0;
  for (float w : model.weight().values()) sq += static_cast<double>(w) * w;
  return model.params().C * ce + 0.5 * sq;
}

// One test body per behaviour, run on the CPU and on CUDA; the CUDA instance skips itself at run
// time where no GPU is usable.
class LogRegDevice : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override {
    if (GetParam() == Device::kCuda && !cuda_available())
      GTEST_SKIP() << "no usable CUDA device (the CPU instance of this test ran)";
  }
  Context ctx() const { return Context{GetParam(), 7, 1}; }
};

// CUDA vs CPU: L-BFGS to a tight tolerance on a convex problem reaches the same optimum.
constexpr double kCudaLbfgsTolerance = 1e-3;

TEST_P(LogRegDevice, AdamReachesTheLbfgsSolution) {
  Dataset d = blobs(300, 1, 1.5);
  LogRegParams lbfgs;
  lbfgs.C = 0.5;
  lbfgs.max_iter = 500;
  lbfgs.tol = 1e-7;
  LogRegParams adam = lbfgs;
  adam.solver = LogRegSolver::kAdam;
  adam.lr = 1e-2;
  adam.batch_size = 300;  // full batch: Adam's noise floor is its step size only
  adam.max_epochs = 1500;
  adam.tol = 0;
  adam.patience = 100000;
  LogReg exact(lbfgs), approx(adam);
  exact.fit(d, nullptr, ctx());
  approx.fit(d, nullptr, ctx());
  EXPECT_EQ(approx.epochs_run(), 1500);
  const double f_exact = sklearn_objective(exact, d, ctx());
  const double f_adam = sklearn_objective(approx, d, ctx());
  EXPECT_GE(f_adam, f_exact * (1 - 1e-6));  // L-BFGS found the minimum
  EXPECT_LT(f_adam, f_exact * 1.002);
  Matrix pe = exact.predict_proba(d.features, ctx()), pa = approx.predict_proba(d.features, ctx());
  for (std::size_t i = 0; i < pe.size(); ++i) EXPECT_NEAR(pa.data()[i], pe.data()[i], 0.02);

  // Minibatches of 32 with the per-batch scaling of the penalty: close to the same optimum.
  adam.batch_size = 32;
  adam.lr = 2e-3;
  adam.max_epochs = 300;
  LogReg mini(adam);
  mini.fit(d, nullptr, ctx());
  EXPECT_LT(sklearn_objective(mini, d, ctx()), f_exact * 1.01);
}

TEST_P(LogRegDevice, AdamEarlyStoppingKeepsTheBestValidationWeights) {
  // Few rows, many noise features, weak regularization: the validation loss turns up.
  std::mt19937_64 rng(5);
  std::normal_distribution<double> noise(0.0, 1.0);
  auto make = [&](std::size_t n) {
    Dataset d;
    d.labels = std::make_shared<LabelSpace>(std::vector<std::string>{"a", "b", "c"});
    d.features = Matrix(n, 40);
    for (std::size_t i = 0; i < n; ++i) {
      const int c = static_cast<int>(i % 3);
      for (int j = 0; j < 40; ++j)
        d.features(i, j) = static_cast<float>(noise(rng) + (j == c ? 1.0 : 0.0));
      d.teacher.push_back(c);
    }
    return d;
  };
  Dataset train = make(60), val = make(300);
  LogRegParams p;
  p.solver = LogRegSolver::kAdam;
  p.C = 1e4;
  p.lr = 1e-2;
  p.batch_size = 20;
  p.max_epochs = 2000;
  p.patience = 10;
  LogReg model(p);
  model.fit(train, &val, ctx());
  EXPECT_LT(model.epochs_run(), 2000);
  EXPECT_GT(model.best_epoch(), 1);
  EXPECT_LT(model.best_epoch(), model.epochs_run());

  // The kept weights beat the ones a fit stopped at the last epoch would have.
  auto val_ce = [&](const LogReg& m) {
    Matrix proba = m.predict_proba(val.features, ctx());
    double ce = 0;
    for (std::size_t i = 0; i < val.size(); ++i)
      ce -= std::log(static_cast<double>(proba(i, static_cast<std::size_t>(val.teacher[i]))));
    return ce / static_cast<double>(val.size());
  };
  // The same run (same shuffles) without validation data and with no stopping ends on its last
  // epoch's weights.
  LogRegParams last = p;
  last.max_epochs = model.epochs_run();
  last.patience = 100000;
  LogReg through(last);
  through.fit(train, nullptr, ctx());
  EXPECT_EQ(through.epochs_run(), model.epochs_run());
  EXPECT_LT(val_ce(model), val_ce(through) - 1e-3);
  // Without validation data, the same run goes on past the point where it stopped.
  LogReg no_val(p);
  no_val.fit(train, nullptr, ctx());
  EXPECT_GT(no_val.epochs_run(), model.epochs_run());
}

TEST_P(LogRegDevice, SaveLoadPredictsIdenticallyAndMatchesTheCpu) {
  Dataset d = blobs(150, 3, 1.0);
  LogRegParams p;
  p.max_iter = 500;
  p.tol = 1e-7;
  LogReg model(p), on_cpu(p);
  model.fit(d, nullptr, ctx());
  on_cpu.fit(d, nullptr, cpu());
  testing::TempDir dir;
  model.save(dir / "logreg.bin");
  auto loaded = builtin_models().load(dir / "logreg.bin");
  Matrix here = model.predict_proba(d.features, ctx());
  EXPECT_EQ(loaded->predict_proba(d.features, ctx()).values(), here.values());
  Matrix ref = on_cpu.predict_proba(d.features, cpu());
  for (std::size_t i = 0; i < ref.size(); ++i)
    EXPECT_NEAR(here.data()[i], ref.data()[i], kCudaLbfgsTolerance);
}

INSTANTIATE_TEST_SUITE_P(LogReg, LogRegDevice, ::testing::Values(Device::kCpu, Device::kCuda),
                         [](const ::testing::TestParamInfo<Device>& info) {
                           return std::string(device_name(info.param));
                         });

TEST(LogReg, AdamParamsFromYaml) {
  auto p = LogRegParams::from_yaml(
      YAML::Load("name: logreg\nsolver: adam\nlr: 0.05\nbatch_size: 64\nmax_epochs: 7\n"), "model");
  EXPECT_EQ(p.solver, LogRegSolver::kAdam);
  EXPECT_EQ(p.lr, 0.05);
  EXPECT_EQ(p.batch_size, 64);
  EXPECT_EQ(p.max_epochs, 7);
  EXPECT_THAT([] { LogRegParams::from_yaml(YAML::Load("name: logreg\nsolver: sgd\n"), "model"); },
              ::testing::ThrowsMessage<Error>(
                  AllOf(HasSubstr("'model.solver'"), HasSubstr("lbfgs"), HasSubstr("adam"))));
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
