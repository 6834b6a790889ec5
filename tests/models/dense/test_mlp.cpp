#include "models/dense/mlp.h"

#include <algorithm>
#include <cmath>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/util/error.h"
#include "models/backend.h"
#include "models/dense/logreg.h"
#include "models/registry.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

using ::testing::HasSubstr;

// CUDA vs CPU: the same computation in a different order of float operations.
constexpr double kCudaInferenceTolerance = 1e-5;  // same weights, predicted on either device
constexpr double kCudaTrainingTolerance = 5e-2;   // trained on either device (an easy problem)
// Inference in chunks of different sizes (the BLAS may block rows differently).
constexpr double kChunkTolerance = 1e-6;

// XOR in the first two coordinates (class = sign(x0) ≠ sign(x1)), plus two noise coordinates:
// no linear model does better than chance.
Dataset xor_data(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  Dataset d;
  d.labels = std::make_shared<LabelSpace>(std::vector<std::string>{"a", "b"});
  d.features = Matrix(n, 4);
  for (std::size_t i = 0; i < n; ++i) {
    for (int j = 0; j < 4; ++j) d.features(i, j) = static_cast<float>(u(rng));
    d.teacher.push_back((d.features(i, 0) > 0) != (d.features(i, 1) > 0) ? 1 : 0);
  }
  return d;
}

using testing::blobs;

double accuracy(const Classifier& model, const Dataset& d, const Context& ctx) {
  auto pred = model.predict(d.features, ctx);
  std::size_t right = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) right += pred[i] == d.teacher[i];
  return static_cast<double>(right) / static_cast<double>(pred.size());
}

double max_abs_diff(const Matrix& a, const Matrix& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    worst = std::max(worst, static_cast<double>(std::abs(a.data()[i] - b.data()[i])));
  return worst;
}

MlpParams small_mlp() {
  MlpParams p;
  p.hidden = {16};
  p.lr = 1e-2;
  p.max_epochs = 60;
  return p;
}

Context cpu() {
  return Context{Device::kCpu, 7, 1};
}

// One test body per behaviour, run on the CPU and on CUDA; the CUDA instance skips itself at run
// time where no GPU is usable.
class MlpDevice : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override {
    if (GetParam() == Device::kCuda && !cuda_available())
      GTEST_SKIP() << "no usable CUDA device (the CPU instance of this test ran)";
  }
  Context ctx(std::uint64_t seed = 7) const { return Context{GetParam(), seed, 1}; }
};

TEST_P(MlpDevice, LearnsXorThatALinearModelCannot) {
  Dataset train = xor_data(800, 1), test = xor_data(400, 2);
  MlpParams p;
  p.hidden = {32};
  p.lr = 1e-2;
  p.max_epochs = 150;
  Mlp mlp("mlp_1h", p);
  mlp.fit(train, nullptr, ctx());
  LogReg linear(LogRegParams{});
  linear.fit(train, nullptr, ctx());
  const double mlp_acc = accuracy(mlp, test, ctx()), linear_acc = accuracy(linear, test, ctx());
  EXPECT_GT(mlp_acc, 0.9);
  EXPECT_LT(linear_acc, 0.7);
  EXPECT_GT(mlp_acc, linear_acc + 0.25);
}

TEST_P(MlpDevice, RowsSumToOneAndAbsentClassesGetExactlyZero) {
  Dataset d = blobs(150, 2, 0.5);
  Mlp model("mlp_2h", small_mlp());
  model.fit(d, nullptr, ctx());
  ASSERT_EQ(model.n_classes(), 5u);
  EXPECT_EQ(model.classes(), (std::vector<std::int32_t>{0, 2, 3}));
  Matrix proba = model.predict_proba(d.features, ctx());
  ASSERT_EQ(proba.cols(), 5u);
  testing::expect_distributions(proba, {1, 4});
  EXPECT_GE(accuracy(model, d, ctx()), 0.97);
}

TEST_P(MlpDevice, SaveLoadPredictsIdentically) {
  Dataset d = blobs(120, 3, 1.0);
  MlpParams p = small_mlp();
  p.hidden = {16, 8};
  Mlp model("mlp_2h", p);
  model.fit(d, nullptr, ctx());
  testing::TempDir dir;
  model.save(dir / "mlp.bin");
  auto loaded = builtin_models().load(dir / "mlp.bin");
  EXPECT_EQ(loaded->name(), "mlp_2h");
  EXPECT_EQ(loaded->n_classes(), 5u);
  EXPECT_EQ(loaded->predict_proba(d.features, ctx()).values(),
            model.predict_proba(d.features, ctx()).values());
}

