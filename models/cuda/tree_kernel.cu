// The CUDA tree kernel: tree_walk_row (tree_walk.h) with one thread per row. A row's sums are
// accumulated in place in its row of `out` (tree order, as the CPU), so any number of classes
// works without shared memory.
#include "models/cuda/tree_kernel.h"

#include <cuda_runtime.h>

namespace deferbench::cuda {

namespace {

constexpr int kThreads = 128;

template <class Acc>
__global__ void tree_walk_kernel(TreeWalkArrays<Acc> a, const float* __restrict__ x,
                                 std::int64_t rows, std::int64_t ld, Acc* __restrict__ out) {
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (row >= rows) return;
  tree_walk_row(a, x + row * ld, out + row * a.k);
}

template <class Acc>
std::string launch(const TreeWalkArrays<Acc>& a, const float* x, std::int64_t rows, std::int64_t ld,
                   Acc* out, void* stream) {
  if (rows <= 0) return "";
  const std::int64_t blocks = (rows + kThreads - 1) / kThreads;
  tree_walk_kernel<Acc>
      <<<static_cast<unsigned>(blocks), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
          a, x, rows, ld, out);
  const cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? std::string() : std::string(cudaGetErrorString(err));
}

}  // namespace

std::string launch_tree_walk(const TreeWalkArrays<float>& a, const float* x, std::int64_t rows,
                             std::int64_t ld, float* out, void* stream) {
  return launch(a, x, rows, ld, out, stream);
}

std::string launch_tree_walk(const TreeWalkArrays<double>& a, const float* x, std::int64_t rows,
                             std::int64_t ld, double* out, void* stream) {
  return launch(a, x, rows, ld, out, stream);
}

}  // namespace deferbench::cuda
