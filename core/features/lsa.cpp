#include "core/features/lsa.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/util/error.h"

namespace deferbench {

namespace {

// Standard normal draws by Box–Muller from a 64-bit generator (std::normal_distribution is
// implementation-defined, so it would make the features differ between standard libraries).
void fill_gaussian(std::mt19937_64& gen, float* out, std::size_t n) {
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  constexpr double kScale = 1.0 / 9007199254740992.0;  // 2^-53
  for (std::size_t i = 0; i < n; i += 2) {
    const double u1 = (static_cast<double>(gen() >> 11) + 1.0) * kScale;  // (0, 1]
    const double u2 = static_cast<double>(gen() >> 11) * kScale;          // [0, 1)
    const double r = std::sqrt(-2.0 * std::log(u1));
    out[i] = static_cast<float>(r * std::cos(kTwoPi * u2));
    if (i + 1 < n) out[i + 1] = static_cast<float>(r * std::sin(kTwoPi * u2));
  }
}

class Stopwatch {
 public:
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// The columns of x holding a nonzero, ascending.
std::vector<std::uint32_t> active_columns(const SparseRows& x) {
  std::vector<char> seen(x.cols, 0);
  for (std::size_t p = 0; p < x.nnz(); ++p)
    if (x.values[p] != 0.0f) seen[x.indices[p]] = 1;
  std::vector<std::uint32_t> columns;
  for (std::size_t j = 0; j < x.cols; ++j)
    if (seen[j]) columns.push_back(static_cast<std::uint32_t>(j));
  return columns;
}

// x restricted to its active columns, renumbered 0..n_active-1 by `slot` (column → new index).
SparseRows restrict_columns(const SparseRows& x, const std::vector<std::int32_t>& slot,
                            std::size_t active) {
  const std::size_t rows = x.rows();
  SparseRows xc;
  xc.cols = active;
  xc.indptr.resize(rows + 1);
  xc.indptr[0] = 0;
  xc.indices.reserve(x.nnz());
  xc.values.reserve(x.nnz());
  for (std::size_t i = 0; i < rows; ++i) {
    for (std::size_t p = x.indptr[i]; p < x.indptr[i + 1]; ++p) {
      if (x.values[p] == 0.0f) continue;
      xc.indices.push_back(static_cast<std::uint32_t>(slot[x.indices[p]]));
      xc.values.push_back(x.values[p]);
    }
    xc.indptr[i + 1] = xc.values.size();
  }
  return xc;
}

// Ω: one Gaussian row of k values per active column, seeded by the column's id.
Matrix gaussian_test_matrix(const std::vector<std::uint32_t>& columns, std::size_t k,
                            std::uint64_t seed, int threads) {
  Matrix omega(columns.size(), k);
  const auto n_active = static_cast<std::ptrdiff_t>(columns.size());
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::ptrdiff_t c = 0; c < n_active; ++c) {
    std::mt19937_64 gen(mix_seed(seed, columns[static_cast<std::size_t>(c)]));
    fill_gaussian(gen, omega.row(static_cast<std::size_t>(c)), k);
  }
  return omega;
}

// Signs: the largest-magnitude loading of each component is positive (the first one on ties).
void fix_signs(Matrix& loadings) {
  const std::size_t active = loadings.rows(), dim = loadings.cols();
  std::vector<float> best(dim, 0.0f);
  for (std::size_t c = 0; c < active; ++c) {
    const float* r = loadings.row(c);
    for (std::size_t d = 0; d < dim; ++d)
      if (std::fabs(r[d]) > std::fabs(best[d])) best[d] = r[d];
  }
  for (std::size_t c = 0; c < active; ++c) {
    float* r = loadings.row(c);
    for (std::size_t d = 0; d < dim; ++d)
      if (best[d] < 0.0f) r[d] = -r[d];
  }
}

// Time spent in the steps of a fit, for the debug log.
struct LsaTimes {
  double setup = 0, products = 0, orth = 0, svd = 0;
};

// Range finder with subspace (power) iterations, re-orthonormalized at every step; returns
// Bᵀ = Xᵀ Q (n_active × k) with Q (rows × k) the basis found. Consumes omega.
Matrix range_finder(const SparseRows& xc, const SparseRows& xt, Matrix omega,
                    const DenseSolver& solver, int power_iterations, int threads, LsaTimes& times) {
  auto product = [&](const SparseRows& a, MatrixView b) {
    Stopwatch w;
    Matrix out = sparse_times_dense(a, b, threads);
    times.products += w.seconds();
    return out;
  };
  auto orth = [&](MatrixView a) {
    Stopwatch w;
    Matrix out = solver.orthonormalize(a);
    times.orth += w.seconds();
    return out;
  };
  Matrix q = orth(product(xc, omega));  // rows × k
  omega = Matrix();
  for (int it = 0; it < power_iterations; ++it) {
    Matrix z = orth(product(xt, q));  // n_active × k
    q = orth(product(xc, z));
  }
  return product(xt, q);
}

}  // namespace

void Lsa::index_columns() {
  slot_.assign(cols_, -1);
  for (std::size_t c = 0; c < columns_.size(); ++c)
    slot_[columns_[c]] = static_cast<std::int32_t>(c);
}

void Lsa::fit(const SparseRows& x, const DenseSolver& solver, const LsaOptions& options,
              const Context& ctx) {
  DB_CHECK(options.dim >= 1, "lsa: dim must be at least 1, got {}", options.dim);
  DB_CHECK(options.oversampling >= 0, "lsa: oversampling must be ≥ 0, got {}",
           options.oversampling);
  DB_CHECK(options.power_iterations >= 0, "lsa: power_iterations must be ≥ 0, got {}",
           options.power_iterations);
  const int threads = std::max(1, ctx.threads);
  Stopwatch total;
  Lsa next;  // assigned to *this at the end, so that a failed fit leaves *this as it was

  // Active columns, and x restricted to them (indices renumbered 0..n_active-1).
  next.cols_ = x.cols;
  next.columns_ = active_columns(x);
  DB_CHECK(!next.columns_.empty(), "lsa: cannot fit on a matrix with no nonzero entry ({} rows)",
           x.rows());
  next.index_columns();
  const std::size_t active = next.columns_.size(), rows = x.rows();
  const SparseRows xc = restrict_columns(x, next.slot_, active);
  const SparseRows xt = transpose(xc);  // n_active × rows: Xᵀ products become row-parallel

  const std::size_t dim = std::min({static_cast<std::size_t>(options.dim), rows, active});
  const std::size_t k =
      std::min({dim + static_cast<std::size_t>(options.oversampling), rows, active});
  Matrix omega = gaussian_test_matrix(next.columns_, k, ctx.seed, threads);

  LsaTimes times;
  times.setup = total.seconds();
  // B = Qᵀ X, kept transposed (n_active × k): Bᵀ = U S Wᵀ gives B = W S Uᵀ, so the right
  // singular vectors of B (the components) are the columns of U.
  const Matrix bt =
      range_finder(xc, xt, std::move(omega), solver, options.power_iterations, threads, times);
  Stopwatch svd_time;
  DenseSolver::Svd svd = solver.svd(bt);
  times.svd = svd_time.seconds();
  DB_ASSERT(svd.u.rows() == active && svd.u.cols() >= dim && svd.s.size() >= dim);

  next.loadings_ = Matrix(active, dim);
  for (std::size_t c = 0; c < active; ++c)
    std::copy(svd.u.row(c), svd.u.row(c) + dim, next.loadings_.row(c));
  next.singular_values_.assign(svd.s.begin(), svd.s.begin() + static_cast<std::ptrdiff_t>(dim));
  fix_signs(next.loadings_);
  spdlog::debug(
      "lsa: {} rows × {} active columns ({} nonzeros) → dim {} (k = {}): setup {:.2f} s, "
      "sparse products {:.2f} s, orthonormalization {:.2f} s, svd {:.2f} s, total {:.2f} s",
      rows, active, xc.nnz(), dim, k, times.setup, times.products, times.orth, times.svd,
      total.seconds());
  *this = std::move(next);
}

Matrix Lsa::transform(const SparseRows& x, int threads) const {
  DB_ASSERT_MSG(dim() > 0, "lsa: transform before fit");
  DB_ASSERT_MSG(x.cols == cols_, "lsa: fitted on {} columns, given {}", cols_, x.cols);
  const std::size_t rows = x.rows(), k = loadings_.cols();
  Matrix out(rows, k);
  const auto n = static_cast<std::ptrdiff_t>(rows);
#pragma omp parallel for num_threads(std::max(1, threads)) schedule(dynamic, 64)
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    float* __restrict o = out.row(static_cast<std::size_t>(i));
    for (std::size_t p = x.indptr[i]; p < x.indptr[i + 1]; ++p) {
      const std::int32_t s = slot_[x.indices[p]];
      if (s < 0) continue;
      const float v = x.values[p];
      const float* __restrict l = loadings_.row(static_cast<std::size_t>(s));
#pragma omp simd
      for (std::size_t d = 0; d < k; ++d) o[d] += v * l[d];
    }
  }
  return out;
}

