// A tree ensemble in flat form: what the trees (dt, rf, et, gbt, xgb) hand to their device side
// (models/torch/tree_tensors.h) to route on a GPU. Free of LibTorch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace deferbench {

struct FlatTrees {
  std::vector<std::int32_t> feature;  // per node; −1: a leaf
  std::vector<float> threshold;       // per node
  std::vector<std::int32_t> left;     // per node: the left child (a leaf: its leaf id)
  std::vector<std::int32_t> right;    // per node
  std::vector<std::int32_t> roots;    // per tree, in summation order
  int depth = 0;                      // the deepest leaf's depth
  std::size_t k = 0;                  // columns of a leaf's contribution
  bool double_sums = false;           // sum in double (boosting) or float (forests)
  std::vector<double> init;           // k: what the sums start from (boosting's base scores)
  std::vector<double> leaves;         // leaves × k contributions
};

// How a tree ensemble's sums become probabilities.
enum class TreeLink {
  kMean,     // forests: the float sums × (1 / trees), as a float product
  kSoftmax,  // boosting: softmax of the double sums, rounded to float
};

}  // namespace deferbench
