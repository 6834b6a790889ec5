// Training of the dense networks (logistic regression and MLPs) by minibatch Adam, as
// scikit-learn's MLPClassifier trains: the options and report shared by the two
// implementations — LibTorch autograd (models/torch/dense_device.h: train_adam_libtorch, the
// CUDA path) and the CPU trainer below — and the initial weights both start from. Free of LibTorch.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "core/data/matrix.h"
#include "core/util/context.h"
#include "models/dense/kernels.h"

namespace deferbench::dense {

// Minibatch Adam on  mean_batch CE + coef · Σ‖W‖²,  with coef = l2 / batch_rows when
// l2_per_batch (scikit-learn's MLP: l2 = alpha / 2) and coef = l2 otherwise (scikit-learn's
// logistic regression objective divided by C·n: l2 = 1 / (2 C n)). Rows are reshuffled every
// epoch with Rng(shuffle_seed). Adam is PyTorch's (betas 0.9 / 0.999, eps 1e-8 added to the
// bias-corrected √v).
//
// Stopping follows scikit-learn's n_iter_no_change: an epoch "does not improve" when its
// monitored loss is above best − tol; after more than `patience` such epochs in a row, training
// stops. With validation data the monitored loss is the validation cross-entropy and the
// weights of the best validation epoch are restored at the end; without, it is the training
// objective (averaged over the epoch) and the last weights are kept.
struct AdamOptions {
  double lr = 1e-3;
  std::int64_t batch_size = 200;
  int max_epochs = 200;
  int patience = 10;
  double tol = 1e-4;
  double l2 = 0.0;
  bool l2_per_batch = true;
  std::uint64_t shuffle_seed = 0;
  std::int64_t eval_chunk = 65536;  // rows per chunk of the validation loss (LibTorch path)
};

struct AdamReport {
  int epochs = 0;                  // epochs run
  int best_epoch = 0;              // 1-based epoch whose weights were kept (val) or the last one
  bool stopped_early = false;      // stopped before max_epochs
  std::vector<double> train_loss;  // per epoch: the objective, averaged over the epoch's batches
  std::vector<double> val_loss;    // per epoch: validation cross-entropy (empty without val)
};

// The stopping rule above, shared by both implementations: scikit-learn's
// _update_no_improvement_count over the epochs' monitored losses.
class EpochMonitor {
 public:
  explicit EpochMonitor(const AdamOptions& o) : tol_(o.tol), patience_(o.patience) {}
  // Records an epoch's monitored loss; true when it is the lowest so far.
  bool record(double monitored) {
    no_improvement_ = monitored > best_ - tol_ ? no_improvement_ + 1 : 0;
    if (!(monitored < best_)) return false;
    best_ = monitored;
    return true;
  }
  // More than `patience` epochs in a row without improving by tol.
  bool stop() const { return no_improvement_ > patience_; }

