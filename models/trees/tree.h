// One decision-tree learner for classification (after mlpack: a single tree implementation whose
// variants are policies). It grows depth-first on binned features (models/trees/binning.h) and
// serves dt, rf and et (models/trees/forest.h):
//   - split policy: kBest scans every bin boundary of each candidate feature (histogram search);
//     kRandom draws one cut uniformly between the node's min and max bin (extremely randomized
//     trees, Geurts et al. 2006; scikit-learn's ExtraTrees);
//   - sampling policy (the forest's): integer row weights, bootstrap counts or all ones.
// Split search per candidate feature is O(rows in the node + bins present), independent of the
// number of classes: the node's rows are bucketed by bin (a counting sort, or a plain sort for
// small nodes) and the class counts of the left side are updated row by row, with the impurity
// sums kept incrementally (Σ count² for gini, Σ count·log count for entropy).
// The fitted tree is a flat node array whose thresholds are raw feature values (bin ≤ b ⇔
// x ≤ cut_b), so prediction reads floats with no binning; each leaf points into a sparse table of
// (class, probability) pairs over the classes present in training.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/data/binary_io.h"
#include "models/trees/binning.h"

namespace deferbench {

enum class Criterion : std::uint8_t { kGini, kEntropy };
enum class SplitPolicy : std::uint8_t { kBest, kRandom };

// How many features each node draws, as scikit-learn's max_features.
struct MaxFeatures {
  enum class Kind : std::uint8_t { kAll, kSqrt, kLog2, kFraction, kCount };
  Kind kind = Kind::kAll;
  double value = 0;  // the fraction (kFraction) or the count (kCount)

  // all → d; sqrt → max(1, ⌊√d⌋); log2 → max(1, ⌊log2 d⌋); fraction f → max(1, ⌊f·d⌋);
  // count k → k (an error when k > d).
  std::size_t resolve(std::size_t n_features) const;
  std::string to_string() const;  // what parse reads back to the same value
  // "all", "sqrt", "log2", a fraction in (0, 1] (written with a point: 0.5, 1.0) or an integer
  // ≥ 1. Throws deferbench::Error naming `key_path`, the value and what is accepted.
  static MaxFeatures parse(const std::string& text, const std::string& key_path);
};

struct TreeParams {
  Criterion criterion = Criterion::kGini;
  int max_depth = 16;         // 0 = unlimited
  int min_samples_split = 2;  // a node with fewer (distinct) rows is a leaf
  int min_samples_leaf = 1;   // each child keeps at least this many (distinct) rows
  MaxFeatures max_features;
  SplitPolicy split = SplitPolicy::kBest;
};

// The training rows as every tree of a fit reads them (built once, shared read-only).
struct TreeTrainingSet {
  std::size_t rows = 0;
  std::size_t features = 0;
  int n_classes = 0;                   // compact classes 0 … n_classes − 1
  std::vector<std::uint8_t> bins;      // features × rows: feature-major (dense reads, big nodes)
  std::vector<std::uint8_t> row_bins;  // rows × features: row-major (sparse reads, small nodes)
  std::vector<std::uint16_t> labels;   // compact class of each row
  std::vector<double> xlogx;  // x·ln x for x = 0 … rows (entropy sums on integer weights)
  std::vector<float> cuts;    // features × 256: the raw threshold of "bin ≤ b" (binner's)

