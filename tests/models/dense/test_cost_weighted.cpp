// The cost-weighted (comp-sum) rejectors of multi-expert deferral (issue 16): the target-weight
// objective of models/dense/train.h (SoftmaxRegressionObjective with a weight matrix) and
// LogReg::fit_cost_weighted (models/dense/logreg.h); the target-weight minibatch trainer
// (train_adam_cpu with RowTargets) and Mlp::fit_cost_weighted (models/dense/mlp.h).
#include <algorithm>
#include <cmath>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/experts/costs.h"
#include "core/util/error.h"
#include "models/dense/logreg.h"
#include "models/dense/mlp.h"
#include "models/dense/train.h"
#include "models/registry.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

using ::testing::HasSubstr;

Context cpu(int threads = 1) {
  return Context{Device::kCpu, 7, threads};
}

// n rows of d Gaussian features and class indices drawn uniformly from k (seeded).
struct Problem {
  Matrix x;
  std::vector<std::int64_t> y;
};
Problem gaussian_problem(std::size_t n, std::size_t d, std::size_t k, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  Problem p{Matrix(n, d), std::vector<std::int64_t>(n)};
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < d; ++j) p.x(i, j) = static_cast<float>(g(rng));
    p.y[i] = static_cast<std::int64_t>(rng() % k);
  }
  return p;
}

Matrix one_hot(const std::vector<std::int64_t>& y, std::size_t k) {
  Matrix w(y.size(), k, 0.0f);
  for (std::size_t i = 0; i < y.size(); ++i) w(i, static_cast<std::size_t>(y[i])) = 1.0f;
  return w;
}

std::vector<double> random_params(std::size_t count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 0.3);
  std::vector<double> params(count);
  for (double& v : params) v = g(rng);
  return params;
}

// One-hot target weights are class indices: the same value and gradient bit for bit, on one
// thread and on two, with one block and with many.
TEST(CostWeightedObjective, OneHotWeightsEqualClassIndices) {
  const std::size_t n = 7000, d = 9, k = 4;  // enough rows for two threads and several blocks
  Problem p = gaussian_problem(n, d, k, 3);
  Matrix w = one_hot(p.y, k);
  const std::vector<double> params = random_params(k * d + k, 5);
  for (int threads : {1, 2}) {
    for (std::size_t block_rows : {std::size_t{1} << 20, std::size_t{333}}) {
      dense::SoftmaxRegressionObjective by_index(p.x, p.y, k, 0.01, block_rows, threads);
      dense::SoftmaxRegressionObjective by_weight(p.x, w, 0.01, block_rows, threads);
      std::vector<double> gi, gw;
      const double fi = by_index(params, gi), fw = by_weight(params, gw);
      EXPECT_EQ(fi, fw) << threads << " threads, blocks of " << block_rows;
      EXPECT_EQ(gi, gw) << threads << " threads, blocks of " << block_rows;
      EXPECT_GT(fi, 0.5);  // not a degenerate value: about ln 4 at these random parameters
    }
  }
}

