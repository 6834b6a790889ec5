// The CPU trainer of the dense networks (models/dense/train.h) against LibTorch autograd
// (torch_util::train_adam: the same objective, Adam and batches, computed independently), and its
// independence of the thread count.
#include "models/dense/train.h"
#include "models/torch/dense_device.h"
#include "tests/test_util.h"

#include <algorithm>
#include <cmath>
#include <random>

#include <gtest/gtest.h>

namespace deferbench::dense {
namespace {

// n rows of d Gaussian features (drawn with `seed`) labelled by the argmax of a random linear map
// to k classes (the same map for every seed).
struct Problem {
  Matrix x;
  std::vector<std::int64_t> y;
};
Problem linear_teacher(std::size_t n, std::size_t d, std::size_t k, std::uint64_t seed) {
  std::mt19937_64 rng(k * 1000 + d);
  std::normal_distribution<double> g(0.0, 1.0);
  Matrix teacher(k, d);
  for (std::size_t i = 0; i < teacher.size(); ++i) teacher.data()[i] = static_cast<float>(g(rng));
  std::mt19937_64 rows(seed + 1);
  Problem p{Matrix(n, d), {}};
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < d; ++j) p.x(i, j) = static_cast<float>(g(rows));
    std::size_t best = 0;
    double top = -1e30;
    for (std::size_t c = 0; c < k; ++c) {
      double z = 0;
      for (std::size_t j = 0; j < d; ++j) z += teacher(c, j) * p.x(i, j);
      if (z > top) top = z, best = c;
    }
    p.y.push_back(static_cast<std::int64_t>(best));
  }
  return p;
}

using testing::max_abs_diff;

struct Case {
  std::vector<std::size_t> hidden;
  Activation activation;
  bool l2_per_batch;
};

class DenseTrainCase : public ::testing::TestWithParam<Case> {};

// Three epochs of 11 minibatches (the last one short) on 5 classes, with validation: the CPU
// trainer's weights, biases and per-epoch losses equal LibTorch autograd's up to float rounding.
TEST_P(DenseTrainCase, MatchesLibTorchAutograd) {
  const Case c = GetParam();
  const std::size_t d = 24, k = 5;
  Problem train = linear_teacher(650, d, k, 3), val = linear_teacher(130, d, k, 4);
  AdamOptions o;
  o.lr = 3e-3;
  o.batch_size = 61;  // not a multiple of k: no exactly-zero first gradient (Adam amplifies ties)
  o.max_epochs = 3;
  o.patience = 100;
  o.l2 = c.l2_per_batch ? 0.05 : 1e-3;
  o.l2_per_batch = c.l2_per_batch;
  o.shuffle_seed = 11;
  const Init init = c.hidden.empty() ? Init::kZeros : Init::kGlorot;
  DenseWeights mine = initial_weights(d, c.hidden, k, c.activation, init, 5);
  const AdamReport a =
      train_adam_cpu(mine, c.activation, train.x, train.y, val.x, val.y, o, /*threads=*/2);

  DenseWeights theirs = initial_weights(d, c.hidden, k, c.activation, init, 5);
  const AdamReport b = torch_util::train_adam_libtorch(
      theirs, c.activation, train.x, train.y, val.x, val.y, o, Context{Device::kCpu, 7, 1});

  EXPECT_EQ(a.epochs, b.epochs);
  EXPECT_EQ(a.best_epoch, b.best_epoch);
  ASSERT_EQ(a.train_loss.size(), 3u);
  ASSERT_EQ(a.val_loss.size(), 3u);
  for (std::size_t e = 0; e < 3; ++e) {
    EXPECT_NEAR(a.train_loss[e], b.train_loss[e], 1e-5 * std::max(1.0, b.train_loss[e]));
    EXPECT_NEAR(a.val_loss[e], b.val_loss[e], 1e-5 * std::max(1.0, b.val_loss[e]));
  }
  // The losses fell: the comparison is not between two untrained networks.
  EXPECT_LT(a.val_loss.back(), a.val_loss.front());
  for (std::size_t l = 0; l < mine.weights.size(); ++l) {
    EXPECT_LE(max_abs_diff(mine.weights[l].values(), theirs.weights[l].values()), 1e-6)
        << "layer " << l;
    EXPECT_LE(max_abs_diff(mine.biases[l], theirs.biases[l]), 2e-5) << "layer " << l;
  }
}

INSTANTIATE_TEST_SUITE_P(DenseTrain, DenseTrainCase,
                         ::testing::Values(Case{{40}, Activation::kRelu, true},
                                           Case{{40, 19}, Activation::kTanh, true},
                                           Case{{33}, Activation::kLogistic, true},
                                           Case{{}, Activation::kRelu, false}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return activation_name(info.param.activation) + "_" +
                                  std::to_string(info.param.hidden.size()) + "h";
                         });