  TreeTrainingSet(BinnedMatrix binned, std::vector<std::uint16_t> labels, int n_classes,
                  const FeatureBinner& binner, int threads);
  const std::uint8_t* column(std::size_t f) const { return bins.data() + f * rows; }
  float threshold(std::size_t f, int bin) const {
    return cuts[f * FeatureBinner::kMaxBins + static_cast<std::size_t>(bin)];
  }
};

// Impurity of a node from its class counts: gini 1 − Σ p², entropy −Σ p log2 p (scikit-learn's).
double node_impurity(Criterion criterion, const std::vector<double>& counts);
// impurity(parent) − n_L/n · impurity(left) − n_R/n · impurity(right), parent = left + right.
double impurity_decrease(Criterion criterion, const std::vector<double>& left,
                         const std::vector<double>& right);

class DecisionTree {
 public:
  // One node of the flat array. Internal: x[feature] ≤ threshold → left, else right.
  // Leaf: feature = −1 and `left` is the leaf's index (its probabilities are
  // leaf_classes/leaf_values[leaf_begin[left] … leaf_begin[left + 1])).
  struct Node {
    std::int32_t feature = -1;
    float threshold = 0;
    std::int32_t left = 0;
    std::int32_t right = 0;
  };

  // Grows the tree on the rows with weight > 0 (weights: one per training row, e.g. bootstrap
  // counts). All randomness comes from `seed`; `threads` > 1 evaluates the candidate features of
  // large nodes in parallel (the result does not depend on it).
  void fit(const TreeTrainingSet& data, const std::vector<std::uint32_t>& weights,
           const TreeParams& params, std::uint64_t seed, int threads);

  // The leaf reached by a row of raw features.
  std::int32_t leaf_of(const float* x) const {
    const Node* nodes = nodes_.data();
    std::int32_t i = 0;
    while (nodes[i].feature >= 0)
      i = x[nodes[i].feature] <= nodes[i].threshold ? nodes[i].left : nodes[i].right;
    return nodes[i].left;
  }
  // Adds the leaf's class probabilities of row x into out[compact class].
  void accumulate(const float* x, float* out) const { add_leaf(leaf_of(x), out); }
  // The same for rows x + i·x_stride (i < n ≤ kBlock), into out + i·out_stride. The rows descend
  // the tree together, so their independent node loads overlap in memory.
  static constexpr std::size_t kBlock = 2048;
  void accumulate_block(const float* x, std::size_t n, std::size_t x_stride, float* out,
                        std::size_t out_stride) const;

  const std::vector<Node>& nodes() const { return nodes_; }
  // Per node: the weighted number of training rows and the impurity (for inspection and tests).
  const std::vector<float>& node_weight() const { return node_weight_; }
  const std::vector<float>& node_impurity() const { return node_impurity_; }
  std::size_t n_leaves() const { return leaf_begin_.empty() ? 0 : leaf_begin_.size() - 1; }
  int depth() const { return depth_; }
  // The leaf's (compact class, probability) pairs.
  std::vector<std::pair<int, float>> leaf_distribution(std::int32_t leaf) const;

  // Renumbers the leaves' compact classes: class c becomes to[c] (a forest's warm start,
  // models/trees/forest.h, whose trees keep their leaves over a grown class set). `to` must be
  // increasing, so that each leaf's classes stay in ascending order.
  void remap_classes(const std::vector<std::uint16_t>& to) {
    for (std::uint16_t& c : leaf_classes_) c = to[c];
  }

  void save(BinaryWriter& w) const;
  // Checks structure against `n_features` and `n_classes`; errors name `source`.
  void load(BinaryReader& r, std::size_t n_features, int n_classes);

 private:
  // Node `id` becomes a leaf holding the class frequencies counts[c] / wsum of `present`.
  void make_leaf(std::int32_t id, const std::vector<std::uint16_t>& present,
                 const std::int64_t* counts, double wsum);
  void add_leaf(std::int32_t leaf, float* out) const {
    for (std::uint32_t e = leaf_begin_[leaf]; e < leaf_begin_[leaf + 1]; ++e)
      out[leaf_classes_[e]] += leaf_values_[e];
  }

  std::vector<Node> nodes_;
  std::vector<float> node_weight_;
  std::vector<float> node_impurity_;
  std::vector<std::uint32_t> leaf_begin_;  // n_leaves + 1 offsets
  std::vector<std::uint16_t> leaf_classes_;
  std::vector<float> leaf_values_;
  int depth_ = 0;
};

}  // namespace deferbench
