// The CUDA tree kernel (tree_kernel.cu, compiled only in CUDA builds): one thread per row walks
// every tree (tree_walk.h) and writes the row's k sums. Pointers are device memory; the launch
// goes on the legacy default stream, LibTorch's unless a caller set another, and returns without
// waiting. Returns the CUDA error string of the launch ("" when it was accepted).
#pragma once

#include <cstdint>
#include <string>

#include "models/torch/tree_walk.h"

namespace deferbench::torch_util {

std::string launch_tree_walk(const TreeWalkArrays<float>& a, const float* x, std::int64_t rows,
                             std::int64_t ld, float* out);
std::string launch_tree_walk(const TreeWalkArrays<double>& a, const float* x, std::int64_t rows,
                             std::int64_t ld, double* out);

}  // namespace deferbench::torch_util