TEST_P(MlpDevice, SameSeedSameModelOtherSeedOtherModel) {
  Dataset d = blobs(200, 4, 1.2), val = blobs(90, 5, 1.2);
  Mlp a("mlp_1h", small_mlp()), b("mlp_1h", small_mlp()), c("mlp_1h", small_mlp());
  a.fit(d, &val, ctx(11));
  b.fit(d, &val, ctx(11));
  c.fit(d, &val, ctx(12));
  ASSERT_EQ(a.weights().size(), 2u);
  for (std::size_t l = 0; l < a.weights().size(); ++l) {
    EXPECT_EQ(a.weights()[l].values(), b.weights()[l].values());
    EXPECT_EQ(a.biases()[l], b.biases()[l]);
  }
  EXPECT_EQ(a.predict_proba(val.features, ctx()).values(),
            b.predict_proba(val.features, ctx()).values());
  EXPECT_NE(a.weights()[0].values(), c.weights()[0].values());
}

TEST_P(MlpDevice, EarlyStoppingStopsOnAnEasyProblemAndKeepsTheBestWeights) {
  Dataset train = blobs(300, 6, 0.6), val = blobs(150, 7, 0.6);
  MlpParams p = small_mlp();
  p.max_epochs = 1000;
  p.patience = 5;
  Mlp model("mlp_1h", p);
  model.fit(train, &val, ctx());
  EXPECT_TRUE(model.stopped_early());
  EXPECT_LT(model.epochs_run(), 1000);
  ASSERT_EQ(model.val_loss().size(), static_cast<std::size_t>(model.epochs_run()));
  // Stopped after more than `patience` epochs in a row without improving by tol.
  EXPECT_GE(model.epochs_run() - model.best_epoch(), 1);
  EXPECT_LE(model.epochs_run() - model.best_epoch(), p.patience + 1);
  // The kept weights are the best validation epoch's: recompute their validation loss.
  const double best = *std::min_element(model.val_loss().begin(), model.val_loss().end());
  EXPECT_EQ(model.val_loss()[static_cast<std::size_t>(model.best_epoch() - 1)], best);
  Matrix proba = model.predict_proba(val.features, ctx());
  double ce = 0;
  for (std::size_t i = 0; i < val.size(); ++i)
    ce -= std::log(static_cast<double>(proba(i, static_cast<std::size_t>(val.teacher[i]))));
  ce /= static_cast<double>(val.size());
  EXPECT_NEAR(ce, best, 1e-4 * std::max(1.0, best));
  EXPECT_GT(model.val_loss().back(), best);
}

TEST_P(MlpDevice, ChunkedInferenceEqualsOneBatch) {
  Dataset d = blobs(101, 8, 1.0);
  MlpParams small = small_mlp(), large = small_mlp();
  small.batch_rows = 7;  // 15 chunks, the last one of 3 rows
  large.batch_rows = 1 << 20;
  Mlp a("mlp_1h", small), b("mlp_1h", large);
  a.fit(d, nullptr, ctx());
  b.fit(d, nullptr, ctx());
  // Without validation data, batch_rows only chunks the copy to the device: the same fit.
  EXPECT_EQ(a.weights()[0].values(), b.weights()[0].values());
  EXPECT_LE(max_abs_diff(a.predict_proba(d.features, ctx()), b.predict_proba(d.features, ctx())),
            kChunkTolerance);
}

TEST_P(MlpDevice, MatchesTheCpu) {
  Dataset d = blobs(150, 9, 0.8);
  Mlp here("mlp_1h", small_mlp()), on_cpu("mlp_1h", small_mlp());
  here.fit(d, nullptr, ctx());
  on_cpu.fit(d, nullptr, cpu());
  // The same weights predicted on this device and on the CPU.
  EXPECT_LE(max_abs_diff(on_cpu.predict_proba(d.features, ctx()),
                         on_cpu.predict_proba(d.features, cpu())),
            kCudaInferenceTolerance);
  // Trained here vs on the CPU: the same initial weights and batches, float rounding apart.
  EXPECT_LE(
      max_abs_diff(here.predict_proba(d.features, cpu()), on_cpu.predict_proba(d.features, cpu())),
      kCudaTrainingTolerance);
}