// Large enough a network that two threads split every step: the weights are bit-identical to one
// thread's, and so are the losses.
TEST(DenseTrain, ThreadCountDoesNotChangeTheWeights) {
  Problem train = linear_teacher(1000, 48, 7, 8), val = linear_teacher(200, 48, 7, 9);
  AdamOptions o;
  o.batch_size = 128;
  o.max_epochs = 4;
  o.l2 = 5e-5;
  o.shuffle_seed = 3;
  DenseWeights one = initial_weights(48, {96, 40}, 7, Activation::kRelu, Init::kGlorot, 1);
  DenseWeights two = one;
  const AdamReport a = train_adam_cpu(one, Activation::kRelu, train.x, train.y, val.x, val.y, o, 1);
  const AdamReport b = train_adam_cpu(two, Activation::kRelu, train.x, train.y, val.x, val.y, o, 2);
  EXPECT_EQ(a.train_loss, b.train_loss);
  EXPECT_EQ(a.val_loss, b.val_loss);
  for (std::size_t l = 0; l < one.weights.size(); ++l) {
    EXPECT_EQ(one.weights[l].values(), two.weights[l].values()) << "layer " << l;
    EXPECT_EQ(one.biases[l], two.biases[l]) << "layer " << l;
  }
}

// Early stopping on the validation loss restores the best epoch's weights: their validation
// cross-entropy, recomputed here in double, is the best one reported.
TEST(DenseTrain, KeepsTheBestValidationEpoch) {
  Problem train = linear_teacher(300, 8, 3, 12), val = linear_teacher(60, 8, 3, 13);
  AdamOptions o;
  o.lr = 0.05;  // large: the validation loss rises again after a few epochs
  o.batch_size = 32;
  o.max_epochs = 200;
  o.patience = 4;
  o.shuffle_seed = 1;
  DenseWeights w = initial_weights(8, {64}, 3, Activation::kRelu, Init::kGlorot, 2);
  const AdamReport r = train_adam_cpu(w, Activation::kRelu, train.x, train.y, val.x, val.y, o, 1);
  ASSERT_TRUE(r.stopped_early);
  ASSERT_LT(r.best_epoch, r.epochs);
  const double best = *std::min_element(r.val_loss.begin(), r.val_loss.end());
  EXPECT_EQ(r.val_loss[static_cast<std::size_t>(r.best_epoch - 1)], best);
  double ce = 0;
  for (std::size_t i = 0; i < val.x.rows(); ++i) {
    std::vector<double> h(64), z(3);
    for (std::size_t o1 = 0; o1 < 64; ++o1) {
      double s = w.biases[0][o1];
      for (std::size_t j = 0; j < 8; ++j) s += double(w.weights[0](o1, j)) * val.x(i, j);
      h[o1] = std::max(s, 0.0);
    }
    double top = -1e300;
    for (std::size_t c = 0; c < 3; ++c) {
      z[c] = w.biases[1][c];
      for (std::size_t j = 0; j < 64; ++j) z[c] += double(w.weights[1](c, j)) * h[j];
      top = std::max(top, z[c]);
    }
    double sum = 0;
    for (double v : z) sum += std::exp(v - top);
    ce += top + std::log(sum) - z[static_cast<std::size_t>(val.y[i])];
  }
  EXPECT_NEAR(ce / static_cast<double>(val.x.rows()), best, 1e-5);
}

// The logistic-regression objective: its value against a double-precision computation, its
// gradient against central differences of that computation, and its independence of the thread
// count and of the block size.
TEST(SoftmaxRegressionObjective, ValueAndGradientMatchAnIndependentComputation) {
  const std::size_t n = 7000, d = 9, k = 4;  // enough rows for two threads and four blocks
  Problem p = linear_teacher(n, d, k, 21);
  const double l2 = 0.01;
  std::mt19937_64 rng(5);
  std::normal_distribution<double> g(0.0, 0.3);
  std::vector<double> params(k * d + k);
  for (double& v : params) v = g(rng);
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
      f += top + std::log(sum) - z[static_cast<std::size_t>(p.y[i])];
    }
    double sq = 0.0;
    for (std::size_t i = 0; i < k * d; ++i) sq += w[i] * w[i];
    return f / static_cast<double>(n) + l2 * sq;
  };
  SoftmaxRegressionObjective one(p.x, p.y, k, l2, 1 << 20, 1), two(p.x, p.y, k, l2, 1 << 20, 2),
      small_blocks(p.x, p.y, k, l2, 33, 2);
  std::vector<double> grad, grad2, grad3;
  const double f = one(params, grad);
  EXPECT_NEAR(f, reference(params), 1e-5);
  for (std::size_t i = 0; i < params.size(); ++i) {
    std::vector<double> hi = params, lo = params;
    hi[i] += 1e-4;
    lo[i] -= 1e-4;
    EXPECT_NEAR(grad[i], (reference(hi) - reference(lo)) / 2e-4, 2e-4) << "parameter " << i;
  }
  EXPECT_EQ(two(params, grad2), f);
  EXPECT_EQ(grad2, grad);
  EXPECT_NEAR(small_blocks(params, grad3), f, 1e-6);
  for (std::size_t i = 0; i < grad.size(); ++i) EXPECT_NEAR(grad3[i], grad[i], 1e-6);
}

}  // namespace
}  // namespace deferbench::dense
