// Tree ensembles as tensors, so that forests (dt, rf, et) and boosted trees (gbt, xgb) route on
// CUDA through LibTorch. LibTorch glue: the header is free of LibTorch; the trees hand their flat
// form (models/trees/flat_trees.h) over.
//
// The flat form holds every tree's nodes in flat arrays (global node ids), each leaf's
// contribution in a row of a dense leaves × K table. A batch of rows on the device descends all
// trees at once: each step gathers every (row, tree) pair's node, its feature, the row's value and
// the threshold, and moves it to a child ("x ≤ threshold" goes left, NaN right, as the CPU
// walkers); after the ensemble's depth every pair sits on its leaf. The leaves' rows are then added
// tree by tree, in tree order and in the CPU path's precision (float for forests, double for
// boosting), so the sums equal the CPU's bit for bit; what follows (scaling, softmax, the global
// label space) stays on the host, as on the CPU. tree_device_model() adds that last part on the
// device, for a policy routed whole there (core/model/device_model.h).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/data/matrix.h"
#include "core/model/device_model.h"
#include "core/util/context.h"
#include "models/trees/flat_trees.h"

namespace deferbench::torch_util {

class TensorTrees {
 public:
  explicit TensorTrees(FlatTrees trees);
  ~TensorTrees();
  TensorTrees(const TensorTrees&) = delete;
  TensorTrees& operator=(const TensorTrees&) = delete;

  // init + Σ over trees (in order) of each row's leaf contributions: x.rows() × k, on ctx's device
  // in chunks of chunk_rows rows (cpu runs the same tensor code), returned in double. On CUDA,
  // in builds with the tree kernel (tree_kernel.h), the kernel computes them instead of the
  // gathers.
  std::vector<double> sum_leaves(MatrixView x, const Context& ctx, std::int64_t chunk_rows) const;

  // The same sums by the tree kernel's own per-row walk (tree_walk.h) run on the host: what the
  // CUDA kernel computes, checkable without a GPU.
  std::vector<double> sum_leaves_walk(MatrixView x) const;

  // Whether this build has the CUDA tree kernel.
  static bool has_kernel();

  const FlatTrees& trees() const { return trees_; }

  // The leaves' contributions as compressed rows (their non-zero columns), in the sums'
  // precision: what the tree kernel adds.
  struct SparseLeaves {
    std::vector<std::int32_t> begin;  // leaves + 1
    std::vector<std::int32_t> column;
    std::vector<float> value_f;   // forests
    std::vector<double> value_d;  // boosting
  };
  const SparseLeaves& sparse_leaves() const { return sparse_; }

  // The ensemble as LibTorch tensors on one device (defined in the implementation): made on
  // first use and kept.
  struct DeviceArrays;
  const DeviceArrays& on_device(int device_index) const;  // −1: the CPU

 private:
  FlatTrees trees_;
  SparseLeaves sparse_;
  std::vector<float> init_f_;
  mutable std::mutex mu_;
  mutable std::vector<std::pair<int, std::unique_ptr<DeviceArrays>>> devices_;
};

// `trees` as a device form: rows × inputs float → rows × n_classes probabilities on the device
// of its input; column c of the sums is global class classes[c].
std::shared_ptr<const DeviceModel> tree_device_model(std::shared_ptr<const TensorTrees> trees,
                                                     TreeLink link,
                                                     std::vector<std::int32_t> classes,
                                                     std::size_t n_classes, std::size_t inputs);

}  // namespace deferbench::torch_util
