// A policy run whole on a device (models/torch/device_policy.h) against route() on the CPU, and
// every zoo model's device form against its predict_proba. One body per behaviour, run with
// LibTorch on the CPU and on CUDA (skipped where no GPU is usable). Named tolerances:
//  - kDenseTol: dense models' probabilities (the device's matrix products against our kernels);
//  - tree models: forests equal bit for bit, boosting within kBoostTol (the softmax's sum
//    order in double);
//  - decisions: equal on every row except where the CPU's score lies within kScoreTol of the
//    row's threshold, or the surrogate's top two probabilities lie within kDenseTol (a tie the
//    device's rounding may break the other way), or (tree acceptors: a feature within float
//    rounding of a split) at most kTreeAcceptorMismatch of the rows.
#include <algorithm>
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "core/model/device_model.h"
#include "core/routing/families.h"
#include "models/backend.h"
#include "models/dense/inference.h"
#include "models/registry.h"
#include "models/torch/device_policy.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

constexpr float kDenseTol = 1e-5f;
constexpr float kBoostTol = 1e-7f;
constexpr float kScoreTol = 1e-5f;
constexpr double kTreeAcceptorMismatch = 0.01;

class DevicePolicyTest : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override {
    if (GetParam() == Device::kCuda && !cuda_available())
      GTEST_SKIP() << "no usable CUDA device (the CPU instance of this test ran)";
  }
  Context ctx() const { return Context{GetParam(), 7, 2}; }
};

// Five classes in 6-d: three easy, two overlapping.
Dataset mixture(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  Dataset d;
  d.labels = std::make_shared<LabelSpace>(std::vector<std::string>{"a", "b", "c", "d", "e"});
  d.features = Matrix(n, 6);
  for (std::size_t i = 0; i < n; ++i) {
    const int c = static_cast<int>(i % 5);
    for (int j = 0; j < 6; ++j)
      d.features(i, j) = g(rng) + (j == std::min(c, 3) ? (c == 4 ? 2.5f : 5.0f) : 0.0f);
    d.teacher.push_back(c);
  }
  return d;
}

ModelFactory factory() {
  return [](const YAML::Node& spec, const std::string& path) {
    return builtin_models().make(spec, path);
  };
}

std::vector<std::string> zoo_specs() {
  std::vector<std::string> specs = {
      "{name: logreg}",           "{name: mlp_1h, hidden: [16], max_epochs: 30}",
      "{name: dt, max_depth: 6}", "{name: rf, n_trees: 12}",
      "{name: et, n_trees: 12}",  "{name: gbt, n_rounds: 8}"};
#ifdef DEFERBENCH_HAVE_XGBOOST
  specs.push_back("{name: xgb, n_rounds: 8}");
#endif
  return specs;
}

TEST_P(DevicePolicyTest, EveryZooModelsDeviceFormPredictsWhatTheModelPredicts) {
  const Dataset train = mixture(600, 1), test = mixture(300, 2);
  const Context cpu{Device::kCpu, 7, 2};
  for (const std::string& spec : zoo_specs()) {
    SCOPED_TRACE(spec);
    std::unique_ptr<Classifier> model = builtin_models().make(YAML::Load(spec), "model");
    model->fit(train, nullptr, cpu);
    const std::shared_ptr<const DeviceModel> form = model->device_model();
    ASSERT_TRUE(form);
    EXPECT_EQ(form->inputs(), 6u);
    EXPECT_EQ(form->n_classes(), 5u);
    const Matrix want = model->predict_proba(test.features, cpu);
    const Matrix got = device_predict_proba(*form, test.features, ctx());
    ASSERT_EQ(got.rows(), want.rows());
    ASSERT_EQ(got.cols(), want.cols());
    const std::string name(model->name());
    const bool forest = name == "dt" || name == "rf" || name == "et";
    const bool boost = name == "gbt" || name == "xgb";
    float worst = 0.0f;
    for (std::size_t i = 0; i < want.size(); ++i) {
      if (forest) ASSERT_EQ(got.data()[i], want.data()[i]) << "entry " << i;
      worst = std::max(worst, std::abs(got.data()[i] - want.data()[i]));
    }
    EXPECT_LE(worst, boost ? kBoostTol : kDenseTol);
  }
}

// The rows where route() and the device policy may differ (see the file comment).
std::vector<std::uint8_t> near_ties(const std::vector<Stage>& stages, const Matrix& x,
                                    const Routed& cpu_routed) {
  const Context cpu{Device::kCpu, 7, 2};
  std::vector<std::uint8_t> near(x.rows(), 0);
  for (const Stage& st : stages) {
    const StageOutput out = evaluate_stage(st, x, cpu);
    const Matrix p = st.surrogate->predict_proba(x, cpu);
    for (std::size_t i = 0; i < x.rows(); ++i) {
      const double t = st.thresholds.size() == 1
                           ? st.thresholds[0]
                           : st.thresholds[static_cast<std::size_t>(out.pred[i])];
      if (std::abs(out.score[i] - t) <= kScoreTol) near[i] = 1;
      std::vector<float> row(p.row(i), p.row(i) + p.cols());
      std::sort(row.rbegin(), row.rend());
      if (row.size() > 1 && row[0] - row[1] <= kDenseTol) near[i] = 1;
    }
  }
  (void)cpu_routed;
  return near;
}

