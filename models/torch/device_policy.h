// A routing policy run whole on one device: a batch goes host → device once; every stage's
// surrogate, acceptor features (top-1, top-2, margin, normalized entropy, the kNN agreement, the
// embedding), acceptor, out-of-distribution guard and threshold(s) run there; rows a stage
// rejects go on to the next stage without leaving the device; and the decisions come back once
// (one packed copy per chunk of rows). The device is CUDA, or the CPU through the same LibTorch
// code (for tests, and to compare with route() where there is no GPU). This header is free of
// LibTorch.
//
// What it computes is route() of core/routing/policy.h, up to the arithmetic of the device:
//  - tree surrogates and acceptors (dt, rf, et, gbt, xgb): the same probabilities (sums in the
//    CPU's order and precision; the boosting softmax may differ in its last double bit);
//  - dense ones (logreg, MLPs): the device's matrix products, within float rounding of the CPU
//    kernels (tests: 1e-5 on probabilities); with precision: bf16, the device's bf16 products
//    against the CPU's emulation of them, within a few bf16 steps (tests: 0.03);
//  - the features: the entropy through LibTorch's logarithm (within 1e-6 of the CPU's), the kNN
//    search as one matrix product per block, exact ties won by the lower training row as on the
//    CPU (distances within rounding of each other may still order differently);
//  - thresholds: a float score s clears a threshold t when s ≥ t exactly as on the CPU (t is
//    rounded up to a float once), and a score of −∞ (the guard) is never accepted.
// So a decision can differ from route()'s only for a row whose score lies within float rounding
// of its threshold (or, for bf16 models, within bf16 rounding), or whose kNN neighbours lie within
// float rounding of the k-th distance.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/data/matrix.h"
#include "core/model/device_model.h"
#include "core/routing/policy.h"
#include "core/util/context.h"

namespace deferbench {

struct DevicePolicyOptions {
  // Rows routed at once: bounds the device memory a batch's intermediate tensors take.
  std::int64_t chunk_rows = std::int64_t{1} << 20;
  // The kNN search's distance blocks hold at most this many floats (query rows × training rows).
  std::int64_t knn_block_floats = std::int64_t{1} << 26;
};

class DevicePolicy {
 public:
  // Compiles `stages` for ctx's device (auto: CUDA when usable, else the CPU; cuda without a GPU
  // throws). Throws deferbench::Error naming the stage and the part that has no device form.
  DevicePolicy(const std::vector<Stage>& stages, const Context& ctx,
               DevicePolicyOptions options = {});
  ~DevicePolicy();
  DevicePolicy(const DevicePolicy&) = delete;
  DevicePolicy& operator=(const DevicePolicy&) = delete;

  // Why `stages` cannot run on a device ("" when they can): the first part without a device form.
  static std::string unsupported(const std::vector<Stage>& stages);

  // route() of every row of x: chunks of options.chunk_rows rows go over through pinned host
  // memory; each chunk's decisions come back in one copy.
  Routed route(MatrixView x) const;

  // A batch kept on the policy's device: uploaded once, routed any number of times (the
  // throughput benchmarks time route(batch) against the device's memory bandwidth).
  class Batch;
  std::shared_ptr<const Batch> upload(MatrixView x) const;
  Routed route(const Batch& batch) const;

  Device device() const { return device_; }
  std::size_t stages() const;

 private:
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
  Device device_ = Device::kCpu;
  int device_index_ = -1;
  int threads_ = 1;
  DevicePolicyOptions options_;
};

// The device's memory bandwidth as the routing benchmarks count it: a device-to-device copy of
// `bytes` through LibTorch (the CPU: a memory copy), best of `reps` after one warm-up, in bytes
// read per second (half the bytes moved). The yardstick of "fraction of bandwidth".
double device_copy_read_bandwidth(const Context& ctx, std::size_t bytes, int reps);

// A model's device form run on ctx's device over x (copied there and back): its
// probabilities, rows × model.n_classes(). For tests and comparisons.
Matrix device_predict_proba(const DeviceModel& model, MatrixView x, const Context& ctx);

}  // namespace deferbench
