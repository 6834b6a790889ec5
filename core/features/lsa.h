// Latent semantic analysis: a randomized truncated SVD of a sparse TF-IDF matrix
// (Halko, Martinsson & Tropp 2011, with power iterations), dense steps delegated to a
// DenseSolver (implemented with LibTorch in models/torch/linalg.h, so that core/ needs no
// LibTorch headers).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/data/binary_io.h"
#include "core/data/matrix.h"
#include "core/features/sparse.h"
#include "core/util/context.h"

namespace deferbench {

class DenseSolver {
 public:
  virtual ~DenseSolver() = default;
  // An orthonormal basis Q (n × k) of the column space of a (n × k, n ≥ k): thin QR.
  virtual Matrix orthonormalize(MatrixView a) const = 0;
  // Thin SVD of a (m × n): a = u · diag(s) · vt, u m × r, vt r × n, r = min(m, n),
  // singular values descending.
  struct Svd {
    Matrix u;
    std::vector<float> s;
    Matrix vt;
  };
  virtual Svd svd(MatrixView a) const = 0;
};

struct LsaOptions {
  int dim = 256;             // output dimension
  int oversampling = 10;     // extra random directions
  int power_iterations = 4;  // subspace iterations (each a product with A and with Aᵀ)
};

class Lsa {
 public:
  // Fits on `x` (rows × cols). Only the columns of x holding a nonzero ("active" columns) take
  // part: the others get zero loadings, and the memory used grows with the active columns, not
  // with cols. The random test matrix comes from ctx.seed (a Gaussian row per active column,
  // drawn from std::mt19937_64 seeded by mix_seed(ctx.seed, column) with Box–Muller, so it does
  // not depend on the thread count); the sign of each component is fixed (its largest-magnitude
  // loading is positive), so a seed gives one answer for a given thread count and device.
  // If x has fewer rows or active columns than dim, the output dimension shrinks to fit.
  // Throws deferbench::Error when x has no nonzero at all.
  void fit(const SparseRows& x, const DenseSolver& solver, const LsaOptions& options,
           const Context& ctx);
  // x · Vᵀ: rows × dim (the same as scikit-learn's TruncatedSVD.transform). Columns of x that
  // were not active in fit contribute nothing.
  Matrix transform(const SparseRows& x, int threads) const;

  int dim() const { return static_cast<int>(loadings_.cols()); }
  std::size_t cols() const { return cols_; }  // columns of the fitted input
  // The active columns of the fitted input, ascending, and their loadings: row c of
  // loadings() (n_active × dim) holds column columns()[c]'s weights on the dim components.
  const std::vector<std::uint32_t>& columns() const { return columns_; }
  const Matrix& loadings() const { return loadings_; }
  // Dense components, dim × cols (Vᵀ), zero outside the active columns. A copy: large for
  // 2^18 columns (dim · cols floats), meant for tests and inspection.
  Matrix components() const;
  const std::vector<float>& singular_values() const { return singular_values_; }
  void save(BinaryWriter& out) const;
  // `expected_cols`: the input width the caller knows (the featurizer's bucket count); a file
  // fitted on another width, or otherwise inconsistent, is a deferbench::Error naming the file.
  void load(BinaryReader& in, std::size_t expected_cols);

 private:
  void index_columns();

  std::size_t cols_ = 0;
  std::vector<std::uint32_t> columns_;
  Matrix loadings_;  // n_active × dim
  std::vector<float> singular_values_;
  std::vector<std::int32_t> slot_;  // column → row of loadings_, or -1
};

}  // namespace deferbench
