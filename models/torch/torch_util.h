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
#include "models/dense/host_data.h"
#include "models/dense/inference.h"
#include "models/dense/train.h"
#include "models/torch/dense_device.h"

namespace deferbench::torch_util {

// The dense models' types (models/dense) are this namespace's too.
using namespace deferbench::dense;

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
// through pinned memory (filled by `threads` threads for large copies) with a non-blocking copy;
// LibTorch's caching host allocator keeps the pinned block alive until the copy has finished.
void copy_to(torch::Tensor dst, const torch::Tensor& src, int threads = 1);

// Copies a 2-D float tensor (any device) into a Matrix.
Matrix to_matrix(const torch::Tensor& t);

// Copies a 1-D float tensor (any device) into a vector.
std::vector<float> to_vector(const torch::Tensor& t);

// (x − mean) ⊙ scale as one float tensor on `device`, copied over in chunks of `chunk_rows`
// (through pinned host memory with non-blocking copies when the device is CUDA), so that the
// host side never holds more than one chunk beyond `x` itself.
torch::Tensor standardized_on(MatrixView x, const std::vector<float>& mean,
                              const std::vector<float>& scale, torch::Device device,
                              std::int64_t chunk_rows);

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

// The initial weights of torch_util::initial_weights (dense_train.h) copied into `net`.
void initialize(DenseNet& net, Init init, std::uint64_t seed);

// Host copies of a net's parameters (layer by layer).
DenseWeights weights_of(const DenseNet& net);

// LibTorch autograd implementation of the Adam training of dense_train.h (the CUDA path; the
// CPU trains with train_adam_cpu).
// x: n × d on the net's device; y (and y_val) the rows' targets there: n int64 compact class
// indices, or n × k float target weights (the row loss Σ_j W_ij (−log softmax_j(z)); see
// summed_cross_entropy). x_val / y_val may be undefined tensors (no validation).
AdamReport train_adam(DenseNet& net, const torch::Tensor& x, const torch::Tensor& y,
                      const torch::Tensor& x_val, const torch::Tensor& y_val,
                      const AdamOptions& options);

// Σ over the rows of the cross-entropy of `logits` (rows × k) against `targets`: class indices
// (int64, rows) or target weights (float, rows × k; a row's loss Σ_j W_ij (−log softmax_j)).
torch::Tensor summed_cross_entropy(const torch::Tensor& logits, const torch::Tensor& targets);

// Mean cross-entropy of net(x) against y (targets of either kind), in chunks, without gradients.
double mean_cross_entropy(DenseNet& net, const torch::Tensor& x, const torch::Tensor& y,
                          std::int64_t chunk_rows);

}  // namespace deferbench::torch_util
