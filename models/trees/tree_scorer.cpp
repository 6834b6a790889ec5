#include "models/trees/tree_scorer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <utility>

#include "core/util/error.h"

namespace deferbench {

namespace {

constexpr std::size_t kBlock = 64;
// Row-tree steps below which one thread predicts: less than waking a second one.
constexpr std::size_t kParallelWork = 1 << 15;

int tree_depth(const std::vector<GbtNode>& t, std::int32_t i) {
  const GbtNode& node = t[static_cast<std::size_t>(i)];
  if (node.feature < 0) return 0;
  return 1 + std::max(tree_depth(t, node.left), tree_depth(t, node.right));
}

// Writes node i of `t` at position pos of a complete tree of depth `depth` (internal nodes
// 0 … 2^depth − 2 in heap order, then the 2^depth leaves): a leaf above the bottom becomes a
// pass-through split whose two subtrees both end in its value, so every row takes exactly
// `depth` steps and lands on the leaf the original walk reaches (NaN included: it goes right
// in both).
void place(const std::vector<GbtNode>& t, std::int32_t i, std::size_t pos, int level, int depth,
           std::int32_t* feature, float* threshold, float* leaf) {
  const GbtNode& node = t[static_cast<std::size_t>(i)];
  if (level == depth) {
    leaf[pos - ((std::size_t{1} << depth) - 1)] = node.value;
    return;
  }
  const bool is_leaf = node.feature < 0;
  feature[pos] = is_leaf ? 0 : node.feature;
  threshold[pos] = is_leaf ? std::numeric_limits<float>::infinity() : node.threshold;
  place(t, is_leaf ? i : node.left, 2 * pos + 1, level + 1, depth, feature, threshold, leaf);
  place(t, is_leaf ? i : node.right, 2 * pos + 2, level + 1, depth, feature, threshold, leaf);
}

// softmax(s[0 … K)) into row[classes[c]] (s is overwritten).
void softmax_into(double* s, std::size_t K, const std::vector<std::int32_t>& classes, float* row) {
  const double top = *std::max_element(s, s + K);
  double sum = 0;
  for (std::size_t k = 0; k < K; ++k) sum += s[k] = std::exp(s[k] - top);
  for (std::size_t k = 0; k < K; ++k)
    row[static_cast<std::size_t>(classes[k])] = static_cast<float>(s[k] / sum);
}

}  // namespace

struct TreeScorer::Tensors {
  std::mutex mu;
  std::vector<double> init;
  std::shared_ptr<const torch_util::TensorTrees> trees;
};

std::shared_ptr<const torch_util::TensorTrees> TreeScorer::tensor_trees(
    const std::vector<double>& init) const {
  const std::size_t K = k_;
  DB_ASSERT(init.size() == K);
  std::lock_guard<std::mutex> lock(tensors_->mu);
  if (!tensors_->trees || tensors_->init != init) {
    // Every tree's nodes with global ids; a leaf's row holds its value in its tree's column.
    FlatTrees f;
    f.k = K;
    f.double_sums = true;
    f.init = init;
    std::int32_t leaves = 0;
    auto add_leaf = [&](std::size_t t, float value) {
      f.feature.push_back(-1);
      f.threshold.push_back(0.0f);
      f.left.push_back(leaves++);
      f.right.push_back(0);
      std::vector<double> row(K, 0.0);
      row[columns_[t]] = value;
      f.leaves.insert(f.leaves.end(), row.begin(), row.end());
    };
    if (complete_depth_ <= kMaxCompleteDepth) {
      // The complete trees: inner node p's children are 2p + 1 and 2p + 2 (leaves after the
      // inner nodes), as the CPU walk steps through them.
      const std::size_t inner = (std::size_t{1} << complete_depth_) - 1, n_leaves = inner + 1;
      for (std::size_t t = 0; t < columns_.size(); ++t) {
        const auto base = static_cast<std::int32_t>(f.feature.size());
        f.roots.push_back(base);
        for (std::size_t p = 0; p < inner; ++p) {
          f.feature.push_back(complete_feature_[t * inner + p]);
          f.threshold.push_back(complete_threshold_[t * inner + p]);
          f.left.push_back(base + static_cast<std::int32_t>(2 * p + 1));
          f.right.push_back(base + static_cast<std::int32_t>(2 * p + 2));
        }
        for (std::size_t j = 0; j < n_leaves; ++j) add_leaf(t, complete_leaf_[t * n_leaves + j]);
      }
      f.depth = complete_depth_;
    } else {
      for (std::size_t t = 0; t < columns_.size(); ++t) {
        const std::size_t begin = offsets_[t];
        const std::size_t end = t + 1 < offsets_.size() ? offsets_[t + 1] : flat_.size();
        const auto base = static_cast<std::int32_t>(f.feature.size());
        f.roots.push_back(base);
        for (std::size_t i = begin; i < end; ++i) {
          const GbtNode& node = flat_[i];
          if (node.feature < 0) {
            add_leaf(t, node.value);
            continue;
          }
          f.feature.push_back(node.feature);
          f.threshold.push_back(node.threshold);
          f.left.push_back(base + node.left);
          f.right.push_back(base + node.right);
        }
        const std::vector<GbtNode> tree(flat_.begin() + static_cast<std::ptrdiff_t>(begin),
                                        flat_.begin() + static_cast<std::ptrdiff_t>(end));
        f.depth = std::max(f.depth, tree_depth(tree, 0));
      }
    }
    tensors_->trees = std::make_shared<const torch_util::TensorTrees>(std::move(f));
    tensors_->init = init;
  }
  return tensors_->trees;
}

Matrix TreeScorer::predict_proba_tensors(MatrixView x, const std::vector<double>& init,
                                         const std::vector<std::int32_t>& classes,
                                         std::size_t n_classes, const Context& ctx,
                                         std::int64_t chunk_rows) const {
  DB_ASSERT(classes.size() == k_);
  const std::shared_ptr<const torch_util::TensorTrees> trees = tensor_trees(init);
  const std::size_t K = k_;
  std::vector<double> s = trees->sum_leaves(x, ctx, chunk_rows);
  Matrix out(x.rows(), n_classes, 0.0f);
  for (std::size_t i = 0; i < x.rows(); ++i) softmax_into(&s[i * K], K, classes, out.row(i));
  return out;
}

TreeScorer::TreeScorer() : tensors_(std::make_shared<Tensors>()) {}

TreeScorer::TreeScorer(const std::vector<std::vector<GbtNode>>& trees,
                       std::vector<std::uint32_t> columns, std::size_t k)
    : k_(k), columns_(std::move(columns)), tensors_(std::make_shared<Tensors>()) {
  DB_ASSERT(columns_.size() == trees.size());
  for (std::uint32_t c : columns_) DB_ASSERT(c < k);
  for (const auto& t : trees) DB_ASSERT(!t.empty());
  // The complete-tree form, when every tree is shallow enough for it to stay small; else the
  // nodes in one array.
  complete_depth_ = 0;
  for (const auto& t : trees) complete_depth_ = std::max(complete_depth_, tree_depth(t, 0));
  if (complete_depth_ > kMaxCompleteDepth) {
    for (const auto& t : trees) {
      offsets_.push_back(flat_.size());
      flat_.insert(flat_.end(), t.begin(), t.end());
    }
    return;
  }
  const std::size_t inner = (std::size_t{1} << complete_depth_) - 1, leaves = inner + 1;
  complete_feature_.assign(trees.size() * inner, 0);
  complete_threshold_.assign(trees.size() * inner, 0.0f);
  complete_leaf_.assign(trees.size() * leaves, 0.0f);
  for (std::size_t t = 0; t < trees.size(); ++t)
    place(trees[t], 0, 0, 0, complete_depth_, complete_feature_.data() + t * inner,
          complete_threshold_.data() + t * inner, complete_leaf_.data() + t * leaves);
}

void TreeScorer::add_scores(const float* x, std::size_t ld, std::size_t rows, double* s) const {
  const std::size_t K = k_;
  if (complete_depth_ <= kMaxCompleteDepth) {
    // Branch-free: `depth` steps of i → 2i + 1 + (x > threshold) per row and tree.
    const int depth = complete_depth_;
    const std::size_t inner = (std::size_t{1} << depth) - 1, leaves = inner + 1;
    for (std::size_t t = 0; t < columns_.size(); ++t) {
      const std::int32_t* f = complete_feature_.data() + t * inner;
      const float* thr = complete_threshold_.data() + t * inner;
      const float* leaf = complete_leaf_.data() + t * leaves;
      const std::size_t c = columns_[t];
      // Sixteen rows in lockstep: sixteen independent chains of dependent loads per level (8:
      // 1.3× slower on banking77 xgb, 32: spills and 1.6× slower).
      constexpr std::size_t kLanes = 16;
      std::size_t i0 = 0;
      for (; i0 + kLanes <= rows; i0 += kLanes) {
        const float* row[kLanes];
        std::size_t pos[kLanes];
        for (std::size_t j = 0; j < kLanes; ++j) {
          row[j] = x + (i0 + j) * ld;
          pos[j] = 0;
        }
        for (int d = 0; d < depth; ++d)
          for (std::size_t j = 0; j < kLanes; ++j)
            pos[j] = 2 * pos[j] + 1 + static_cast<std::size_t>(!(row[j][f[pos[j]]] <= thr[pos[j]]));
        for (std::size_t j = 0; j < kLanes; ++j) s[(i0 + j) * K + c] += leaf[pos[j] - inner];
      }
      // The last rows (fewer than a lockstep group: a single query, say) one at a time.
      for (; i0 < rows; ++i0) {
        const float* row = x + i0 * ld;
        std::size_t pos = 0;
        for (int d = 0; d < depth; ++d)
          pos = 2 * pos + 1 + static_cast<std::size_t>(!(row[f[pos]] <= thr[pos]));
        s[i0 * K + c] += leaf[pos - inner];
      }
    }
    return;
  }
  for (std::size_t t = 0; t < columns_.size(); ++t) {
    const GbtNode* tree = flat_.data() + offsets_[t];
    const std::size_t c = columns_[t];
    for (std::size_t i = 0; i < rows; ++i) s[i * K + c] += leaf_of_values(tree, x + i * ld);
  }
}

Matrix TreeScorer::predict_proba(MatrixView x, const std::vector<double>& init,
                                 const std::vector<std::int32_t>& classes, std::size_t n_classes,
                                 int threads) const {
  const std::size_t n = x.rows(), K = k_;
  DB_ASSERT(init.size() == K && classes.size() == K);
  Matrix out(n, n_classes, 0.0f);
  const std::size_t blocks = (n + kBlock - 1) / kBlock;
  const int team = n * columns_.size() >= kParallelWork
                       ? static_cast<int>(std::min<std::size_t>(
                             blocks, static_cast<std::size_t>(std::max(1, threads))))
                       : 1;
#pragma omp parallel num_threads(team)
  {
    std::vector<double> s(kBlock * K);
#pragma omp for schedule(static)
    for (std::ptrdiff_t bb = 0; bb < static_cast<std::ptrdiff_t>(blocks); ++bb) {
      const std::size_t b = static_cast<std::size_t>(bb) * kBlock, e = std::min(b + kBlock, n);
      for (std::size_t i = b; i < e; ++i) std::copy(init.begin(), init.end(), &s[(i - b) * K]);
      add_scores(x.row(b), x.cols(), e - b, s.data());
      for (std::size_t i = b; i < e; ++i) softmax_into(&s[(i - b) * K], K, classes, out.row(i));
    }
  }
  return out;
}

}  // namespace deferbench
