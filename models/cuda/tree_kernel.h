// The CUDA tree kernel (tree_kernel.cu, compiled only in builds with it): one thread per row
// walks every tree (tree_walk.h) and writes the row's k sums. Pointers are device memory of the
// current device; the launch goes on `stream` (a cudaStream_t; null: the legacy default stream)
// and returns without waiting. Returns the CUDA error string of the launch ("" when it was
// accepted).
#pragma once

#include <cstdint>
#include <string>

#include "models/trees/tree_walk.h"

namespace deferbench::cuda {

std::string launch_tree_walk(const TreeWalkArrays<float>& a, const float* x, std::int64_t rows,
                             std::int64_t ld, float* out, void* stream);
std::string launch_tree_walk(const TreeWalkArrays<double>& a, const float* x, std::int64_t rows,
                             std::int64_t ld, double* out, void* stream);

}  // namespace deferbench::cuda