// The weighted objective against a double-precision computation of
//   (1/n) Σ_i Σ_j T_ij (lse_i − z_ij) + l2 ‖W‖²,
// its gradient against central differences of that computation, and its independence of the
// thread count (bit for bit) and of the block size (to rounding).
TEST(CostWeightedObjective, ValueAndGradientMatchFiniteDifferences) {
  const std::size_t n = 6000, d = 7, k = 5;
  Problem p = gaussian_problem(n, d, k, 11);
  Matrix t(n, k);
  std::mt19937_64 rng(13);
  std::uniform_real_distribution<double> u(0.0, 2.0);
  for (std::size_t i = 0; i < t.size(); ++i) {
    const double v = u(rng);
    t.data()[i] = v < 0.5 ? 0.0f : static_cast<float>(v);  // about a quarter of them zero
  }
  const double l2 = 0.02;
  auto reference = [&](const std::vector<double>& w) {
    double f = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<double> z(k);
      double top = -1e300;
      for (std::size_t c = 0; c < k; ++c) {
        z[c] = w[k * d + c];
        for (std::size_t j = 0; j < d; ++j) z[c] += w[c * d + j] * p.x(i, j);
        top = std::max(top, z[c]);
      }
      double sum = 0.0;
      for (double v : z) sum += std::exp(v - top);
      const double lse = top + std::log(sum);
      for (std::size_t c = 0; c < k; ++c) f += t(i, c) * (lse - z[c]);
    }
    double sq = 0.0;
    for (std::size_t i = 0; i < k * d; ++i) sq += w[i] * w[i];
    return f / static_cast<double>(n) + l2 * sq;
  };
  const std::vector<double> params = random_params(k * d + k, 17);
  dense::SoftmaxRegressionObjective one(p.x, t, l2, 1 << 20, 1), two(p.x, t, l2, 1 << 20, 2),
      small_blocks(p.x, t, l2, 41, 2);
  std::vector<double> grad, grad2, grad3;
  const double f = one(params, grad);
  EXPECT_NEAR(f, reference(params), 1e-5 * std::abs(f));
  for (std::size_t i = 0; i < params.size(); ++i) {
    std::vector<double> hi = params, lo = params;
    hi[i] += 1e-4;
    lo[i] -= 1e-4;
    EXPECT_NEAR(grad[i], (reference(hi) - reference(lo)) / 2e-4, 3e-4) << "parameter " << i;
  }
  EXPECT_EQ(two(params, grad2), f);
  EXPECT_EQ(grad2, grad);
  EXPECT_NEAR(small_blocks(params, grad3), f, 1e-5);
  for (std::size_t i = 0; i < grad.size(); ++i) EXPECT_NEAR(grad3[i], grad[i], 1e-5);
}

// fit_cost_weighted with one-hot weights of the compact labels is fit: the same weights and
// biases (standardization, objective and L-BFGS are the same).
TEST(LogRegCostWeighted, OneHotWeightsFitAsClassLabels) {
  Dataset d = testing::blobs(300, 1, 1.5);
  LogRegParams params;
  params.C = 0.5;
  LogReg by_label(params), by_weight(params);
  by_label.fit(d, nullptr, cpu());
  ASSERT_EQ(by_label.classes(), (std::vector<std::int32_t>{0, 2, 3}));
  std::vector<std::int64_t> compact;
  for (LabelId c : d.teacher)
    compact.push_back(std::lower_bound(by_label.classes().begin(), by_label.classes().end(), c) -
                      by_label.classes().begin());
  by_weight.fit_cost_weighted(d.features, one_hot(compact, 3), cpu());
  EXPECT_EQ(by_weight.n_classes(), 3u);
  EXPECT_EQ(by_weight.classes(), (std::vector<std::int32_t>{0, 1, 2}));
  ASSERT_EQ(by_weight.weight().rows(), 3u);
  ASSERT_EQ(by_weight.weight().cols(), 4u);
  for (std::size_t i = 0; i < by_label.weight().size(); ++i)
    EXPECT_NEAR(by_weight.weight().data()[i], by_label.weight().data()[i], 1e-5) << i;
  for (std::size_t o = 0; o < 3; ++o) EXPECT_NEAR(by_weight.bias()[o], by_label.bias()[o], 1e-5);
  EXPECT_GT(std::abs(by_label.weight()(0, 0)), 0.1);  // a real fit, not zeros
  EXPECT_EQ(by_weight.mean(), by_label.mean());
  EXPECT_EQ(by_weight.scale(), by_label.scale());
}