Matrix Lsa::components() const {
  const std::size_t k = loadings_.cols();
  Matrix out(k, cols_);
  for (std::size_t c = 0; c < columns_.size(); ++c)
    for (std::size_t d = 0; d < k; ++d) out(d, columns_[c]) = loadings_(c, d);
  return out;
}

void Lsa::save(BinaryWriter& out) const {
  out.pod<std::uint64_t>(cols_);
  out.vector(columns_);
  out.matrix(loadings_);
  out.vector(singular_values_);
}

void Lsa::load(BinaryReader& in, std::size_t expected_cols) {
  const auto cols = in.pod<std::uint64_t>();
  if (cols != expected_cols)
    fail({in.source(), 0, "lsa"},
         fmt::format("corrupt featurizer file (the LSA input has {} columns, expected {})", cols,
                     expected_cols));
  std::vector<std::uint32_t> columns = in.vector<std::uint32_t>();
  Matrix loadings = in.matrix();
  std::vector<float> sv = in.vector<float>();
  auto corrupt = [&](const char* what) {
    fail({in.source(), 0, "lsa"}, std::string("corrupt featurizer file (") + what + ")");
  };
  for (std::size_t c = 0; c < columns.size(); ++c)
    if (columns[c] >= cols || (c > 0 && columns[c] <= columns[c - 1]))
      corrupt("active columns not ascending within range");
  if (loadings.rows() != columns.size() || sv.size() != loadings.cols())
    corrupt("inconsistent sizes");
  for (float v : loadings.values())
    if (!std::isfinite(v)) corrupt("a loading is not finite");
  cols_ = static_cast<std::size_t>(cols);
  columns_ = std::move(columns);
  loadings_ = std::move(loadings);
  singular_values_ = std::move(sv);
  index_columns();
}

}  // namespace deferbench