INSTANTIATE_TEST_SUITE_P(Mlp, MlpDevice, ::testing::Values(Device::kCpu, Device::kCuda),
                         [](const ::testing::TestParamInfo<Device>& info) {
                           return std::string(device_name(info.param));
                         });

// softmax(W_L σ(… σ(W_1 ((x − mean) ⊙ scale) + b_1) …) + b_L) in double, scattered into the
// global label space: the forward pass computed independently of the inference code.
Matrix forward_in_double(MatrixView x, const std::vector<Matrix>& weights,
                         const std::vector<std::vector<float>>& biases,
                         const std::vector<float>& mean, const std::vector<float>& scale,
                         const std::string& activation, const std::vector<std::int32_t>& classes,
                         std::size_t n_classes) {
  Matrix out(x.rows(), n_classes, 0.0f);
  for (std::size_t i = 0; i < x.rows(); ++i) {
    std::vector<double> h(x.cols());
    for (std::size_t j = 0; j < x.cols(); ++j)
      h[j] = (static_cast<double>(x(i, j)) - mean[j]) * scale[j];
    for (std::size_t l = 0; l < weights.size(); ++l) {
      std::vector<double> next(weights[l].rows());
      for (std::size_t o = 0; o < next.size(); ++o) {
        double z = biases[l][o];
        for (std::size_t j = 0; j < h.size(); ++j)
          z += static_cast<double>(weights[l](o, j)) * h[j];
        if (l + 1 < weights.size())
          z = activation == "tanh"   ? std::tanh(z)
              : activation == "relu" ? std::max(z, 0.0)
                                     : 1 / (1 + std::exp(-z));
        next[o] = z;
      }
      h = std::move(next);
    }
    const double top = *std::max_element(h.begin(), h.end());
    double sum = 0;
    for (double& v : h) sum += v = std::exp(v - top);
    for (std::size_t c = 0; c < classes.size(); ++c)
      out(i, static_cast<std::size_t>(classes[c])) = static_cast<float>(h[c] / sum);
  }
  return out;
}

// Every inference path — plain C++ for at most 16 rows, LibTorch in one chunk, LibTorch in
// several chunks (more rows than a CPU chunk) — against the independent double forward pass,
// for an MLP (tanh, classes 0, 2, 3 of 5) and a standardized logistic regression (folded into
// its first layer).
TEST(DenseInference, EveryBatchSizeMatchesAnIndependentForwardPass) {
  const Dataset train = blobs(300, 21, 1.0);
  const Dataset big = blobs(4096 + 905, 22, 1.5);
  MlpParams p = small_mlp();
  p.hidden = {12, 7};
  p.activation = "tanh";
  Mlp mlp("mlp_2h", p);
  mlp.fit(train, nullptr, cpu());
  LogRegParams lp;
  lp.standardize = true;
  LogReg logreg(lp);
  logreg.fit(train, nullptr, cpu());
  const std::vector<float> zeros(4, 0.0f), ones(4, 1.0f);
  const Matrix want_mlp = forward_in_double(big.features, mlp.weights(), mlp.biases(), zeros, ones,
                                            "tanh", mlp.classes(), 5);
  const Matrix want_logreg =
      forward_in_double(big.features, {logreg.weight()}, {logreg.bias()}, logreg.mean(),
                        logreg.scale(), "relu", logreg.classes(), 5);
  for (std::size_t rows :
       {std::size_t{1}, std::size_t{16}, std::size_t{17}, std::size_t{300}, big.size()}) {
    SCOPED_TRACE(rows);
    const MatrixView x = big.features.view().slice_rows(0, rows);
    const Matrix got_mlp = mlp.predict_proba(x, cpu()), got_logreg = logreg.predict_proba(x, cpu());
    ASSERT_EQ(got_mlp.rows(), rows);
    EXPECT_LE(max_abs_diff(got_mlp, Matrix::copy_of(want_mlp.view().slice_rows(0, rows))), 2e-6);
    EXPECT_LE(max_abs_diff(got_logreg, Matrix::copy_of(want_logreg.view().slice_rows(0, rows))),
              2e-6);
    testing::expect_distributions(got_mlp, {1, 4});
    testing::expect_distributions(got_logreg, {1, 4});
  }
}