// Constant features: only the intercept matters, and the minimizer of
// Σ_i Σ_j W_ij (lse(b) − b_j) is softmax(b)_j = Σ_i W_ij / Σ_ij W_ij (the gradient
// (Σ_ij W_ij) p_j − Σ_i W_ij vanishes there).
TEST(LogRegCostWeighted, ConstantFeaturesGiveTheWeightShares) {
  const std::size_t n = 200, d = 3, k = 4;
  Matrix x(n, d, 0.0f), w(n, k);
  std::mt19937_64 rng(19);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> column(k, 0.0);
  double total = 0.0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < k; ++j) {
      // Column j's weights grow with j: shares far from uniform.
      w(i, j) = static_cast<float>(u(rng) * static_cast<double>(j * j + 1));
      column[j] += w(i, j);
      total += w(i, j);
    }
  LogRegParams params;
  params.C = 1e6;  // regularization 1/(2 C n): negligible (and W sees no signal anyway)
  params.tol = 1e-9;
  params.max_iter = 1000;
  LogReg model(params);
  model.fit_cost_weighted(x, w, cpu());
  ASSERT_EQ(model.n_classes(), k);
  Matrix proba = model.predict_proba(Matrix(5, d, 0.0f), cpu());
  for (std::size_t r = 0; r < proba.rows(); ++r)
    for (std::size_t j = 0; j < k; ++j)
      EXPECT_NEAR(proba(r, j), column[j] / total, 1e-4) << "row " << r << ", choice " << j;
  EXPECT_LT(column[0] / total, 0.1);  // the shares are far from uniform (0.25)
}

// The comp-sum surrogate is consistent: x uniform on [0, 3), three intervals where a different
// choice has the least expected cost, costs sampled from the choices' accuracies; the rejector
// fitted on comp_sum_weights routes (nearly) every test point to the Bayes choice. Features: x
// and the indicators of 12 bins of width 1/4 (so the Bayes rule, constant on each interval, is
// representable).
TEST(LogRegCostWeighted, CompSumRejectorRoutesToTheBayesChoice) {
  const std::vector<ChoiceCost> choices = {{1.0, 0.0}, {1.0, 0.1}, {1.0, 0.2}, {1.0, 0.5}};
  // accuracy[j][interval]: expected costs η = 1 − accuracy + β:
  //   interval 0: 0.10 0.70 0.80 0.60 → choice 0
  //   interval 1: 0.70 0.15 0.80 0.60 → choice 1
  //   interval 2: 0.80 0.70 0.22 0.60 → choice 2   (choice 3, the dear one, is never best)
  const double accuracy[4][3] = {
      {0.9, 0.3, 0.2}, {0.4, 0.95, 0.4}, {0.4, 0.4, 0.98}, {0.9, 0.9, 0.9}};
  const std::size_t bins = 12, d = bins + 1, k = choices.size();
  auto features = [&](const std::vector<double>& xs) {
    Matrix f(xs.size(), d, 0.0f);
    for (std::size_t i = 0; i < xs.size(); ++i) {
      f(i, 0) = static_cast<float>(xs[i]);
      f(i, 1 + std::min(bins - 1, static_cast<std::size_t>(xs[i] * 4.0))) = 1.0f;
    }
    return f;
  };
  auto interval = [](double x) { return std::min<std::size_t>(2, static_cast<std::size_t>(x)); };
  std::mt19937_64 rng(23);
  std::uniform_real_distribution<double> u(0.0, 3.0), coin(0.0, 1.0);
  auto draw_x = [&](std::size_t n) {
    std::vector<double> xs(n);
    for (double& v : xs) v = u(rng);
    return xs;
  };

  const std::size_t n = 6000;
  const std::vector<double> x_train = draw_x(n);
  Correctness correct(k, std::vector<std::uint8_t>(n));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < k; ++j)
      correct[j][i] = coin(rng) < accuracy[j][interval(x_train[i])] ? 1 : 0;
  const Matrix costs = cost_matrix(correct, choices, 1.0);
  const Matrix weights = comp_sum_weights(costs);

  LogRegParams params;
  params.C = 10.0;
  params.max_iter = 500;
  LogReg rejector(params);
  rejector.fit_cost_weighted(features(x_train), weights, cpu());

  const std::vector<double> x_test = draw_x(3000);
  Matrix expected(x_test.size(), k);
  for (std::size_t i = 0; i < x_test.size(); ++i)
    for (std::size_t j = 0; j < k; ++j)
      expected(i, j) = static_cast<float>(1.0 - accuracy[j][interval(x_test[i])] + choices[j].beta);
  const std::vector<int> bayes = route_by_cost(expected, choices);
  const Matrix proba = rejector.predict_proba(features(x_test), cpu());
  std::size_t agree = 0;
  std::vector<std::size_t> routed(k, 0);
  for (std::size_t i = 0; i < x_test.size(); ++i) {
    const float* row = proba.row(i);
    const auto choice = static_cast<int>(std::max_element(row, row + k) - row);
    agree += choice == bayes[i] ? 1 : 0;
    ++routed[static_cast<std::size_t>(choice)];
  }
  EXPECT_GE(static_cast<double>(agree) / static_cast<double>(x_test.size()), 0.95);
  // Every interval's choice is used (the Bayes rule is not one choice everywhere).
  for (std::size_t j = 0; j < 3; ++j) EXPECT_GT(routed[j], 800u) << "choice " << j;
}

