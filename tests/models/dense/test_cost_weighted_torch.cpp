// The LibTorch path of the cost-weighted rejectors of multi-expert deferral (issue 16): the
// target-weight training of torch_util::train_adam_libtorch (Mlp::fit_cost_weighted on CUDA) and
// torch_util::fit_logreg_lbfgs_weighted (LogReg::fit_cost_weighted on CUDA), run here on the CPU
// against the CPU kernels (train_adam_cpu with RowTargets, SoftmaxRegressionObjective with target
// weights and lbfgs_minimize) as independent implementations, against values by hand, and
// against the weights' own algebra (rows of zero weights change nothing, scaled weights scale the
// loss, a doubled row is the row twice); the models on CUDA against the CPU where a GPU is usable.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "core/util/lbfgs.h"
#include "models/backend.h"
#include "models/dense/logreg.h"
#include "models/dense/mlp.h"
#include "models/dense/train.h"
#include "models/torch/dense_device.h"
#include "tests/test_util.h"

namespace deferbench::dense {
namespace {

Context cpu() {
  return Context{Device::kCpu, 7, 1};
}

// n rows of d Gaussian features and n × k target weights: each row's weights uniform on [0, 2),
// about a quarter of them exactly 0, and one random column at least 0.5 (no row sums to 0).
struct WeightedProblem {
  Matrix x, weights;
};
WeightedProblem weighted_problem(std::size_t n, std::size_t d, std::size_t k, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  WeightedProblem p{Matrix(n, d), Matrix(n, k)};
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < d; ++j) p.x(i, j) = static_cast<float>(g(rng));
    // The weights lean on the first feature, so that they can be learned.
    for (std::size_t c = 0; c < k; ++c) {
      const double lean = 1.0 + std::tanh(p.x(i, 0) * (static_cast<double>(c) - 1.0));
      p.weights(i, c) = u(rng) < 0.25 ? 0.0f : static_cast<float>(lean * u(rng));
    }
    float& forced = p.weights(i, rng() % k);
    forced = std::max(forced, 0.5f);
  }
  return p;
}

