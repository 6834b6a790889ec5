// An anytime-valid confidence sequence for the mean of a stream of [0, 1] values (the online
// cascade's monitor, issue 17: agreement of the surrogate with the teacher on audited handled
// queries), and the Horvitz–Thompson mean for rows labelled with known probabilities.
//
// The confidence sequence is the betting CS of Waudby-Smith & Ramdas, "Estimating means of
// bounded random variables by betting", JRSS-B 86(1), 2024 (arXiv 2010.09686): their hedged
// capital process with predictable plug-in (PrPl) bets, truncated at c/m and c/(1 − m) as their
// hedged construction prescribes (the reference implementation is their `confseq` package,
// betting_cs with lambda_predmix_eb). The equations are written out here in full, with the
// paper's names.
//
// Data X_1, X_2, … ∈ [0, 1] with E[X_i | X_1..X_{i−1}] = μ. For a candidate mean m ∈ [0, 1]:
//
//   K_t^+(m) = Π_{i≤t} (1 + λ_i^+(m) (X_i − m))     grows when the data sit above m
//   K_t^−(m) = Π_{i≤t} (1 − λ_i^−(m) (X_i − m))     grows when the data sit below m
//   K_t(m)   = max(θ K_t^+(m), (1 − θ) K_t^−(m))     the hedged capital, θ = 1/2
//
// with the predictable plug-in bets (computed from X_1..X_{t−1} only)
//
//   μ̂_t  = (1/2 + Σ_{i≤t} X_i) / (t + 1),   σ̂²_t = (1/4 + Σ_{i≤t} (X_i − μ̂_i)²) / (t + 1)
//   λ̇_t  = sqrt(2 log(1/δ_side) / (σ̂²_{t−1} · t · log(1 + t)))           (σ̂²_0 = 1/4)
//   λ_t^+(m) = min(λ̇_t, c/m),   λ_t^−(m) = min(λ̇_t, c/(1 − m)),   truncation c ∈ (0, 1)
//
// where δ_side = δ/2 for the two-sided CS (log(2/δ) as in the paper) and δ for a one-sided one.
// The truncation keeps every factor ≥ 1 − c > 0. At m = μ both K^± are nonnegative martingales
// starting at 1 (the bets are predictable), so θ K^+ + (1 − θ) K^− ≥ K is one too and Ville's
// inequality gives P(∃ t: K_t(μ) ≥ 1/δ) ≤ δ: the sets C_t = {m : K_t(m) < 1/δ} and their running
// intersection ∩_{s≤t} C_s (kept here) contain μ at every t at once with probability ≥ 1 − δ.
//
// Each factor of K^+ is nonincreasing in m and each factor of K^− nondecreasing (in the
// truncated range, 1 + c(X − m)/m and 1 − c(X − m)/(1 − m) are monotone since 0 ≤ X ≤ 1), so
// θ K^+ ≥ 1/δ rejects a prefix [0, L) of candidates and (1 − θ) K^− ≥ 1/δ a suffix (U, 1]: the CS
// is the interval between them. Both are found on a grid m_j = j/G, j = 0..G (G = grid_cells,
// default 1000): a capital per grid point and side, updated at each observation; a grid point once
// rejected stays out (the running intersection). The reported bounds are the innermost REJECTED
// grid points, lower() = m_{lo−1} (0 when none is) and upper() = m_{hi+1} (1 when none is), where
// [lo, hi] are the surviving ones: by the monotonicity every m beyond a rejected grid point is
// rejected too, so the CS is the OPEN interval (lower(), upper()) — the bounds themselves are
// rejected — conservative by at most one grid step 1/G against the exact set.
//
// One-sided versions spend all of δ on one side (θ = 0 or 1): the upper CS [0, U_t] uses K^−
// alone, the lower CS [L_t, 1] K^+ alone. For the monitor: K_t^−(m) is a supermartingale for every
// m with E[X_i | past] ≥ m at every i, so if the agreement never drops below a target τ, the
// probability that U_t ≤ τ at any time is ≤ δ (the false-alarm rate of "U_t ≤ τ ⇒ alarm").
//
// As a change detector the plug-in bets are slow once the stream has long sat above the target:
// while the data sit above τ the capital K^−(τ) loses about Σ λ_i (μ − τ), which grows like √t,
// and the bets that must win it back shrink like 1/√(t log t), so the delay grows about linearly
// with the time spent above τ. Measured (tests, δ = 0.05, τ = 0.9, 0.95 dropping to 0.80, 200
// streams): a monitor started at the drop alarms after 160 observations on average (max ~1,400);
// one that first saw 2,000 observations at 0.95 after ~9,000 (max ~20,000). A caller wanting
// quick detection restarts the monitor (e.g. at each refit), splitting δ across the restarts.
//
// When every grid point is rejected (possible only two-sided, probability ≤ δ for a constant
// mean; in practice a sign that the mean moved), the CS lies inside one grid cell and nothing
// more can be learned on the grid: collapsed() turns true and the bounds stay at that cell.
//
// Cost: O(surviving grid points) per observation: the two-sided CS shrinks fast (tens of points
// after a few thousand observations); a one-sided CS keeps every point on its open side alive
// (about μG points for the upper CS). Measured, 10^6 Bernoulli observations, 1,000 cells, one
// core of the development machine: two-sided 0.06 s (μ = 0.9) and 0.07 s (μ = 0.5); upper 0.51 s
// (μ = 0.9) and 0.32 s (μ = 0.5); lower 0.09 s (μ = 0.9) and 0.29 s (μ = 0.5). Capitals are kept as
// products in double; a capital below 1e-300 is set to 0, which only lowers it (a lower capital
// rejects less: still valid). Deterministic: the same stream gives the same bounds bit for bit.
#pragma once

