// The betting confidence sequence on a grid, and the Horvitz–Thompson mean (the math is in the
// header).
#include "core/stats/confidence_sequence.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/util/error.h"

namespace deferbench {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// A capital below this is set to 0 (lowering a capital keeps the test valid; it avoids
// subnormal arithmetic, and such a capital would need a factor of 1e300 to reach 1/δ).
constexpr double kTinyCapital = 1e-300;
constexpr std::size_t kMaxCells = 1000000;

bool has_plus(CsSides s) {
  return s != CsSides::upper;
}
bool has_minus(CsSides s) {
  return s != CsSides::lower;
}

// K_j ← K_j · (1 + sign · min(λ̇, cap_j) · (x − m_j)) for j in [lo, hi], flushing tiny capitals.
// A plain loop over arrays so that the compiler vectorizes it.
void update_capitals(double* k, const double* cap, const double* m, std::ptrdiff_t lo,
                     std::ptrdiff_t hi, double lambda_dot, double sign, double x) {
  for (std::ptrdiff_t j = lo; j <= hi; ++j) {
    const double lambda = std::min(lambda_dot, cap[j]);
    const double next = k[j] * (1.0 + sign * lambda * (x - m[j]));
    k[j] = next < kTinyCapital ? 0.0 : next;
  }
}

}  // namespace

BettingConfidenceSequence::BettingConfidenceSequence(double delta, CsSides sides,
                                                     std::size_t grid_cells, double truncation)
    : delta_(delta), sides_(sides), cells_(grid_cells) {
  DB_CHECK(delta > 0 && delta < 1, "confidence sequence: delta must be in (0, 1), got {}", delta);
  DB_CHECK(grid_cells >= 2 && grid_cells <= kMaxCells,
           "confidence sequence: grid_cells must be in [2, {}], got {}", kMaxCells, grid_cells);
  DB_CHECK(truncation > 0 && truncation < 1,
           "confidence sequence: truncation must be in (0, 1), got {}", truncation);
  DB_CHECK(sides == CsSides::two_sided || sides == CsSides::upper || sides == CsSides::lower,
           "confidence sequence: unknown sides value {}", static_cast<int>(sides));
  const double delta_side = sides == CsSides::two_sided ? delta / 2 : delta;
  threshold_ = 1 / delta_side;
  log_term_ = 2 * std::log(1 / delta_side);
  const std::size_t n = cells_ + 1;
  m_.resize(n);
  for (std::size_t j = 0; j < n; ++j) m_[j] = static_cast<double>(j) / static_cast<double>(cells_);
  if (has_plus(sides)) {
    cap_plus_.resize(n);
    for (std::size_t j = 0; j < n; ++j) cap_plus_[j] = j == 0 ? kInf : truncation / m_[j];
    k_plus_.assign(n, 1.0);
  }
  if (has_minus(sides)) {
    cap_minus_.resize(n);
    for (std::size_t j = 0; j < n; ++j)
      cap_minus_[j] = j == cells_ ? kInf : truncation / (1 - m_[j]);
    k_minus_.assign(n, 1.0);
  }
  lo_ = 0;
  hi_ = static_cast<std::ptrdiff_t>(cells_);
}

void BettingConfidenceSequence::observe(double x) {
  DB_CHECK(x >= 0 && x <= 1, "confidence sequence: an observation must be in [0, 1], got {}", x);
  const double t = static_cast<double>(t_ + 1);
  if (!collapsed()) {
    // λ̇_t from X_1..X_{t−1}: σ̂²_{t−1} = (1/4 + Σ_{i<t} (X_i − μ̂_i)²) / t (1/4 at t = 1).
    const double sigma2_prev = (0.25 + sum_sq_) / t;
    const double lambda_dot = std::sqrt(log_term_ / (sigma2_prev * t * std::log1p(t)));
    if (has_plus(sides_))
      update_capitals(k_plus_.data(), cap_plus_.data(), m_.data(), lo_, hi_, lambda_dot, 1.0, x);
    if (has_minus(sides_))
      update_capitals(k_minus_.data(), cap_minus_.data(), m_.data(), lo_, hi_, lambda_dot, -1.0, x);
    // K^+ rejects a prefix, K^− a suffix (the header's monotonicity): walk in from both ends.
    if (has_plus(sides_))
      while (lo_ <= hi_ && k_plus_[lo_] >= threshold_) ++lo_;
    if (has_minus(sides_))
      while (lo_ <= hi_ && k_minus_[hi_] >= threshold_) --hi_;
  }
  sum_x_ += x;
  const double mu_hat = (0.5 + sum_x_) / (t + 1);  // μ̂_t, which includes X_t
  sum_sq_ += (x - mu_hat) * (x - mu_hat);
  ++t_;
}

double BettingConfidenceSequence::lower() const {
  return lo_ == 0 ? 0.0 : m_[static_cast<std::size_t>(lo_ - 1)];
}

double BettingConfidenceSequence::upper() const {
  return hi_ == static_cast<std::ptrdiff_t>(cells_) ? 1.0 : m_[static_cast<std::size_t>(hi_ + 1)];
}

void WeightedMean::add_labelled(double x, double p) {
  DB_CHECK(p > 0 && p <= 1, "weighted mean: a label probability must be in (0, 1], got {}", p);
  DB_CHECK(std::isfinite(x), "weighted mean: a labelled value must be finite, got {}", x);
  ++rows_;
  ++labelled_;
  weighted_sum_ += x / p;
  weighted_sq_sum_ += (1 - p) * x * x / (p * p);
}

double WeightedMean::estimate() const {
  return rows_ == 0 ? kNaN : weighted_sum_ / static_cast<double>(rows_);
}

double WeightedMean::variance() const {
  const double n = static_cast<double>(rows_);
  return rows_ == 0 ? kNaN : weighted_sq_sum_ / (n * n);
}

double horvitz_thompson_mean(const std::vector<double>& x, const std::vector<double>& p,
                             std::size_t population) {
  DB_CHECK(x.size() == p.size(), "horvitz_thompson_mean: {} values but {} label probabilities",
           x.size(), p.size());
  DB_CHECK(population >= x.size(),
           "horvitz_thompson_mean: population {} is smaller than the {} labelled rows", population,
           x.size());
  WeightedMean mean;
  for (std::size_t i = 0; i < x.size(); ++i) mean.add_labelled(x[i], p[i]);
  for (std::size_t i = x.size(); i < population; ++i) mean.add_unlabelled();
  return mean.estimate();
}

}  // namespace deferbench
