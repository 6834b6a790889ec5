#include "core/features/sparse.h"

#include <algorithm>

#include "core/util/error.h"

namespace deferbench {

SparseRows transpose(const SparseRows& a) {
  SparseRows t;
  t.cols = a.rows();
  t.indptr.assign(a.cols + 1, 0);
  for (std::uint32_t j : a.indices) {
    DB_ASSERT(j < a.cols);
    ++t.indptr[j + 1];
  }
  for (std::size_t j = 0; j < a.cols; ++j) t.indptr[j + 1] += t.indptr[j];
  t.indices.resize(a.nnz());
  t.values.resize(a.nnz());
  std::vector<std::size_t> next(t.indptr.begin(), t.indptr.end() - 1);
  // Rows are visited in ascending order, so each transposed row gets ascending indices.
  for (std::size_t i = 0; i < a.rows(); ++i) {
    for (std::size_t p = a.indptr[i]; p < a.indptr[i + 1]; ++p) {
      std::size_t q = next[a.indices[p]]++;
      t.indices[q] = static_cast<std::uint32_t>(i);
      t.values[q] = a.values[p];
    }
  }
  return t;
}

namespace {

// out[0:k] += v · b[0:k]: the inner loop of both products, over contiguous memory.
inline void axpy(float v, const float* __restrict b, float* __restrict out, std::size_t k) {
#pragma omp simd
  for (std::size_t c = 0; c < k; ++c) out[c] += v * b[c];
}

}  // namespace

Matrix sparse_times_dense(const SparseRows& a, MatrixView b, int threads) {
  DB_ASSERT_MSG(b.rows() == a.cols, "sparse_times_dense: a is {}×{}, b is {}×{}", a.rows(), a.cols,
                b.rows(), b.cols());
  const std::size_t rows = a.rows(), k = b.cols();
  Matrix out(rows, k);
  if (rows == 0 || k == 0) return out;
  const auto n = static_cast<std::ptrdiff_t>(rows);
  // Rows differ in length (short and long texts), so chunks are handed out dynamically.
#pragma omp parallel for num_threads(std::max(1, threads)) schedule(dynamic, 64)
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    float* o = out.row(static_cast<std::size_t>(i));
    const std::size_t end = a.indptr[i + 1];
    for (std::size_t p = a.indptr[i]; p < end; ++p) axpy(a.values[p], b.row(a.indices[p]), o, k);
  }
  return out;
}

Matrix sparse_transpose_times_dense(const SparseRows& a, MatrixView b, int threads) {
  DB_ASSERT_MSG(b.rows() == a.rows(), "sparse_transpose_times_dense: a is {}×{}, b is {}×{}",
                a.rows(), a.cols, b.rows(), b.cols());
  return sparse_times_dense(transpose(a), b, threads);
}

}  // namespace deferbench
