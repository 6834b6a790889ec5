// Latent semantic analysis: a randomized truncated SVD of a sparse TF-IDF matrix
// (Halko, Martinsson & Tropp 2011, with power iterations), dense steps delegated to a
// DenseSolver (implemented with LibTorch in models/torch/linalg.h, so that core/ needs no
// LibTorch headers).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>

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
  int dim = 256;               // output dimension
  int oversampling = 10;       // extra random directions
  int power_iterations = 4;    // subspace iterations (each a product with A and with Aᵀ)
};

class Lsa {
 public:
  // Fits on `x` (rows × cols). The random test matrix comes from ctx.seed; the sign of each
  // component is fixed (its largest-magnitude loading is positive), so a seed gives one answer.
  // If x has fewer rows or active columns than dim, the output dimension shrinks to fit.
  void fit(const SparseRows& x, const DenseSolver& solver, const LsaOptions& options,
           const Context& ctx);
  // x · Vᵀ: rows × dim (the same as scikit-learn's TruncatedSVD.transform).
  Matrix transform(const SparseRows& x, int threads) const;

  int dim() const { return static_cast<int>(components_.rows()); }
  const Matrix& components() const { return components_; }  // dim × cols
  const std::vector<float>& singular_values() const { return singular_values_; }
  void save(std::ostream& out) const;
  void load(std::istream& in);

 private:
  Matrix components_;
  std::vector<float> singular_values_;
};

}  // namespace deferbench