// After fit_cost_weighted the rejector is an ordinary LogReg: distributions over its k
// classes, saved and loaded with the same predictions.
TEST(LogRegCostWeighted, SaveLoadPredictsIdentically) {
  Problem p = gaussian_problem(400, 5, 3, 29);
  Matrix w(400, 3);
  for (std::size_t i = 0; i < 400; ++i)
    for (std::size_t j = 0; j < 3; ++j)
      w(i, j) = static_cast<float>(1 + (p.y[i] == static_cast<std::int64_t>(j) ? 2 : 0));
  LogReg model(LogRegParams{});
  model.fit_cost_weighted(p.x, w, cpu(2));
  Matrix proba = model.predict_proba(p.x, cpu());
  testing::expect_distributions(proba, {});
  testing::TempDir dir;
  model.save(dir / "rejector.bin");
  auto loaded = builtin_models().load(dir / "rejector.bin");
  EXPECT_EQ(loaded->n_classes(), 3u);
  EXPECT_EQ(loaded->predict_proba(p.x, cpu()).values(), proba.values());
  // One thread or two: the same fit.
  LogReg one_thread(LogRegParams{});
  one_thread.fit_cost_weighted(p.x, w, cpu(1));
  EXPECT_EQ(one_thread.predict_proba(p.x, cpu()).values(), proba.values());
}

TEST(LogRegCostWeighted, BadInputIsAnErrorNamingTheRow) {
  Problem p = gaussian_problem(10, 2, 3, 31);
  Matrix w(10, 3, 1.0f);
  auto fit = [&](const LogRegParams& params, MatrixView x, MatrixView weights) {
    return testing::error_of([&] {
      LogReg model(params);
      model.fit_cost_weighted(x, weights, cpu());
    });
  };
  const LogRegParams lbfgs;
  EXPECT_EQ(fit(lbfgs, p.x, w), "");

  Matrix negative = w;
  negative(3, 1) = -0.5f;
  EXPECT_THAT(fit(lbfgs, p.x, negative), HasSubstr("row 3, choice 1"));
  Matrix nan = w;
  nan(4, 2) = std::nanf("");
  EXPECT_THAT(fit(lbfgs, p.x, nan), HasSubstr("row 4, choice 2"));
  Matrix inf = w;
  inf(2, 0) = INFINITY;
  EXPECT_THAT(fit(lbfgs, p.x, inf), HasSubstr("finite"));
  Matrix zero_row = w;
  for (std::size_t j = 0; j < 3; ++j) zero_row(5, j) = 0.0f;
  EXPECT_THAT(fit(lbfgs, p.x, zero_row), HasSubstr("row 5 sum to 0"));
  EXPECT_THAT(fit(lbfgs, p.x, Matrix(9, 3, 1.0f)), HasSubstr("10 rows of features but 9"));
  EXPECT_THAT(fit(lbfgs, Matrix(0, 2), Matrix(0, 3)), HasSubstr("empty"));

  LogRegParams adam;
  adam.solver = LogRegSolver::kAdam;
  EXPECT_THAT(fit(adam, p.x, w), HasSubstr("only solver lbfgs supports cost weights"));
}