TEST(Mlp, RegisteredNamesCarryTheirHiddenSizes) {
  auto one = builtin_models().make(YAML::Load("name: mlp_1h\n"), "model");
  auto two = builtin_models().make(YAML::Load("name: mlp_2h\n"), "model");
  EXPECT_EQ(one->name(), "mlp_1h");
  EXPECT_EQ(dynamic_cast<const Mlp&>(*one).params().hidden, (std::vector<int>{256}));
  EXPECT_EQ(dynamic_cast<const Mlp&>(*two).params().hidden, (std::vector<int>{256, 96}));
  auto custom = builtin_models().make(YAML::Load("name: mlp_2h\nhidden: [64, 32]\n"), "model");
  EXPECT_EQ(dynamic_cast<const Mlp&>(*custom).params().hidden, (std::vector<int>{64, 32}));
  const MlpParams& p = dynamic_cast<const Mlp&>(*one).params();
  EXPECT_EQ(p.alpha, 1e-4);
  EXPECT_EQ(p.lr, 1e-3);
  EXPECT_EQ(p.batch_size, 200);
  EXPECT_EQ(p.max_epochs, 200);
  EXPECT_EQ(p.patience, 10);
}

TEST(Mlp, ParamsFromYamlValidate) {
  MlpParams defaults;
  EXPECT_THAT(
      [&] { MlpParams::from_yaml(YAML::Load("name: mlp_1h\nhidden: [0]\n"), "model", defaults); },
      ::testing::ThrowsMessage<Error>(AllOf(HasSubstr("'model.hidden'"), HasSubstr("[1, 65536]"))));
  EXPECT_THAT([&] { MlpParams::from_yaml(YAML::Load("name: mlp_1h\nC: 3\n"), "model", defaults); },
              ::testing::ThrowsMessage<Error>(
                  AllOf(HasSubstr("'model.C' does not exist"), HasSubstr("alpha"))));
  EXPECT_THAT(
      [&] {
        MlpParams::from_yaml(YAML::Load("name: mlp_1h\nactivation: gelu\n"), "model", defaults);
      },
      ::testing::ThrowsMessage<Error>(HasSubstr("relu")));
  auto p = MlpParams::from_yaml(YAML::Load("name: mlp_1h\nhidden: []\nalpha: 0.01\n"), "model",
                                defaults);
  EXPECT_TRUE(p.hidden.empty());
  EXPECT_EQ(p.alpha, 0.01);
}

// Where no GPU is usable (this build has no CUDA paths, or LibTorch sees no device), auto
// resolves to the CPU and cuda is an error that says why.
TEST(Device, CudaWithoutAGpuIsAnErrorAndAutoMeansCpu) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is usable here";
  EXPECT_EQ(make_context(Device::kAuto, 0, 1).device, Device::kCpu);
  EXPECT_EQ(make_context(Device::kCpu, 0, 1).device, Device::kCpu);
  EXPECT_EQ(make_context(Device::kCpu, 0, 3).threads, 3);
  const std::string why = DEFERBENCH_CUDA_ENABLED ? "no usable CUDA device" : "no CUDA paths";
  EXPECT_THAT([] { make_context(Device::kCuda, 0, 1); },
              ::testing::ThrowsMessage<Error>(
                  ::testing::AllOf(HasSubstr("device: 'cuda' requested"), HasSubstr(why))));
  EXPECT_THAT([] { make_context(parse_device_request("cuda:1"), 0, 1); },
              ::testing::ThrowsMessage<Error>(HasSubstr("device: 'cuda' requested")));
  Dataset d = blobs(60, 3, 0.5);
  Mlp model("mlp_1h", small_mlp());
  EXPECT_THROW(model.fit(d, nullptr, Context{Device::kCuda, 1, 1}), Error);
}

TEST(Mlp, PredictBeforeFitIsAnError) {
  Mlp model("mlp_1h", MlpParams{});
  Matrix x(2, 4);
  EXPECT_THAT([&] { model.predict_proba(x, cpu()); },
              ::testing::ThrowsMessage<Error>(HasSubstr("before fit")));
}

}  // namespace
}  // namespace deferbench
