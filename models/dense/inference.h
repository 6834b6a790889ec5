// Inference of a fitted dense network — logistic regression (no hidden layer) or an MLP:
// softmax(net((x − mean) ⊙ scale)) over the classes seen in training, written into the global
// label space (the other columns exactly 0). Free of LibTorch: the CUDA half (the chunked
// inference on a GPU and the device form) is models/torch/dense_device.h.
//
// Built once per fitted (or loaded) model, not per call:
//  - the standardization is folded into the first layer (W' = W diag(scale),
//    b' = b − W' mean, in double), so inference reads x as it is: no standardized copy;
//  - on CPU it is plain C++ (no LibTorch dispatch): rows in blocks of 64 over ctx.threads
//    OpenMP threads, each layer a register-tiled product (AVX2 + FMA when the CPU has it) whose
//    every output is accumulated in a fixed order, so a row's probabilities do not depend on
//    the batch it came in (a query routed alone or in a batch of a million gets the same
//    decision), nor on the thread count; memory beyond the output is two blocks of activations
//    per thread, whatever the batch size;
//  - on CUDA the weights are moved to the device once and kept; chunks of `chunk_rows` rows go
//    over through pinned host memory and through LibTorch, each layer written into buffers
//    reused across chunks;
//  - Precision::kBFloat16 (dense_kernels.h) rounds the input, the weights and every layer's
//    output to bfloat16 and accumulates in float: LibTorch's bf16 kernels on a device, the same
//    rounding emulated with the float kernels on the CPU;
//  - torch_util::dense_device_model() (models/torch/dense_device.h) gives the network as a device
//    form (core/model/device_model.h) for a policy routed whole on a device.
// Inference never reseeds anything. Thread-safe: concurrent predict calls share the weights
// (the device copies are made under a lock).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/data/binary_io.h"
#include "core/data/matrix.h"
#include "core/model/device_model.h"
#include "core/util/context.h"
#include "models/dense/kernels.h"

namespace deferbench::dense {

// Checks the shapes of a dense network read from a model file against one another, with an
// Error naming r.source(), the field and what was expected (what DenseInference asserts):
// `scale` has as many values as `mean` (the inputs); weights[l] is out_l × in_l with in_0 the
// inputs, in_l = out_(l−1), out_l = hidden[l] for the hidden layers and the number of classes
// for the last; biases[l] has out_l values. `weights_field` / `bias_field` name the fields of a
// one-layer file (logreg's weight and bias); with several layers the messages add the layer.
void check_dense_shapes(const BinaryReader& r, const std::string& model,
                        const std::vector<float>& mean, const std::vector<float>& scale,
                        const std::vector<Matrix>& weights,
                        const std::vector<std::vector<float>>& biases,
                        const std::vector<int>& hidden, std::size_t n_classes_predicted,
                        const std::string& weights_field, const std::string& bias_field);

class DenseInference {
 public:
  // weights[l]: out × in (input layer first), biases[l]: out; mean / scale: the standardization
  // of the first layer's input (scale = 1/std); classes: the global ids of the network's
  // outputs (sorted), n_classes: the size of the global label space.
  DenseInference(const std::vector<Matrix>& weights, const std::vector<std::vector<float>>& biases,
                 Activation activation, const std::vector<float>& mean,
                 const std::vector<float>& scale, std::vector<std::int32_t> classes,
                 std::size_t n_classes, Precision precision = Precision::kFloat32);
  ~DenseInference();
  DenseInference(const DenseInference&) = delete;
  DenseInference& operator=(const DenseInference&) = delete;

  // x.rows() × n_classes probabilities on ctx's device (cuda: in chunks of chunk_rows rows).
  Matrix predict_proba(MatrixView x, const Context& ctx, std::int64_t chunk_rows) const;

  std::size_t inputs() const { return inputs_; }
  std::size_t n_classes() const { return n_classes_; }
  Precision precision() const { return precision_; }
  Activation activation() const { return activation_; }
  const std::vector<std::int32_t>& classes() const { return classes_; }

  // The folded layers (out × in, input layer first) and biases, in the inference's precision:
  // what a device copies.
  const std::vector<Matrix>& layer_weights() const { return weights_; }
  const std::vector<std::vector<float>>& layer_biases() const { return biases_; }
  // classes() is 0 … n_classes − 1 (the outputs are the global columns themselves).
  bool identity_classes() const { return identity_; }
  // The per-device copies of the layers, made by models/torch on first use and kept here.
  const DeviceCache& device_cache() const { return device_cache_; }

  // The CPU path of predict_proba, into `out` (rows × n_classes, zeros).
  void predict_cpu(MatrixView x, Matrix& out, int threads) const;

 private:
  std::vector<Matrix> weights_;  // folded: out × in per layer (the CUDA path's layout)
  std::vector<std::vector<float>> biases_;
  // The CPU layout: per layer in × out_pad (transposed, zero columns up to a multiple of 16).
  std::vector<std::vector<float>> wt_, bias_pad_;
  std::vector<std::size_t> out_pad_;
  Activation activation_;
  std::vector<std::int32_t> classes_;
  std::size_t n_classes_ = 0, inputs_ = 0;
  bool identity_ = false;  // classes_ == 0…n_classes−1
  Precision precision_ = Precision::kFloat32;

  DeviceCache device_cache_;
};

}  // namespace deferbench::dense
