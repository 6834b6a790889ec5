// Compressed sparse rows of floats, the form of hashed n-gram and TF-IDF features.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/data/matrix.h"

namespace deferbench {

struct SparseRows {
  std::size_t cols = 0;
  std::vector<std::size_t> indptr{0};  // rows + 1 entries
  std::vector<std::uint32_t> indices;  // column of each stored value, ascending within a row
  std::vector<float> values;

  std::size_t rows() const { return indptr.size() - 1; }
  std::size_t nnz() const { return values.size(); }
};

// The transpose (cols × rows), again with ascending indices within each row (a counting sort,
// O(nnz + cols)). Used to turn aᵀ·b into a row-parallel product.
SparseRows transpose(const SparseRows& a);

// out (rows × k) = a (rows × cols) · b (cols × k). Parallel over the rows of a; each output row
// is summed by one thread in storage order, so the result does not depend on `threads`.
Matrix sparse_times_dense(const SparseRows& a, MatrixView b, int threads);
// out (cols × k) = aᵀ (cols × rows) · b (rows × k). Transposes a first (callers that multiply
// by the same aᵀ repeatedly should keep transpose(a) and call sparse_times_dense instead).
// Deterministic, and independent of `threads`, as sparse_times_dense.
Matrix sparse_transpose_times_dense(const SparseRows& a, MatrixView b, int threads);

}  // namespace deferbench