struct PolicyCase {
  const char* name;
  const char* surrogate;
  const char* acceptor;
  int knn;
  bool embedding;
  int stages;
  bool per_class;
  int ood_k;
  bool quantize = false;  // features rounded to integers: exact ties in kNN distances
};

// Rounds every feature to an integer (many rows then sit at exactly equal distances).
Dataset quantized(Dataset d) {
  for (std::size_t i = 0; i < d.features.size(); ++i)
    d.features.data()[i] = std::round(d.features.data()[i]);
  return d;
}

void expect_same_routing(const PolicyCase& c, const Context& ctx) {
  SCOPED_TRACE(c.name);
  auto data = [&](std::size_t n, std::uint64_t seed) {
    return c.quantize ? quantized(mixture(n, seed)) : mixture(n, seed);
  };
  const Dataset train = data(1500, 11), val = data(600, 12), cal = data(600, 13),
                test = data(800, 14);
  const Context cpu{Device::kCpu, 7, 2};
  FamilyOptions opt;
  opt.acceptor.model = YAML::Load(c.acceptor);
  opt.acceptor.knn = c.knn;
  opt.acceptor.use_embedding = c.embedding;
  opt.ood_k = c.ood_k;
  opt.ood_quantile = 0.9;
  CalibrationSettings calib;
  calib.mode = "empirical";
  calib.per_class = c.per_class;
  auto fitted =
      fit_cascade(YAML::Load(c.surrogate), c.stages, train, val, cal, opt, factory(), cpu);
  const bool tree_acceptor = std::string(c.acceptor).find("logreg") == std::string::npos;
  std::size_t handled = 0, compared = 0;
  for (double target : {0.7, 0.85, 0.95}) {
    SCOPED_TRACE(target);
    const BuiltPolicy p = build_policy(c.stages > 1 ? "rsb" : "l2d", fitted, val, cal, target,
                                       calib, opt, CalibrateOn::kCal, 1);
    const Routed want = route(p.stages, test.features, cpu);
    DevicePolicyOptions o;
    o.chunk_rows = 300;         // several chunks
    o.knn_block_floats = 4096;  // several kNN blocks per chunk
    const DevicePolicy policy(p.stages, ctx, o);
    EXPECT_EQ(policy.stages(), p.stages.size());
    const Routed got = policy.route(test.features);
    const Routed resident = policy.route(*policy.upload(test.features));
    for (std::size_t i = 0; i < test.size(); ++i) {
      ASSERT_EQ(resident.stage[i], got.stage[i]) << "row " << i;
      ASSERT_EQ(resident.label[i], got.label[i]) << "row " << i;
      ASSERT_EQ(resident.score[i], got.score[i]) << "row " << i;
    }
    ASSERT_EQ(got.stage.size(), test.size());
    const std::vector<std::uint8_t> near = near_ties(p.stages, test.features, want);
    std::size_t differ = 0;
    for (std::size_t i = 0; i < test.size(); ++i) {
      const bool same = got.stage[i] == want.stage[i] && got.label[i] == want.label[i] &&
                        got.first_prediction[i] == want.first_prediction[i];
      if (!same && !near[i]) ++differ;
      if (same && !near[i] && !tree_acceptor && got.score[i] != want.score[i])
        EXPECT_NEAR(got.score[i], want.score[i], kScoreTol) << "row " << i;
      handled += want.stage[i] >= 0;
      ++compared;
    }
    if (tree_acceptor)
      EXPECT_LE(static_cast<double>(differ), kTreeAcceptorMismatch * test.size());
    else
      EXPECT_EQ(differ, 0u);
  }
  EXPECT_GT(handled, compared / 10) << "the policies should handle traffic for this to mean much";
}

TEST_P(DevicePolicyTest, L2dWithTheKnnFeatureRoutesAsTheCpu) {
  expect_same_routing(
      {"l2d logreg knn", "{name: logreg}", "{name: logreg}", 10, false, 1, false, 0}, ctx());
}

TEST_P(DevicePolicyTest, KnnTiesBreakAsTheCpu) {
  // Integer features: many training rows at exactly the k-th distance; the lower training row
  // must win, as in NeighbourIndex, or the agreement feature moves by multiples of 1/k.
  expect_same_routing(
      {"l2d knn ties", "{name: logreg}", "{name: logreg}", 10, false, 1, false, 5, true}, ctx());
}