 private:
  double tol_;
  int patience_;
  double best_ = std::numeric_limits<double>::infinity();
  int no_improvement_ = 0;
};

// A network's parameters on the host, layer by layer (input layer first).
struct DenseWeights {
  std::vector<Matrix> weights;             // out × in per layer
  std::vector<std::vector<float>> biases;  // out per layer
};

// Initial weights drawn with deferbench's Rng (platform independent, the same on every device):
// Glorot-uniform as scikit-learn's MLP (bound √(6/(fan_in+fan_out)), √(2/…) for logistic) for
// weights and biases, drawn layer by layer, weights (row-major) before biases; or all zeros
// (logistic regression, as scikit-learn).
enum class Init { kGlorot, kZeros };
DenseWeights initial_weights(std::size_t in, const std::vector<std::size_t>& hidden,
                             std::size_t out, Activation activation, Init init, std::uint64_t seed);

// What each row is trained toward, for both CPU trainers (train_adam_cpu and
// SoftmaxRegressionObjective) and LibTorch's (torch_util::train_adam_libtorch): a class index y_i
// (< k), or a row of target weights W_i (an n × k matrix, entries finite and ≥ 0: checked by the
// caller). Row i's cross-entropy at logits z is
//   Σ_j W_ij (lse − z_j) = m_i · lse − Σ_j W_ij z_j,   lse = ln Σ_c e^{z_c},   m_i = Σ_j W_ij,
// and its gradient ∂/∂z_o = m_i p_o − W_io (p = softmax(z)). A class index is the one-hot row
// W_ij = 1{j = y_i}, computed without the zeros: m_i = 1, Σ_j W_ij z_j = z_y, ∂/∂z = p − e_y.
// One-hot weights give the same numbers bit for bit (each W_ij z_j with j ≠ y adds an exact 0 to
// the double sum, m_i is exactly 1, and 1 · p_o − 0 = p_o, 1 · p_y − 1 = p_y − 1).
class RowTargets {
 public:
  RowTargets() = default;  // no rows
  // Class indices; `y` must outlive the targets. Implicit, so that a std::vector of class
  // indices can be passed where targets are taken.
  RowTargets(const std::vector<std::int64_t>& y) : y_(&y) {}  // NOLINT(google-explicit-constructor)
  // Target weights (n × k); the matrix must outlive the targets.
  explicit RowTargets(MatrixView weights) : weights_(weights) {}

  std::size_t rows() const { return y_ != nullptr ? y_->size() : weights_.rows(); }
  // The class indices, or null when the targets are weights (or there are no rows).
  const std::vector<std::int64_t>* indices() const { return y_; }
  // The target weights (n × k); an empty view when the targets are class indices.
  MatrixView weights() const { return y_ != nullptr ? MatrixView() : weights_; }
  // Class indices: every index is in [0, k). Weights: k columns. The trainers' DB_ASSERT.
  bool fits(std::size_t k) const;

  // Σ_j W_ij z_j over the row's k logits (class index: z_y).
  double target_logit(std::size_t i, const float* z) const {
    if (y_ != nullptr) return static_cast<double>(z[static_cast<std::size_t>((*y_)[i])]);
    const float* w = weights_.row(i);
    double s = 0.0;
    for (std::size_t j = 0; j < weights_.cols(); ++j) s += static_cast<double>(w[j]) * z[j];
    return s;
  }
  // m_i = Σ_j W_ij, summed in double (class index: 1).
  double mass(std::size_t i) const {
    if (y_ != nullptr) return 1.0;
    const float* w = weights_.row(i);
    double s = 0.0;
    for (std::size_t j = 0; j < weights_.cols(); ++j) s += w[j];
    return s;
  }
  // out[o] = (m_i p_o − W_io) · scale for o < k, from p = softmax(z) (k entries; out may be p).
  void gradient(std::size_t i, const float* p, std::size_t k, float scale, float* out) const {
    if (y_ != nullptr) {
      const auto y = static_cast<std::size_t>((*y_)[i]);
      const float py = p[y];
      for (std::size_t o = 0; o < k; ++o) out[o] = p[o] * scale;
      out[y] = (py - 1.0f) * scale;
      return;
    }
    const float* w = weights_.row(i);
    const auto m = static_cast<float>(mass(i));
    for (std::size_t o = 0; o < k; ++o) out[o] = (m * p[o] - w[o]) * scale;
  }