// The minibatch trainer with one-hot target weights (training and validation rows) is the
// trainer with class indices: the same weights, losses and kept epoch bit for bit, on one thread
// and on two (the network is wide enough for the second thread to be used).
TEST(CostWeightedTrainer, OneHotWeightsTrainAsClassIndices) {
  const std::size_t d = 6, k = 3;
  Problem train = gaussian_problem(1500, d, k, 37), val = gaussian_problem(300, d, k, 41);
  const Matrix w = one_hot(train.y, k), w_val = one_hot(val.y, k);
  dense::AdamOptions o;
  o.max_epochs = 6;
  o.batch_size = 128;
  o.l2 = 1e-3;
  o.shuffle_seed = 43;
  for (int threads : {1, 2}) {
    dense::DenseWeights by_index =
        dense::initial_weights(d, {128, 64}, k, dense::Activation::kRelu, dense::Init::kGlorot, 47);
    dense::DenseWeights by_weight = by_index;
    const dense::AdamReport a = dense::train_adam_cpu(by_index, dense::Activation::kRelu, train.x,
                                                      train.y, val.x, val.y, o, threads);
    const dense::AdamReport b =
        dense::train_adam_cpu(by_weight, dense::Activation::kRelu, train.x, dense::RowTargets(w),
                              val.x, dense::RowTargets(w_val), o, threads);
    ASSERT_EQ(a.epochs, 6) << threads;
    EXPECT_EQ(b.epochs, a.epochs) << threads;
    EXPECT_EQ(b.best_epoch, a.best_epoch) << threads;
    EXPECT_EQ(b.train_loss, a.train_loss) << threads;
    EXPECT_EQ(b.val_loss, a.val_loss) << threads;
    for (std::size_t l = 0; l < 3; ++l) {
      EXPECT_EQ(by_weight.weights[l].values(), by_index.weights[l].values()) << threads << " " << l;
      EXPECT_EQ(by_weight.biases[l], by_index.biases[l]) << threads << " " << l;
    }
    EXPECT_LT(a.train_loss.back(), a.train_loss.front());  // it trained
  }
}

MlpParams small_rejector(std::vector<int> hidden = {16}) {
  MlpParams p;
  p.hidden = std::move(hidden);
  p.lr = 1e-2;
  p.batch_size = 64;
  p.max_epochs = 30;
  p.standardize = true;
  return p;
}

// Mlp::fit_cost_weighted with one-hot weights of the compact labels is fit (without a validation
// set, same seed): the same network bit for bit.
TEST(MlpCostWeighted, OneHotWeightsFitAsClassLabels) {
  Dataset d = testing::blobs(300, 1, 1.5);
  Mlp by_label("mlp_1h", small_rejector()), by_weight("mlp_1h", small_rejector());
  by_label.fit(d, nullptr, cpu());
  ASSERT_EQ(by_label.classes(), (std::vector<std::int32_t>{0, 2, 3}));
  std::vector<std::int64_t> compact;
  for (LabelId c : d.teacher)
    compact.push_back(std::lower_bound(by_label.classes().begin(), by_label.classes().end(), c) -
                      by_label.classes().begin());
  by_weight.fit_cost_weighted(d.features, one_hot(compact, 3), cpu());
  EXPECT_EQ(by_weight.n_classes(), 3u);
  EXPECT_EQ(by_weight.classes(), (std::vector<std::int32_t>{0, 1, 2}));
  ASSERT_EQ(by_weight.weights().size(), 2u);
  for (std::size_t l = 0; l < 2; ++l) {
    EXPECT_EQ(by_weight.weights()[l].values(), by_label.weights()[l].values()) << l;
    EXPECT_EQ(by_weight.biases()[l], by_label.biases()[l]) << l;
  }
  EXPECT_EQ(by_weight.epochs_run(), by_label.epochs_run());
  EXPECT_EQ(by_weight.train_loss(), by_label.train_loss());
  EXPECT_TRUE(by_weight.val_loss().empty());
  EXPECT_LT(by_label.train_loss().back(), 0.5 * by_label.train_loss().front());  // a real fit
}