TEST_P(DevicePolicyTest, RsbCascadeWithPerClassThresholdsRoutesAsTheCpu) {
  expect_same_routing({"rsb mlp per-class", "{name: mlp_1h, hidden: [16], max_epochs: 30}",
                       "{name: logreg}", 5, false, 2, true, 0},
                      ctx());
}

TEST_P(DevicePolicyTest, TreeSurrogateWithEmbeddingAndGuardRoutesAsTheCpu) {
  expect_same_routing({"gbt + embedding + ood", "{name: gbt, n_rounds: 10}", "{name: logreg}", 10,
                       true, 1, false, 5},
                      ctx());
}

TEST_P(DevicePolicyTest, TreeAcceptorRoutesAsTheCpu) {
  expect_same_routing({"rf + et acceptor", "{name: rf, n_trees: 10}", "{name: et, n_trees: 20}", 10,
                       false, 2, false, 0},
                      ctx());
}

TEST_P(DevicePolicyTest, GlobalAndConstantStagesRouteAsTheCpu) {
  // No acceptor (accept all / none), and a constant acceptor.
  const Dataset train = mixture(500, 21), test = mixture(200, 22);
  const Context cpu{Device::kCpu, 7, 2};
  std::shared_ptr<Classifier> model = builtin_models().make(YAML::Load("{name: dt}"), "model");
  model->fit(train, nullptr, cpu);
  for (double t :
       {-std::numeric_limits<double>::infinity(), 0.5, std::numeric_limits<double>::infinity()}) {
    Stage st;
    st.surrogate = model;
    st.thresholds = {t};
    const Routed want = route({st}, test.features, cpu);
    const Routed got = DevicePolicy({st}, ctx()).route(test.features);
    EXPECT_EQ(got.stage, want.stage);
    EXPECT_EQ(got.label, want.label);
    EXPECT_EQ(got.first_prediction, want.first_prediction);
    EXPECT_EQ(got.score, want.score);
  }
  Stage st;
  st.surrogate = model;
  st.acceptor = std::make_shared<Acceptor>(nullptr, 0);  // scores 0
  st.thresholds = {0.0};
  const Routed got = DevicePolicy({st}, ctx()).route(test.features);
  EXPECT_EQ(got.stage, route({st}, test.features, cpu).stage);
  EXPECT_EQ(std::count(got.stage.begin(), got.stage.end(), 0),
            static_cast<std::ptrdiff_t>(test.size()));
  // No stages: everything to the teacher.
  const Routed none = DevicePolicy({}, ctx()).route(test.features);
  EXPECT_EQ(std::count(none.stage.begin(), none.stage.end(), -1),
            static_cast<std::ptrdiff_t>(test.size()));
}

TEST_P(DevicePolicyTest, APartWithoutADeviceFormIsNamed) {
  Stage st;
  st.thresholds = {0.5};
  EXPECT_EQ(DevicePolicy::unsupported({st}), "stage 1: no surrogate");
  const std::string err = testing::error_of([&] { DevicePolicy({st}, ctx()); });
  EXPECT_NE(err.find("device policy: stage 1: no surrogate"), std::string::npos) << err;
}

