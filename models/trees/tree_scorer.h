// Additive ensembles of regression trees compiled for prediction — gbt's trees, and XGBoost's
// boosters converted to the same nodes (models/xgboost/xgb.cpp):
//   score_c(x) = init_c + Σ_{trees t of column c} leaf_t(x),   p = softmax(score),
// written into the global label space (the classes not trained get exactly 0).
//
// Trees whose depth is at most kMaxCompleteDepth are laid out as complete binary trees of the
// ensemble's largest depth (heap order; a leaf above the bottom becomes a pass-through split
// whose two subtrees end in its value), so every row takes the same number of steps without
// data-dependent branches; deeper ensembles are walked node by node from one flat array. Rows
// go through the trees in blocks of 64, tree-major (a tree's nodes stay in L1 across a block),
// and each row's leaves are summed in tree order in double: a row's probabilities do not depend
// on its batch or on the thread count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/data/matrix.h"
#include "core/util/context.h"
#include "models/torch/tree_tensors.h"

namespace deferbench {

// One node of a regression tree, flat: the children of node i are nodes left and right of the
// same tree. A leaf has feature −1 and adds `value` to its class's score.
struct GbtNode {
  std::int32_t feature = -1;  // split feature, −1 for a leaf
  std::int32_t bin = 0;       // the split "bin ≤ bin" on the training bins (gbt)
  float threshold = 0.0f;  // the same split on raw values: x ≤ threshold goes left (NaN: right)
  float value = 0.0f;      // leaf score (learning rate included)
  std::int32_t left = -1;
  std::int32_t right = -1;
};

// Rows per chunk of the tensor form's prediction (its (row, tree) tensors: rows × trees).
inline constexpr std::int64_t kTensorChunkRows = 65536;

class TreeScorer {
 public:
  static constexpr int kMaxCompleteDepth = 8;

  TreeScorer();
  // trees[t] adds to score column columns[t] < k.
  TreeScorer(const std::vector<std::vector<GbtNode>>& trees, std::vector<std::uint32_t> columns,
             std::size_t k);

  std::size_t trees() const { return columns_.size(); }
  int complete_depth() const { return complete_depth_; }  // > kMaxCompleteDepth: not compiled

  // s[i · k + c] += Σ leaves of column c, for rows [0, rows) of x (ld apart), rows ≤ 64.
  void add_scores(const float* x, std::size_t ld, std::size_t rows, double* s) const;

  // softmax(init + scores) of every row of x, into n_classes columns (column c of the scores
  // goes to classes[c]), over `threads` threads.
  Matrix predict_proba(MatrixView x, const std::vector<double>& init,
                       const std::vector<std::int32_t>& classes, std::size_t n_classes,
                       int threads) const;

  // The same through the trees' tensor form (models/torch/tree_tensors.h) on ctx's device, in
  // chunks of chunk_rows rows: the same scores bit for bit, the same softmax on the host.
  Matrix predict_proba_tensors(MatrixView x, const std::vector<double>& init,
                               const std::vector<std::int32_t>& classes, std::size_t n_classes,
                               const Context& ctx, std::int64_t chunk_rows) const;

  // The trees' tensor form with base scores `init`, built on first use (per init) and shared.
  std::shared_ptr<const torch_util::TensorTrees> tensor_trees(
      const std::vector<double>& init) const;

 private:
  std::size_t k_ = 0;
  std::vector<std::uint32_t> columns_;
  // Every tree's nodes (tree t from offsets_[t]; children relative), for trees too deep for the
  // complete form (kept only then).
  std::vector<GbtNode> flat_;
  std::vector<std::size_t> offsets_;
  int complete_depth_ = 0;
  std::vector<std::int32_t> complete_feature_;
  std::vector<float> complete_threshold_, complete_leaf_;
  // The tensor form, built on first use (per init) and shared by copies.
  struct Tensors;
  std::shared_ptr<Tensors> tensors_;
};

// The leaf a row of raw values falls in ("x ≤ threshold" goes left).
inline float leaf_of_values(const GbtNode* t, const float* row) {
  std::int32_t i = 0;
  while (t[i].feature >= 0) i = row[t[i].feature] <= t[i].threshold ? t[i].left : t[i].right;
  return t[i].value;
}

}  // namespace deferbench