 private:
  const std::vector<std::int64_t>* y_ = nullptr;  // class indices, or
  MatrixView weights_;                            // target weights (when y_ is null)
};

// Trains `net` in place on the CPU without LibTorch. x: n × d features as the network takes
// them; y: each row's target (RowTargets: a class index < the output width, or a row of target
// weights as wide as the output, the loss then the weighted cross-entropy above: per batch
// (1/rows) Σ_i Σ_j W_ij (lse_i − z_ij)); x_val / y_val: validation rows (may be empty), their
// targets of either kind (the monitored validation loss is the mean of the same per-row loss).
// One-hot weights train exactly as their class indices (the same weights bit for bit). Uses up to
// `threads` threads (one for networks too small to gain from more).
//
// Every step — forward, softmax, both backward products, the bias gradients (a row of ones
// appended to each layer's transposed input), the L2 term and Adam — runs through the kernels
// of dense_kernels.h with every sum in a fixed order, so the trained weights do not depend on
// the thread count or on the CPU's vector width. Memory beyond x is one minibatch of
// activations, the parameters four times over (weights, gradient, two moments) plus the best
// epoch's, and one validation block per thread.
AdamReport train_adam_cpu(DenseWeights& net, Activation activation, MatrixView x,
                          const RowTargets& y, MatrixView x_val, const RowTargets& y_val,
                          const AdamOptions& options, int threads);

// The full-batch objective of multinomial logistic regression on the CPU, for lbfgs_minimize
// (core/util/lbfgs.h):
//   f(W, b) = (1/n) Σ_i CE(W x_i + b, y_i) + l2 · ‖W‖²   (b is not penalized),
// with its gradient. Parameters: W (k × d, row-major), then b (k). The rows are cut into a fixed
// number of blocks (at most block_rows rows each, so memory stays bounded); each block's
// gradient goes through the kernels of dense_kernels.h, and the blocks are summed in order, in
// double: the value does not depend on the thread count.
//
// Target weights instead of class indices (the second constructor: a weight matrix T, n × k,
// entries finite and ≥ 0): every row is a mixture of targets, CE(z_i, y_i) becomes
// Σ_j T_ij · CE(z_i, j) = Σ_j T_ij (lse_i − z_ij) with lse_i = ln Σ_c e^{z_ic}, so
//   f(W, b) = (1/n) Σ_i Σ_j T_ij (lse_i − z_ij) + l2 · ‖W‖²,   z_i = W x_i + b,
//   ∂f/∂z_io = (1/n) ((Σ_j T_ij) p_io − T_io),   p_i = softmax(z_i),
// still convex in (W, b). Class indices are the one-hot case (T_ij = 1{j = y_i}), and one-hot
// weights give the class-index path's value and gradient bit for bit (RowTargets: row i adds
// −Σ_j T_ij z_ij = −z_iy and (Σ_j T_ij) · lse_i = lse_i in the same order, and its ∂CE/∂z is
// 1 · p_io − T_io = p_io − 1{o = y_i}). Used by the comp-sum surrogate of multi-expert deferral
// (core/experts/costs.h: comp_sum_weights; LogReg::fit_cost_weighted).
class SoftmaxRegressionObjective {
 public:
  // y: each row's class index (< k). x and y must outlive the objective.
  SoftmaxRegressionObjective(MatrixView x, const std::vector<std::int64_t>& y, std::size_t k,
                             double l2, std::size_t block_rows, int threads);
  // targets: n × k target weights (k = targets.cols()); checked by the caller (finite, ≥ 0).
  // x and targets must outlive the objective.
  SoftmaxRegressionObjective(MatrixView x, MatrixView targets, double l2, std::size_t block_rows,
                             int threads);
  double operator()(const std::vector<double>& params, std::vector<double>& grad);

 private:
  // What both public constructors share: the blocks, the thread count and the buffers.
  SoftmaxRegressionObjective(MatrixView x, std::size_t k, double l2, std::size_t block_rows,
                             int threads);
  // Rows [r0, r0 + rows), their logits in z (rows pad apart): adds the rows' cross-entropies to
  // `loss` (in row order) and turns z into ∂CE/∂z; lse: room for the rows' log-sum-exps.
  void chunk_loss(std::size_t r0, std::size_t rows, float* z, float* lse, double& loss) const;

  MatrixView x_;
  RowTargets targets_;
  std::size_t k_, d_, pad_, blocks_ = 0, block_rows_ = 0;
  double l2_;
  int threads_ = 1;
  std::vector<float> pt_, zeros_;            // (d + 1) × pad: Wᵀ then b
  std::vector<float> block_grad_;            // blocks × (d + 1) × pad
  std::vector<double> block_loss_;           // per block
  std::vector<std::vector<float>> scratch_;  // per thread: block_rows × pad
};

}  // namespace deferbench::dense