// Constant features: the network's output is a constant distribution, and the minimizer of
// Σ_i Σ_j W_ij (lse − z_j) over it is the weight shares Σ_i W_ij / Σ_ij W_ij.
TEST(MlpCostWeighted, ConstantFeaturesGiveTheWeightShares) {
  const std::size_t n = 200, d = 3, k = 4;
  Matrix x(n, d, 0.0f), w(n, k);
  std::mt19937_64 rng(19);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> column(k, 0.0);
  double total = 0.0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < k; ++j) {
      w(i, j) = static_cast<float>(u(rng) * static_cast<double>(j * j + 1));
      column[j] += w(i, j);
      total += w(i, j);
    }
  MlpParams params = small_rejector({8});
  params.batch_size = static_cast<int>(n);  // full batch: no minibatch noise at the end
  params.max_epochs = 3000;
  params.tol = 0.0;
  params.patience = 100;
  Mlp model("mlp_1h", params);
  model.fit_cost_weighted(x, w, cpu());
  ASSERT_EQ(model.n_classes(), k);
  Matrix proba = model.predict_proba(Matrix(5, d, 0.0f), cpu());
  for (std::size_t r = 0; r < proba.rows(); ++r)
    for (std::size_t j = 0; j < k; ++j)
      EXPECT_NEAR(proba(r, j), column[j] / total, 1e-3) << "row " << r << ", choice " << j;
  EXPECT_LT(column[0] / total, 0.1);  // the shares are far from uniform (0.25)
}

// The comp-sum rejector on x alone (no bin features): x uniform on [0, 3), and the Bayes choice
// is 0 on [0, 1), 1 on [1, 2) and 0 again on [2, 3). A linear rejector cannot represent that
// (in one dimension the region where one softmax class wins is an interval), the MLP can: it
// routes (nearly) every test point to the Bayes choice, the linear model at most about 2/3.
TEST(MlpCostWeighted, CompSumRejectorRoutesToAPiecewiseConstantBayesChoice) {
  const std::vector<ChoiceCost> choices = {{1.0, 0.0}, {1.0, 0.1}, {1.0, 0.2}, {1.0, 0.5}};
  // accuracy[j][interval]; expected costs η = 1 − accuracy + β:
  //   interval 0: 0.10 0.70 0.80 0.60 → choice 0
  //   interval 1: 0.70 0.15 0.80 0.60 → choice 1
  //   interval 2: 0.15 0.70 0.50 0.60 → choice 0
  const double accuracy[4][3] = {
      {0.9, 0.3, 0.85}, {0.4, 0.95, 0.4}, {0.4, 0.4, 0.7}, {0.9, 0.9, 0.9}};
  const std::size_t k = choices.size();
  auto interval = [](double x) { return std::min<std::size_t>(2, static_cast<std::size_t>(x)); };
  std::mt19937_64 rng(23);
  std::uniform_real_distribution<double> u(0.0, 3.0), coin(0.0, 1.0);
  auto draw_x = [&](std::size_t n) {
    Matrix x(n, 1);
    for (std::size_t i = 0; i < n; ++i) x(i, 0) = static_cast<float>(u(rng));
    return x;
  };

  const std::size_t n = 6000;
  const Matrix x_train = draw_x(n);
  Correctness correct(k, std::vector<std::uint8_t>(n));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < k; ++j)
      correct[j][i] = coin(rng) < accuracy[j][interval(x_train(i, 0))] ? 1 : 0;
  const Matrix weights = comp_sum_weights(cost_matrix(correct, choices, 1.0));

  MlpParams params = small_rejector({32});
  params.max_epochs = 100;
  Mlp rejector("mlp_1h", params);
  rejector.fit_cost_weighted(x_train, weights, cpu(2));
  LogRegParams linear_params;
  linear_params.C = 10.0;
  linear_params.max_iter = 500;
  LogReg linear(linear_params);
  linear.fit_cost_weighted(x_train, weights, cpu(2));

  const Matrix x_test = draw_x(3000);
  Matrix expected(x_test.rows(), k);
  for (std::size_t i = 0; i < x_test.rows(); ++i)
    for (std::size_t j = 0; j < k; ++j)
      expected(i, j) =
          static_cast<float>(1.0 - accuracy[j][interval(x_test(i, 0))] + choices[j].beta);
  const std::vector<int> bayes = route_by_cost(expected, choices);
  auto agreement = [&](const Classifier& model, std::vector<std::size_t>& routed) {
    const Matrix proba = model.predict_proba(x_test, cpu());
    std::size_t agree = 0;
    routed.assign(k, 0);
    for (std::size_t i = 0; i < x_test.rows(); ++i) {
      const float* row = proba.row(i);
      const auto choice = static_cast<int>(std::max_element(row, row + k) - row);
      agree += choice == bayes[i] ? 1 : 0;
      ++routed[static_cast<std::size_t>(choice)];
    }
    return static_cast<double>(agree) / static_cast<double>(x_test.rows());
  };
  std::vector<std::size_t> routed;
  EXPECT_GE(agreement(rejector, routed), 0.95);
  EXPECT_GT(routed[0], 1600u);  // both choices are used (about 2000 and 1000 rows)
  EXPECT_GT(routed[1], 800u);
  std::vector<std::size_t> linear_routed;
  EXPECT_LT(agreement(linear, linear_routed), 0.75);
}

