// One row through a whole tree ensemble, written once for the host and for CUDA: the body of the
// tree kernel (tree_kernel.cu) and of its host twin (TensorTrees::sum_leaves_walk), which the
// tests compare with the CPU walkers bit for bit. Free of LibTorch and of CUDA headers.
//
// Nodes are global ids into flat arrays (models/torch/tree_tensors.h): "x ≤ threshold" goes
// left, anything else (NaN included) right; a leaf (feature −1) keeps its leaf id in `left`.
// Leaf contributions are sparse (compressed rows): leaf l adds value[e] to column column[e] for
// e in [begin[l], begin[l + 1]). Sums start from init and go tree by tree in order, in Acc.
#pragma once

#include <cstdint>

#ifdef __CUDACC__
#define DB_HOST_DEVICE __host__ __device__
#else
#define DB_HOST_DEVICE
#endif

namespace deferbench {

template <class Acc>
struct TreeWalkArrays {
  const std::int32_t* feature = nullptr;     // per node; −1: a leaf
  const float* threshold = nullptr;          // per node
  const std::int32_t* left = nullptr;        // per node (a leaf: its leaf id)
  const std::int32_t* right = nullptr;       // per node
  const std::int32_t* roots = nullptr;       // per tree, in summation order
  const std::int32_t* leaf_begin = nullptr;  // leaves + 1
  const std::int32_t* leaf_column = nullptr;
  const Acc* leaf_value = nullptr;
  const Acc* init = nullptr;  // k
  std::int32_t trees = 0;
  std::int32_t k = 0;
};

// out[0 … k) = init + Σ_trees leaf contributions for the row x (its features).
template <class Acc>
DB_HOST_DEVICE inline void tree_walk_row(const TreeWalkArrays<Acc>& a, const float* x, Acc* out) {
  for (std::int32_t c = 0; c < a.k; ++c) out[c] = a.init[c];
  for (std::int32_t t = 0; t < a.trees; ++t) {
    std::int32_t node = a.roots[t];
    for (std::int32_t f = a.feature[node]; f >= 0; f = a.feature[node])
      node = x[f] <= a.threshold[node] ? a.left[node] : a.right[node];
    const std::int32_t leaf = a.left[node];
    for (std::int32_t e = a.leaf_begin[leaf]; e < a.leaf_begin[leaf + 1]; ++e)
      out[a.leaf_column[e]] += a.leaf_value[e];
  }
}

}  // namespace deferbench