// A test property's value: 3 significant digits (the differences seen are down to 1e-9).
std::string sci(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

double max_abs(const std::vector<double>& v) {
  double m = 0.0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

using testing::max_abs_diff;

// The L-BFGS parameters (W row-major, then b) of a linear model.
std::vector<double> linear_params(const Matrix& w, const std::vector<float>& b) {
  std::vector<double> params(w.data(), w.data() + w.size());
  params.insert(params.end(), b.begin(), b.end());
  return params;
}

// 2 rows, 2 classes, one feature, by hand. W = [[1], [−1]], b = [0.5, 0]; x = [1], [−2]:
// logits z_1 = (1.5, −1), z_2 = (−1.5, 2). Targets ω_1 = (2, 1), ω_2 = (0, 3):
//   row 1: 2 · (lse_1 − 1.5) + 1 · (lse_1 + 1),  lse_1 = ln(e^1.5 + e^−1)
//   row 2: 3 · (lse_2 − 2),                        lse_2 = ln(e^−1.5 + e^2)
// Validation x = [0], ω = (1, 1): z = (0.5, 0), loss 2 ln(e^0.5 + 1) − 0.5.
// With lr = 0 the weights never move: the one batch's training loss (mean over the 2 rows) and
// the validation loss are those of the initial weights, in both trainers.
TEST(CostWeightedTorch, WeightedLossOfATinyExampleByHand) {
  const double lse1 = std::log(std::exp(1.5) + std::exp(-1.0));
  const double lse2 = std::log(std::exp(-1.5) + std::exp(2.0));
  const double train_loss = (2.0 * (lse1 - 1.5) + (lse1 + 1.0) + 3.0 * (lse2 - 2.0)) / 2.0;
  const double val_loss = 2.0 * std::log(std::exp(0.5) + 1.0) - 0.5;
  const Matrix x(2, 1, {1.0f, -2.0f}), weights(2, 2, {2.0f, 1.0f, 0.0f, 3.0f});
  const Matrix x_val(1, 1, {0.0f}), weights_val(1, 2, {1.0f, 1.0f});
  DenseWeights start;
  start.weights = {Matrix(2, 1, {1.0f, -1.0f})};
  start.biases = {{0.5f, 0.0f}};
  AdamOptions o;
  o.lr = 0.0;
  o.batch_size = 2;
  o.max_epochs = 1;
  DenseWeights torch_net = start, cpu_net = start;
  const AdamReport a =
      torch_util::train_adam_libtorch(torch_net, Activation::kRelu, x, RowTargets(weights), x_val,
                                      RowTargets(weights_val), o, cpu());
  const AdamReport b = train_adam_cpu(cpu_net, Activation::kRelu, x, RowTargets(weights), x_val,
                                      RowTargets(weights_val), o, 1);
  ASSERT_EQ(a.train_loss.size(), 1u);
  ASSERT_EQ(a.val_loss.size(), 1u);
  EXPECT_NEAR(a.train_loss[0], train_loss, 1e-6);
  EXPECT_NEAR(a.val_loss[0], val_loss, 1e-6);
  ASSERT_EQ(b.train_loss.size(), 1u);
  EXPECT_NEAR(b.train_loss[0], train_loss, 1e-6);
  EXPECT_NEAR(b.val_loss[0], val_loss, 1e-6);
  // The same loss with an L2 term: + l2 · ‖W‖² = l2 · 2 (the bias is not penalized).
  o.l2 = 0.25;
  o.l2_per_batch = false;
  torch_net = start;
  const AdamReport c = torch_util::train_adam_libtorch(
      torch_net, Activation::kRelu, x, RowTargets(weights), Matrix(0, 1), RowTargets(), o, cpu());
  cpu_net = start;
  const AdamReport e = train_adam_cpu(cpu_net, Activation::kRelu, x, RowTargets(weights),
                                      Matrix(0, 1), RowTargets(), o, 1);
  ASSERT_EQ(c.train_loss.size(), 1u);
  EXPECT_NEAR(c.train_loss[0], train_loss + 0.5, 1e-6);
  EXPECT_TRUE(c.val_loss.empty());
  ASSERT_EQ(e.train_loss.size(), 1u);
  EXPECT_NEAR(e.train_loss[0], train_loss + 0.5, 1e-6);
}

struct TrainCase {
  std::vector<std::size_t> hidden;
  Activation activation;
  bool validation;  // weighted validation rows, or none (the training objective is monitored)
};

class CostWeightedTorchTrain : public ::testing::TestWithParam<TrainCase> {};

// Three epochs of 11 minibatches (the last one short) on 4 choices of target weights: LibTorch
// autograd's weights, biases and per-epoch losses equal the CPU trainer's up to float rounding,
// with weighted validation rows (the best epoch kept) and without (the last epoch kept).
TEST_P(CostWeightedTorchTrain, MatchesTheCpuTrainer) {
  const TrainCase c = GetParam();
  const std::size_t d = 12, k = 4;
  const WeightedProblem train = weighted_problem(650, d, k, 3),
                        val = weighted_problem(130, d, k, 4);
  AdamOptions o;
  o.lr = 3e-3;
  o.batch_size = 61;
  o.max_epochs = 3;
  o.patience = 100;
  o.l2 = c.hidden.empty() ? 1e-3 : 0.05;
  o.l2_per_batch = !c.hidden.empty();
  o.shuffle_seed = 11;
  const Init init = c.hidden.empty() ? Init::kZeros : Init::kGlorot;
  const Matrix no_rows(0, d);
  const MatrixView x_val = c.validation ? val.x.view() : no_rows.view();
  const RowTargets y_val = c.validation ? RowTargets(val.weights) : RowTargets();
  DenseWeights mine = initial_weights(d, c.hidden, k, c.activation, init, 5);
  const DenseWeights start = mine;
  const AdamReport a = train_adam_cpu(mine, c.activation, train.x, RowTargets(train.weights), x_val,
                                      y_val, o, /*threads=*/2);
  DenseWeights theirs = start;
  const AdamReport b = torch_util::train_adam_libtorch(
      theirs, c.activation, train.x, RowTargets(train.weights), x_val, y_val, o, cpu());

  EXPECT_EQ(a.epochs, 3);
  EXPECT_EQ(b.epochs, 3);
  EXPECT_EQ(a.best_epoch, b.best_epoch);
  ASSERT_EQ(a.train_loss.size(), 3u);
  ASSERT_EQ(b.train_loss.size(), 3u);
  ASSERT_EQ(a.val_loss.size(), c.validation ? 3u : 0u);
  ASSERT_EQ(b.val_loss.size(), a.val_loss.size());
  double worst_loss = 0.0;
  for (std::size_t e = 0; e < 3; ++e) {
    EXPECT_NEAR(a.train_loss[e], b.train_loss[e], 1e-5 * std::max(1.0, b.train_loss[e]));
    worst_loss = std::max(worst_loss, std::abs(a.train_loss[e] - b.train_loss[e]));
    if (!c.validation) continue;
    EXPECT_NEAR(a.val_loss[e], b.val_loss[e], 1e-5 * std::max(1.0, b.val_loss[e]));
    worst_loss = std::max(worst_loss, std::abs(a.val_loss[e] - b.val_loss[e]));
  }
  // The loss fell and the weights moved: the comparison is not between two untrained networks.
  EXPECT_LT(a.train_loss.back(), a.train_loss.front() - 1e-3);
  double worst_w = 0.0, worst_b = 0.0, moved = 0.0;
  for (std::size_t l = 0; l < mine.weights.size(); ++l) {
    worst_w = std::max(worst_w, max_abs_diff(mine.weights[l].values(), theirs.weights[l].values()));
    worst_b = std::max(worst_b, max_abs_diff(mine.biases[l], theirs.biases[l]));
    moved = std::max(moved, max_abs_diff(mine.weights[l].values(), start.weights[l].values()));
  }
  EXPECT_LE(worst_w, 2e-6);
  EXPECT_LE(worst_b, 2e-5);
  EXPECT_GT(moved, 1e-2);
  RecordProperty("max_abs_weight_diff", sci(worst_w));
  RecordProperty("max_abs_bias_diff", sci(worst_b));
  RecordProperty("max_abs_loss_diff", sci(worst_loss));
}

INSTANTIATE_TEST_SUITE_P(CostWeightedTorch, CostWeightedTorchTrain,
                         ::testing::Values(TrainCase{{40}, Activation::kRelu, true},
                                           TrainCase{{40}, Activation::kRelu, false},
                                           TrainCase{{24, 9}, Activation::kTanh, false},
                                           TrainCase{{}, Activation::kRelu, true}),
                         [](const ::testing::TestParamInfo<TrainCase>& info) {
                           return activation_name(info.param.activation) + "_" +
                                  std::to_string(info.param.hidden.size()) + "h_" +
                                  (info.param.validation ? "val" : "noval");
                         });

// One-hot target weights train in LibTorch as their class indices: the same weights and losses
// (the two losses are computed by different LibTorch expressions: up to float rounding).
TEST(CostWeightedTorch, OneHotWeightsTrainAsClassIndices) {
  const std::size_t d = 10, k = 3, n = 300;
  const WeightedProblem p = weighted_problem(n, d, k, 8);
  std::vector<std::int64_t> y(n);
  Matrix one_hot(n, k, 0.0f);
  for (std::size_t i = 0; i < n; ++i) {
    const float* w = p.weights.row(i);
    y[i] = std::max_element(w, w + k) - w;
    one_hot(i, static_cast<std::size_t>(y[i])) = 1.0f;
  }
  AdamOptions o;
  o.lr = 1e-2;
  o.batch_size = 64;
  o.max_epochs = 4;
  o.l2 = 0.01;
  o.shuffle_seed = 2;
  DenseWeights a = initial_weights(d, {16}, k, Activation::kRelu, Init::kGlorot, 3), b = a;
  const AdamReport ra = torch_util::train_adam_libtorch(a, Activation::kRelu, p.x, y, Matrix(0, d),
                                                        std::vector<std::int64_t>{}, o, cpu());
  const AdamReport rb = torch_util::train_adam_libtorch(
      b, Activation::kRelu, p.x, RowTargets(one_hot), Matrix(0, d), RowTargets(), o, cpu());
  ASSERT_EQ(ra.train_loss.size(), rb.train_loss.size());
  for (std::size_t e = 0; e < ra.train_loss.size(); ++e)
    EXPECT_NEAR(ra.train_loss[e], rb.train_loss[e], 1e-6);
  for (std::size_t l = 0; l < a.weights.size(); ++l) {
    EXPECT_LE(max_abs_diff(a.weights[l].values(), b.weights[l].values()), 1e-6) << "layer " << l;
    EXPECT_LE(max_abs_diff(a.biases[l], b.biases[l]), 1e-6) << "layer " << l;
  }
}

// Rows whose target weights are all 0 carry no loss and no gradient (they still count in their
// batch's mean): what their features hold changes nothing, in LibTorch as in the CPU trainer. The
// control: the same rows with weight on one choice make their features matter.
TEST(CostWeightedTorch, ZeroWeightRowsAreIgnoredByTheTrainer) {
  const std::size_t n = 400, d = 8, k = 3;
  WeightedProblem p = weighted_problem(n, d, k, 13);
  Matrix other = p.x;
  std::mt19937_64 rng(99);
  std::normal_distribution<double> g(0.0, 3.0);
  for (std::size_t i = 0; i < n; i += 4) {
    for (std::size_t c = 0; c < k; ++c) p.weights(i, c) = 0.0f;
    for (std::size_t j = 0; j < d; ++j) other(i, j) = static_cast<float>(g(rng));
  }
  AdamOptions o;
  o.lr = 5e-3;
  o.batch_size = 50;
  o.max_epochs = 3;
  o.patience = 100;
  o.l2 = 0.01;
  o.shuffle_seed = 4;
  const Activation act = Activation::kTanh;
  const DenseWeights start = initial_weights(d, {16}, k, act, Init::kGlorot, 6);
  const Matrix none(0, d);
  auto train = [&](MatrixView x, const Matrix& weights, bool libtorch, DenseWeights& net) {
    net = start;
    return libtorch ? torch_util::train_adam_libtorch(net, act, x, RowTargets(weights), none,
                                                      RowTargets(), o, cpu())
                    : train_adam_cpu(net, act, x, RowTargets(weights), none, RowTargets(), o, 1);
  };
  DenseWeights a, b, c;
  const AdamReport ra = train(p.x, p.weights, true, a);
  const AdamReport rb = train(other, p.weights, true, b);
  const AdamReport rc = train(other, p.weights, false, c);
  ASSERT_EQ(ra.train_loss.size(), 3u);
  ASSERT_EQ(rb.train_loss.size(), 3u);
  ASSERT_EQ(rc.train_loss.size(), 3u);
  for (std::size_t e = 0; e < 3; ++e) {
    EXPECT_NEAR(ra.train_loss[e], rb.train_loss[e], 1e-6);
    EXPECT_NEAR(rc.train_loss[e], rb.train_loss[e], 1e-5);
  }
  double same = 0.0, cpu_diff = 0.0, moved = 0.0;
  for (std::size_t l = 0; l < a.weights.size(); ++l) {
    same = std::max(same, max_abs_diff(a.weights[l].values(), b.weights[l].values()));
    same = std::max(same, max_abs_diff(a.biases[l], b.biases[l]));
    cpu_diff = std::max(cpu_diff, max_abs_diff(c.weights[l].values(), b.weights[l].values()));
    cpu_diff = std::max(cpu_diff, max_abs_diff(c.biases[l], b.biases[l]));
    moved = std::max(moved, max_abs_diff(a.weights[l].values(), start.weights[l].values()));
  }
  EXPECT_LE(same, 1e-6);
  EXPECT_LE(cpu_diff, 2e-6);
  EXPECT_GT(moved, 1e-2);
  Matrix counted = p.weights;
  for (std::size_t i = 0; i < n; i += 4) counted(i, 0) = 1.0f;
  DenseWeights e, f;
  train(p.x, counted, true, e);
  train(other, counted, true, f);
  double control = 0.0;
  for (std::size_t l = 0; l < e.weights.size(); ++l)
    control = std::max(control, max_abs_diff(e.weights[l].values(), f.weights[l].values()));
  EXPECT_GT(control, 1e-3);
  RecordProperty("max_abs_diff_other_features", sci(same));
  RecordProperty("max_abs_diff_cpu_trainer", sci(cpu_diff));
  RecordProperty("control_max_abs_diff", sci(control));
}

// Target weights and the L2 coefficient both times 4 scale the whole objective by 4: every
// reported loss (training and validation) is 4 times the unscaled one, and Adam's steps, invariant
// to the gradient's scale but for ε = 1e-8 against √v, give the same weights. Targets normalized
// per row, or reduced to their argmax, would report the unscaled losses.
TEST(CostWeightedTorch, ScalingTheWeightsScalesTheLoss) {
  const std::size_t d = 6, k = 4;
  const WeightedProblem p = weighted_problem(300, d, k, 17), val = weighted_problem(80, d, k, 18);
  const float s = 4.0f;
  Matrix scaled = p.weights, scaled_val = val.weights;
  for (std::size_t i = 0; i < scaled.size(); ++i) scaled.data()[i] *= s;
  for (std::size_t i = 0; i < scaled_val.size(); ++i) scaled_val.data()[i] *= s;
  AdamOptions o;
  o.lr = 1e-2;
  o.batch_size = 40;
  o.max_epochs = 3;
  o.patience = 100;
  o.l2 = 0.02;
  o.l2_per_batch = false;
  o.shuffle_seed = 3;
  const DenseWeights start = initial_weights(d, {12}, k, Activation::kRelu, Init::kGlorot, 2);
  DenseWeights a = start, b = start;
  const AdamReport ra = torch_util::train_adam_libtorch(
      a, Activation::kRelu, p.x, RowTargets(p.weights), val.x, RowTargets(val.weights), o, cpu());
  o.l2 *= s;
  const AdamReport rb = torch_util::train_adam_libtorch(
      b, Activation::kRelu, p.x, RowTargets(scaled), val.x, RowTargets(scaled_val), o, cpu());
  ASSERT_EQ(ra.train_loss.size(), 3u);
  ASSERT_EQ(rb.train_loss.size(), 3u);
  ASSERT_EQ(ra.val_loss.size(), 3u);
  ASSERT_EQ(rb.val_loss.size(), 3u);
  double worst_ratio = 0.0;
  for (std::size_t e = 0; e < 3; ++e) {
    EXPECT_NEAR(rb.train_loss[e], s * ra.train_loss[e], 1e-5 * s * ra.train_loss[e]);
    EXPECT_NEAR(rb.val_loss[e], s * ra.val_loss[e], 1e-5 * s * ra.val_loss[e]);
    worst_ratio = std::max({worst_ratio, std::abs(rb.train_loss[e] / ra.train_loss[e] - s),
                            std::abs(rb.val_loss[e] / ra.val_loss[e] - s)});
  }
  EXPECT_EQ(ra.best_epoch, rb.best_epoch);
  double worst = 0.0;
  for (std::size_t l = 0; l < a.weights.size(); ++l) {
    worst = std::max(worst, max_abs_diff(a.weights[l].values(), b.weights[l].values()));
    worst = std::max(worst, max_abs_diff(a.biases[l], b.biases[l]));
  }
  EXPECT_LE(worst, 1e-5);
  RecordProperty("max_abs_weight_diff", sci(worst));
  RecordProperty("max_loss_ratio_error", sci(worst_ratio));
}

LbfgsOptions tight_lbfgs() {
  LbfgsOptions o;
  o.max_iter = 500;
  o.max_eval = 700;
  o.tolerance_grad = 1e-7;
  o.tolerance_change = 1e-12;
  return o;
}

// The weighted L-BFGS of LibTorch and the CPU's (SoftmaxRegressionObjective with target weights
// and lbfgs_minimize) reach the same optimum of the strictly convex objective (C finite): the
// same weights and biases to a tolerance, the CPU objective at LibTorch's point within 1e-6 of
// its own minimum, and LibTorch's point nearly stationary for the CPU gradient. Gradient chunks
// of 97 rows (many, the last one short) change nothing beyond rounding. (Both objectives are
// float sums: the CPU's L-BFGS stops on tolerance_change near a gradient of 1e-5 rather than at
// tolerance_grad, so its stationarity is checked, not its converged flag.)
TEST(CostWeightedTorch, LbfgsReachesTheCpuOptimum) {
  const std::size_t n = 500, d = 6, k = 3;
  const WeightedProblem p = weighted_problem(n, d, k, 21);
  const double C = 0.5;
  const LbfgsOptions lo = tight_lbfgs();
  SoftmaxRegressionObjective objective(p.x, p.weights, 1.0 / (2.0 * C * static_cast<double>(n)),
                                       1 << 20, 1);
  std::vector<double> cpu_params(k * d + k, 0.0);
  const LbfgsResult cpu_fit = lbfgs_minimize(std::ref(objective), cpu_params, lo);
  std::vector<double> grad;
  objective(cpu_params, grad);
  ASSERT_LE(max_abs(grad), 1e-4);  // the CPU's own point is an optimum

  const torch_util::LogRegFit fit =
      torch_util::fit_logreg_lbfgs_weighted(p.x, p.weights, C, 97, lo, cpu());
  ASSERT_EQ(fit.weight.rows(), k);
  ASSERT_EQ(fit.weight.cols(), d);
  ASSERT_EQ(fit.bias.size(), k);
  EXPECT_GT(fit.iterations, 3);
  std::vector<double> torch_params = linear_params(fit.weight, fit.bias);
  const double f_torch = objective(torch_params, grad);
  const double grad_max = max_abs(grad);
  double worst = 0.0, largest = 0.0;
  for (std::size_t i = 0; i < cpu_params.size(); ++i) {
    worst = std::max(worst, std::abs(torch_params[i] - cpu_params[i]));
    largest = std::max(largest, std::abs(cpu_params[i]));
  }
  EXPECT_GT(largest, 0.1);  // the optimum is not the starting point
  EXPECT_LE(worst, 2e-4);
  EXPECT_GE(f_torch, cpu_fit.f - 1e-9);
  EXPECT_LE(f_torch - cpu_fit.f, 1e-6);
  EXPECT_LE(grad_max, 1e-4);
  RecordProperty("max_abs_param_diff", sci(worst));
  RecordProperty("objective_gap", sci(f_torch - cpu_fit.f));
  RecordProperty("cpu_grad_max_at_torch_point", sci(grad_max));
}

// Two float L-BFGS fits of one optimum: their largest parameter difference at most (as CUDA
// against the CPU in test_logreg.cpp).
constexpr double kLbfgsTolerance = 1e-3;

// The largest |difference| between two fits' weights and biases.
double fit_diff(const torch_util::LogRegFit& a, const torch_util::LogRegFit& b) {
  return std::max(max_abs_diff(a.weight.values(), b.weight.values()), max_abs_diff(a.bias, b.bias));
}

// The objective is (1/n) (Σ_i Σ_j W_ij CE_ij + ‖w‖² / (2 C)): its minimizer depends on the
// weights only, not on n. So rows of zero weights (appended, their features far out) change
// nothing, while the same rows with weight on one choice do; a row's weights doubled fit as the
// row twice; and all weights times 3 fit as C times 3. The two fits of each pair are different
// float problems: L-BFGS stops where the float loss no longer resolves its progress (seen:
// gradients 3e-6 to 1e-4, parameters up to 3e-4 apart), hence kLbfgsTolerance.
TEST(CostWeightedTorch, LbfgsZeroRowsAreIgnoredAndWeightsScale) {
  const std::size_t n = 240, extra = 80, d = 5, k = 3;
  const WeightedProblem p = weighted_problem(n, d, k, 23);
  const double C = 0.2;
  const LbfgsOptions lo = tight_lbfgs();
  auto fit = [&](const Matrix& x, const Matrix& w, double c) {
    return torch_util::fit_logreg_lbfgs_weighted(x, w, c, 64, lo, cpu());
  };
  const torch_util::LogRegFit base = fit(p.x, p.weights, C);
  // Zero rows appended.
  Matrix x2(n + extra, d), w2(n + extra, k, 0.0f);
  std::copy_n(p.x.data(), p.x.size(), x2.data());
  std::copy_n(p.weights.data(), p.weights.size(), w2.data());
  std::mt19937_64 rng(5);
  std::normal_distribution<double> g(0.0, 3.0);
  for (std::size_t i = n; i < n + extra; ++i)
    for (std::size_t j = 0; j < d; ++j) x2(i, j) = static_cast<float>(g(rng));
  const double zero_rows = fit_diff(base, fit(x2, w2, C));
  for (std::size_t i = n; i < n + extra; ++i) w2(i, 2) = 2.0f;
  const double control = fit_diff(base, fit(x2, w2, C));
  // Every third row's weights doubled, or every third row appended once more.
  Matrix doubled = p.weights;
  std::vector<std::size_t> picked;
  for (std::size_t i = 0; i < n; i += 3) picked.push_back(i);
  Matrix x3(n + picked.size(), d), w3(n + picked.size(), k);
  std::copy_n(p.x.data(), p.x.size(), x3.data());
  std::copy_n(p.weights.data(), p.weights.size(), w3.data());
  for (std::size_t r = 0; r < picked.size(); ++r) {
    for (std::size_t c = 0; c < k; ++c) doubled(picked[r], c) *= 2.0f;
    std::copy_n(p.x.row(picked[r]), d, x3.row(n + r));
    std::copy_n(p.weights.row(picked[r]), k, w3.row(n + r));
  }
  const torch_util::LogRegFit by_weight = fit(p.x, doubled, C);
  const double duplicated = fit_diff(by_weight, fit(x3, w3, C));
  const double doubling_moved = fit_diff(base, by_weight);
  // All weights times 3 against C times 3.
  Matrix tripled = p.weights;
  for (std::size_t i = 0; i < tripled.size(); ++i) tripled.data()[i] *= 3.0f;
  const torch_util::LogRegFit big_c = fit(p.x, p.weights, 3.0 * C);
  const double scaled = fit_diff(big_c, fit(p.x, tripled, C));
  const double scaling_moved = fit_diff(base, big_c);

  EXPECT_LE(zero_rows, kLbfgsTolerance);
  EXPECT_GT(control, 1e-2);
  EXPECT_LE(duplicated, kLbfgsTolerance);
  EXPECT_GT(doubling_moved, 1e-2);
  EXPECT_LE(scaled, kLbfgsTolerance);
  EXPECT_GT(scaling_moved, 1e-2);
  RecordProperty("zero_rows_max_abs_diff", sci(zero_rows));
  RecordProperty("duplicated_max_abs_diff", sci(duplicated));
  RecordProperty("scaled_max_abs_diff", sci(scaled));
  RecordProperty("controls_max_abs_diff",
                 sci(control) + " " + sci(doubling_moved) + " " + sci(scaling_moved));
}

// Constant features: only the intercept matters, and the minimizer of
// Σ_i Σ_j W_ij (lse(b) − b_j) is softmax(b)_j = Σ_i W_ij / Σ_ij W_ij. By hand: rows (1, 3, 0) and
// (2, 0, 1), column sums (3, 3, 1), shares (3/7, 3/7, 1/7) (per-row normalized weights would
// give (11/24, 9/24, 4/24) instead, the argmax labels (1/2, 1/2, 0)). Tolerance 1e-4, as the
// CPU's test (test_cost_weighted.cpp): near the optimum the float loss stops resolving the
// objective's change (second order in the error) and LibTorch's L-BFGS stops on
// tolerance_change (seen: shares 4e-5 off after 5 iterations).
TEST(CostWeightedTorch, LbfgsConstantFeaturesGiveTheWeightShares) {
  const Matrix x(2, 1, {0.0f, 0.0f}), weights(2, 3, {1.0f, 3.0f, 0.0f, 2.0f, 0.0f, 1.0f});
  LbfgsOptions lo = tight_lbfgs();
  lo.tolerance_grad = 1e-9;
  const torch_util::LogRegFit fit =
      torch_util::fit_logreg_lbfgs_weighted(x, weights, 1.0, 1 << 16, lo, cpu());
  ASSERT_EQ(fit.bias.size(), 3u);
  double top = *std::max_element(fit.bias.begin(), fit.bias.end()), sum = 0.0;
  for (float v : fit.bias) sum += std::exp(v - top);
  const double shares[3] = {3.0 / 7.0, 3.0 / 7.0, 1.0 / 7.0};
  for (std::size_t j = 0; j < 3; ++j)
    EXPECT_NEAR(std::exp(fit.bias[j] - top) / sum, shares[j], 1e-4) << "choice " << j;
  for (float v : fit.weight.values()) EXPECT_EQ(v, 0.0f);  // no signal, penalized: stays 0
}

// k = 1: nothing to fit, zeros (as fit and the CPU path leave them).
TEST(CostWeightedTorch, LbfgsOneChoiceLeavesZeros) {
  const WeightedProblem p = weighted_problem(20, 3, 1, 5);
  const torch_util::LogRegFit fit =
      torch_util::fit_logreg_lbfgs_weighted(p.x, p.weights, 1.0, 64, tight_lbfgs(), cpu());
  EXPECT_EQ(fit.iterations, 0);
  EXPECT_EQ(fit.weight.values(), std::vector<float>(3, 0.0f));
  EXPECT_EQ(fit.bias, std::vector<float>(1, 0.0f));
}

// On CUDA, LogReg and Mlp::fit_cost_weighted take the LibTorch path (fit_logreg_lbfgs_weighted;
// train_adam_libtorch with target weights): the same predictions as the CPU fits, to float
// rounding and the L-BFGS tolerance. Skipped where no GPU is usable (the comparisons above run
// the same LibTorch code on the CPU).
TEST(CostWeightedTorch, ModelsOnCudaPredictAsOnTheCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no usable CUDA device";
  const WeightedProblem p = weighted_problem(600, 6, 3, 31);
  const Context gpu{Device::kCuda, 7, 1};
  auto worst = [&](const Classifier& a, const Classifier& b) {
    const Matrix pa = a.predict_proba(p.x, cpu()), pb = b.predict_proba(p.x, cpu());
    return max_abs_diff(pa.values(), pb.values());
  };
  LogRegParams lp;
  lp.C = 0.5;
  lp.max_iter = 500;
  lp.tol = 1e-7;
  LogReg logreg_cpu(lp), logreg_gpu(lp);
  logreg_cpu.fit_cost_weighted(p.x, p.weights, cpu());
  logreg_gpu.fit_cost_weighted(p.x, p.weights, gpu);
  const double logreg = worst(logreg_cpu, logreg_gpu);
  EXPECT_LE(logreg, 1e-3);
  MlpParams mp;
  mp.hidden = {32};
  mp.lr = 1e-2;
  mp.batch_size = 64;
  mp.max_epochs = 5;
  Mlp mlp_cpu("mlp_1h", mp), mlp_gpu("mlp_1h", mp);
  mlp_cpu.fit_cost_weighted(p.x, p.weights, cpu());
  mlp_gpu.fit_cost_weighted(p.x, p.weights, gpu);
  EXPECT_EQ(mlp_cpu.epochs_run(), mlp_gpu.epochs_run());
  const double mlp = worst(mlp_cpu, mlp_gpu);
  EXPECT_LE(mlp, 1e-3);
  RecordProperty("logreg_max_abs_proba_diff", sci(logreg));
  RecordProperty("mlp_max_abs_proba_diff", sci(mlp));
}

}  // namespace
}  // namespace deferbench::dense