TEST_P(DevicePolicyTest, Bf16DeviceFormAgreesWithTheCpuEmulation) {
  // The device runs LibTorch's bf16 products, the CPU emulates them with float kernels: the same
  // roundings, sums in another order, so probabilities agree to a few bf16 steps (kBf16Tol) and
  // the predictions nearly everywhere.
  constexpr float kBf16Tol = 0.03f;
  const Dataset train = mixture(800, 31), test = mixture(400, 32);
  const Context cpu{Device::kCpu, 7, 2};
  for (const char* spec : {"{name: mlp_1h, hidden: [32], max_epochs: 30, precision: bf16}",
                           "{name: logreg, precision: bf16}"}) {
    SCOPED_TRACE(spec);
    std::unique_ptr<Classifier> model = builtin_models().make(YAML::Load(spec), "model");
    model->fit(train, nullptr, cpu);
    const Matrix emulated = model->predict_proba(test.features, cpu);
    const Matrix got = device_predict_proba(*model->device_model(), test.features, ctx());
    float worst = 0.0f;
    for (std::size_t i = 0; i < got.size(); ++i)
      worst = std::max(worst, std::abs(got.data()[i] - emulated.data()[i]));
    EXPECT_LE(worst, kBf16Tol);
    const std::vector<LabelId> a = argmax_rows(got), b = argmax_rows(emulated);
    std::size_t same = 0;
    for (std::size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
    EXPECT_GE(same, a.size() * 99 / 100);
    // And bf16 is not fp32: the same weights in fp32 give other probabilities.
    YAML::Node fp32 = YAML::Load(spec);
    fp32["precision"] = "fp32";
    std::unique_ptr<Classifier> full = builtin_models().make(fp32, "model");
    full->fit(train, nullptr, cpu);
    const Matrix exact = full->predict_proba(test.features, cpu);
    float moved = 0.0f;
    for (std::size_t i = 0; i < exact.size(); ++i)
      moved = std::max(moved, std::abs(exact.data()[i] - emulated.data()[i]));
    EXPECT_GT(moved, 1e-4f);
  }
}

INSTANTIATE_TEST_SUITE_P(DevicePolicy, DevicePolicyTest,
                         ::testing::Values(Device::kCpu, Device::kCuda),
                         [](const auto& info) { return std::string(device_name(info.param)); });

// bf16 inference: the input, the weights and each layer's output rounded to bfloat16, sums in
// float. Values are chosen so that every float sum is exact, so the CPU's emulation must equal
// this hand computation to float rounding of the softmax.
TEST(Bf16, RoundingIsToNearestEven) {
  using dense::round_bf16;
  EXPECT_EQ(round_bf16(1.0f), 1.0f);
  EXPECT_EQ(round_bf16(1.0f + std::ldexp(1.0f, -8)), 1.0f);  // a tie: to the even 1.0
  EXPECT_EQ(round_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 1.0f + std::ldexp(1.0f, -6));
  EXPECT_EQ(round_bf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)),
            1.0f + std::ldexp(1.0f, -7));  // above the tie: up
  EXPECT_EQ(round_bf16(-2.5f), -2.5f);
  EXPECT_TRUE(std::isnan(round_bf16(std::nanf(""))));
  EXPECT_TRUE(std::isinf(round_bf16(std::numeric_limits<float>::max())));
}

TEST(Bf16, CpuInferenceRoundsInputsWeightsAndEveryLayer) {
  using dense::round_bf16;
  // 3 inputs → 2 hidden (relu) → 3 classes. Entries off the bf16 grid by 2^-10 relative get
  // rounded; products of the rounded values are exact in float.
  const float e = std::ldexp(1.0f, -10);
  Matrix w0(2, 3), w1(3, 2);
  const float w0v[6] = {1 + e, -0.5f, 0.25f, 0.75f, 1 + 3 * e, -1.0f};
  const float w1v[6] = {1.0f, -1 - e, 0.5f, 0.5f, -0.25f, 2 + 4 * e};
  std::copy(w0v, w0v + 6, w0.data());
  std::copy(w1v, w1v + 6, w1.data());
  const std::vector<std::vector<float>> biases = {{0.125f + e, -0.0625f}, {0.0f, 0.5f, -e}};
  const std::vector<float> mean(3, 0.0f), scale(3, 1.0f);
  const dense::DenseInference fp32({w0, w1}, biases, dense::Activation::kRelu, mean, scale,
                                   {0, 1, 2}, 3);
  const dense::DenseInference bf16({w0, w1}, biases, dense::Activation::kRelu, mean, scale,
                                   {0, 1, 2}, 3, dense::Precision::kBFloat16);
  Matrix x(2, 3);
  const float xv[6] = {1 + 2 * e, 2.0f, -0.5f - e, 0.5f, -1.0f + 8 * e, 3.0f};
  std::copy(xv, xv + 6, x.data());
  const Context cpu{Device::kCpu, 0, 1};
  const Matrix got = bf16.predict_proba(x, cpu, 1024);
  const Matrix full = fp32.predict_proba(x, cpu, 1024);
  for (std::size_t i = 0; i < 2; ++i) {
    double h[2], z[3];
    for (int o = 0; o < 2; ++o) {
      double a = round_bf16(biases[0][o]);
      for (int j = 0; j < 3; ++j) a += double(round_bf16(w0(o, j))) * round_bf16(x(i, j));
      h[o] = round_bf16(std::max(0.0f, round_bf16(static_cast<float>(a))));
    }
    double top = -1e300;
    for (int c = 0; c < 3; ++c) {
      double a = round_bf16(biases[1][c]);
      for (int o = 0; o < 2; ++o) a += double(round_bf16(w1(c, o))) * h[o];
      z[c] = round_bf16(static_cast<float>(a));
      top = std::max(top, z[c]);
    }
    double sum = 0;
    for (double& v : z) sum += v = std::exp(v - top);
    bool differs_from_fp32 = false;
    for (int c = 0; c < 3; ++c) {
      EXPECT_NEAR(got(i, c), z[c] / sum, 1e-6) << i << "," << c;
      differs_from_fp32 |= std::abs(full(i, c) - z[c] / sum) > 1e-5;
    }
    EXPECT_TRUE(differs_from_fp32) << "the rounding should change row " << i;
  }
}

}  // namespace
}  // namespace deferbench
