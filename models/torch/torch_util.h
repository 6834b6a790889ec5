// LibTorch glue shared by models/torch: devices from a Context, tensors over our buffers,
// standardization, the dense network both surrogates are made of (logistic regression is a
// DenseNet with no hidden layer), minibatch Adam with early stopping, and chunked inference.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <string_view>

#include <torch/torch.h>

#include "core/data/dataset.h"
#include "core/data/matrix.h"
#include "core/util/context.h"
#include "models/torch/dense_inference.h"

namespace deferbench::torch_util {

// Context::device → a torch device. auto → CUDA when available, else CPU. Asking for CUDA in a
// process without a usable GPU throws deferbench::Error.
torch::Device device_of(const Context& ctx);

// Applies ctx.threads to LibTorch's intra-op pool and seeds its generator with ctx.seed.
void apply(const Context& ctx);

// Sets LibTorch's intra-op threads for a scope and restores them after.
class ScopedThreads {
 public:
  explicit ScopedThreads(int threads);
  ~ScopedThreads();
  ScopedThreads(const ScopedThreads&) = delete;
  ScopedThreads& operator=(const ScopedThreads&) = delete;

 private:
  int saved_;
};

// The intra-op threads worth using for a computation whose largest kernel does about `work`
// multiply-adds: 1 below kParallelWork, else the current setting. Many small kernels split
// across OpenMP threads gain little, and workers spinning between them starve the BLAS's own
// threads: measured 20–50× slower fits with 2 threads than with 1 on a busy 2-core machine.
inline constexpr double kParallelWork = 16.0 * 1024 * 1024;
int threads_for_work(double work);

// A CPU tensor viewing `m` (no copy; the caller keeps `m` alive and does not write through it).
torch::Tensor view_of(MatrixView m);

// A CPU tensor viewing `v` (no copy; same rules as view_of).
torch::Tensor view_of(const std::vector<float>& v);

// `src` (a CPU tensor) copied into `dst` (same shape, on any device). To CUDA, the rows go
// through pinned memory with a non-blocking copy; LibTorch's caching host allocator keeps the
// pinned block alive until the copy has finished.
void copy_to(torch::Tensor dst, const torch::Tensor& src);

// Copies a 2-D float tensor (any device) into a Matrix.
Matrix to_matrix(const torch::Tensor& t);

// Copies a 1-D float tensor (any device) into a vector.
std::vector<float> to_vector(const torch::Tensor& t);

// Column means and 1/std over the rows of x (std 0 → scale 1), accumulated in double.
void standardization(MatrixView x, std::vector<float>& mean, std::vector<float>& scale);

// (x − mean) ⊙ scale as one float tensor on `device`, copied over in chunks of `chunk_rows`
// (through pinned host memory with non-blocking copies when the device is CUDA), so that the
// host side never holds more than one chunk beyond `x` itself.
torch::Tensor standardized_on(MatrixView x, const std::vector<float>& mean,
                              const std::vector<float>& scale, torch::Device device,
                              std::int64_t chunk_rows);

// The sorted distinct labels of a training set, and each row's index among them.
struct CompactLabels {
  std::vector<std::int32_t> classes;
  std::vector<std::int64_t> index;  // one per row
};
CompactLabels compact_labels(const std::vector<std::int32_t>& labels);

// A training set on the device, as every torch model starts its fit: the classes present (the
// model trains over those only; the others get probability zero), the standardization learned
// on it (mean 0 / scale 1 when `standardize` is false), the standardized features and the
// compact class indices. Errors name `model` for an empty or featureless training set.
struct TrainingTensors {
  std::vector<std::int32_t> classes;
  std::vector<float> mean, scale;
  torch::Tensor x, y;
};
TrainingTensors training_tensors(const Dataset& train, bool standardize, torch::Device device,
                                 std::int64_t chunk_rows, std::string_view model);

// The rows of `labels` whose class is among `classes` (sorted), and their compact indices:
// validation rows of a class the model never saw are left out of the validation loss.
struct KnownRows {
  std::vector<std::size_t> rows;
  std::vector<std::int64_t> index;
};
KnownRows known_rows(const std::vector<std::int32_t>& labels,
                     const std::vector<std::int32_t>& classes);

// Linear layers in → hidden... → out with the activation between them; no hidden layer is
// (multinomial) logistic regression. Outputs logits.
struct DenseNetImpl : torch::nn::Module {
  DenseNetImpl(std::int64_t in, const std::vector<std::int64_t>& hidden, std::int64_t out,
               Activation activation);
  torch::Tensor forward(torch::Tensor x);

  // Σ‖W‖² over the weight matrices (biases are not penalized).
  torch::Tensor weight_sq_norm() const;

  std::vector<torch::nn::Linear> layers;
  Activation activation;
};
TORCH_MODULE(DenseNet);

// Initial weights drawn with deferbench's Rng (platform independent, the same on every device):
// Glorot-uniform as scikit-learn's MLP (bound √(6/(fan_in+fan_out)), √(2/…) for logistic) for
// weights and biases; or all zeros (logistic regression, as scikit-learn).
enum class Init { kGlorot, kZeros };
void initialize(DenseNet& net, Init init, std::uint64_t seed);

// Host copies of a net's parameters (layer by layer), and back.
struct DenseWeights {
  std::vector<Matrix> weights;             // out × in per layer
  std::vector<std::vector<float>> biases;  // out per layer
};
DenseWeights weights_of(const DenseNet& net);

// Minibatch Adam on  mean_batch CE + coef · Σ‖W‖²,  with coef = l2 / batch_rows when
// l2_per_batch (scikit-learn's MLP: l2 = alpha / 2) and coef = l2 otherwise (scikit-learn's
// logistic regression objective divided by C·n: l2 = 1 / (2 C n)). Rows are reshuffled every
// epoch with Rng(shuffle_seed).
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
  std::int64_t eval_chunk = 65536;  // rows per chunk of the validation loss
};

struct AdamReport {
  int epochs = 0;                  // epochs run
  int best_epoch = 0;              // 1-based epoch whose weights were kept (val) or the last one
  bool stopped_early = false;      // stopped before max_epochs
  std::vector<double> train_loss;  // per epoch: the objective, averaged over the epoch's batches
  std::vector<double> val_loss;    // per epoch: validation cross-entropy (empty without val)
};

// x: n × d and y: n (int64, compact class indices) on the net's device; x_val / y_val may be
// undefined tensors (no validation).
AdamReport train_adam(DenseNet& net, const torch::Tensor& x, const torch::Tensor& y,
                      const torch::Tensor& x_val, const torch::Tensor& y_val,
                      const AdamOptions& options);

// Mean cross-entropy of net(x) against y, in chunks, without gradients.
double mean_cross_entropy(DenseNet& net, const torch::Tensor& x, const torch::Tensor& y,
                          std::int64_t chunk_rows);

}  // namespace deferbench::torch_util