// After fit_cost_weighted the rejector is an ordinary Mlp: distributions over its k classes,
// saved and loaded with the same predictions, the same fit on one thread or two.
TEST(MlpCostWeighted, SaveLoadPredictsIdentically) {
  Problem p = gaussian_problem(400, 5, 3, 29);
  Matrix w(400, 3);
  for (std::size_t i = 0; i < 400; ++i)
    for (std::size_t j = 0; j < 3; ++j)
      w(i, j) = static_cast<float>(1 + (p.y[i] == static_cast<std::int64_t>(j) ? 2 : 0));
  const MlpParams params = small_rejector({256});  // wide enough for the second thread
  Mlp model("mlp_1h", params);
  model.fit_cost_weighted(p.x, w, cpu(2));
  Matrix proba = model.predict_proba(p.x, cpu());
  testing::expect_distributions(proba, {});
  testing::TempDir dir;
  model.save(dir / "rejector.bin");
  auto loaded = builtin_models().load(dir / "rejector.bin");
  EXPECT_EQ(loaded->name(), "mlp_1h");
  EXPECT_EQ(loaded->n_classes(), 3u);
  EXPECT_EQ(loaded->predict_proba(p.x, cpu()).values(), proba.values());
  Mlp one_thread("mlp_1h", params);
  one_thread.fit_cost_weighted(p.x, w, cpu(1));
  EXPECT_EQ(one_thread.predict_proba(p.x, cpu()).values(), proba.values());
}

TEST(MlpCostWeighted, BadInputIsAnErrorNamingTheRow) {
  Problem p = gaussian_problem(10, 2, 3, 31);
  Matrix w(10, 3, 1.0f);
  auto fit = [&](MatrixView x, MatrixView weights) {
    return testing::error_of([&] {
      Mlp model("mlp_1h", small_rejector());
      model.fit_cost_weighted(x, weights, cpu());
    });
  };
  EXPECT_EQ(fit(p.x, w), "");
  Matrix negative = w;
  negative(3, 1) = -0.5f;
  EXPECT_THAT(fit(p.x, negative), HasSubstr("mlp_1h: cost weight of row 3, choice 1"));
  Matrix nan = w;
  nan(4, 2) = std::nanf("");
  EXPECT_THAT(fit(p.x, nan), HasSubstr("row 4, choice 2"));
  Matrix inf = w;
  inf(2, 0) = INFINITY;
  EXPECT_THAT(fit(p.x, inf), HasSubstr("finite"));
  Matrix zero_row = w;
  for (std::size_t j = 0; j < 3; ++j) zero_row(5, j) = 0.0f;
  EXPECT_THAT(fit(p.x, zero_row), HasSubstr("row 5 sum to 0"));
  EXPECT_THAT(fit(p.x, Matrix(9, 3, 1.0f)), HasSubstr("10 rows of features but 9"));
  EXPECT_THAT(fit(Matrix(0, 2), Matrix(0, 3)), HasSubstr("empty"));
  EXPECT_THAT(fit(p.x, Matrix(10, 0)), HasSubstr("no columns"));
}

}  // namespace
}  // namespace deferbench