#include <cstddef>
#include <vector>

namespace deferbench {

// Which bounds a confidence sequence gives, δ spent on them.
enum class CsSides {
  two_sided,  // [L_t, U_t], δ/2 per side (the hedged capital with θ = 1/2)
  upper,      // [0, U_t]: the mean is ≤ U_t at every t (w.p. ≥ 1 − δ)
  lower,      // [L_t, 1]: the mean is ≥ L_t at every t
};

class BettingConfidenceSequence {
 public:
  // δ ∈ (0, 1); grid_cells ≥ 2 (grid step 1/grid_cells, at most 10^6 cells); truncation c ∈
  // (0, 1) (the paper suggests 1/2 or 3/4). Errors (deferbench::Error) name the bad argument.
  explicit BettingConfidenceSequence(double delta, CsSides sides = CsSides::two_sided,
                                     std::size_t grid_cells = 1000, double truncation = 0.5);

  // One observation x ∈ [0, 1] (an error otherwise, NaN included).
  void observe(double x);

  // The running-intersection bounds after count() observations: the mean lies in the open
  // interval (lower(), upper()) at every t at once w.p. ≥ 1 − δ (an end at 0 or 1 is the trivial
  // closed one). [0, 1] before any observation.
  double lower() const;
  double upper() const;
  std::size_t count() const { return t_; }
  // True once every grid point has been rejected (see above); the bounds then stay fixed.
  bool collapsed() const { return lo_ > hi_; }

  double delta() const { return delta_; }
  CsSides sides() const { return sides_; }

 private:
  double delta_;
  CsSides sides_;
  std::size_t cells_;
  double threshold_;                // 1/δ_side: a side's capital at or above it rejects
  double log_term_;                 // 2 log(1/δ_side), the numerator of λ̇
  std::vector<double> m_;           // the grid, m_j = j / cells
  std::vector<double> cap_plus_;    // c / m_j (+∞ at m = 0)
  std::vector<double> cap_minus_;   // c / (1 − m_j) (+∞ at m = 1)
  std::vector<double> k_plus_;      // K_t^+(m_j); only [lo_, hi_] is kept up to date
  std::vector<double> k_minus_;     // K_t^−(m_j)
  std::ptrdiff_t lo_ = 0, hi_ = 0;  // the surviving grid points [lo_, hi_]; lo_ > hi_: none
  std::size_t t_ = 0;
  double sum_x_ = 0;   // Σ X_i
  double sum_sq_ = 0;  // Σ (X_i − μ̂_i)²
};

// The Horvitz–Thompson estimate of the mean of x over a population of N rows of which row i was
// labelled (its x observed) independently with a known probability p_i > 0:
//
//   μ̂_HT = (1/N) Σ_{labelled i} x_i / p_i,
//
// unbiased for (1/N) Σ_{all i} x_i since each row enters with E[1{labelled}/p_i] = 1. Issue 17's
// sampling: deferred rows are labelled with probability 1 (the teacher answers them anyway),
// handled ones with the audit share ε. The plain mean over the labelled rows is biased whenever
// x differs between the two kinds of rows. variance() is the unbiased estimate of the estimator's
// variance under this (Poisson) sampling, (1/N²) Σ_{labelled i} (1 − p_i) x_i² / p_i².
class WeightedMean {
 public:
  // A row that was labelled with probability p ∈ (0, 1] and whose value is x (finite).
  void add_labelled(double x, double p);
  // A row of the population that was not labelled (it still counts in N).
  void add_unlabelled() { ++rows_; }

  std::size_t rows() const { return rows_; }
  std::size_t labelled() const { return labelled_; }
  // μ̂_HT; NaN when there is no row yet.
  double estimate() const;
  // The unbiased variance estimate of μ̂_HT; NaN when there is no row yet.
  double variance() const;

 private:
  std::size_t rows_ = 0, labelled_ = 0;
  double weighted_sum_ = 0;     // Σ x_i / p_i
  double weighted_sq_sum_ = 0;  // Σ (1 − p_i) x_i² / p_i²
};

// μ̂_HT of `population` rows from the labelled ones' values and label probabilities (equal
// lengths, population ≥ their count).
double horvitz_thompson_mean(const std::vector<double>& x, const std::vector<double>& p,
                             std::size_t population);

}  // namespace deferbench
