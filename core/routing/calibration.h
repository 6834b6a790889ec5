// Threshold calibration for an acceptor score: choose τ so that the traffic with score ≥ τ is
// as large as possible while the surrogate's agreement with the teacher on it (TA) meets a
// target. Two modes (config `calibration.mode`):
//
// - `empirical`: the point estimate of agreement on the calibration rows (what the first public
//   TRACER release did). It carries NO statistical guarantee: on new traffic the agreement falls
//   below the target about half the time (measured in tests/core/routing/test_guarantee.cpp).
//   Kept for comparison.
//
// - `guaranteed` (the default): Learn-then-Test fixed-sequence testing with binomial tests: the
//   exact one below (`calibration.test: exact`), or its randomized form (the default; "randomized
//   test" below), which differs only in step 2's p-value and bound.
//
//   1. The candidate thresholds τ_1 > τ_2 > … > τ_G (strictest first) are fixed WITHOUT the
//      calibration split: `quantile_grid` puts them at quantiles of the acceptor's scores on the
//      VALIDATION split, at val coverages evenly spaced from `min_coverage` (strictest) to
//      `max_coverage` (loosest), ties deduplicated.
//   2. At each τ_j, with m_j calibration rows accepted (score ≥ τ_j) and k_j of them agreeing,
//      test H0_j: TA(τ_j) < target with the exact binomial p-value P(X ≥ k_j | m_j, target);
//      H0_j is rejected ("τ_j passes") iff that is ≤ δ, i.e. iff the one-sided Clopper–Pearson
//      lower bound of TA(τ_j) at level δ is ≥ target.
//   3. Walk the grid strictest → loosest, stop at the first threshold that fails, deploy the
//      loosest one that passed (none passed: τ = +∞, accept nothing, feasible = false).
//
//   Guarantee: with probability ≥ 1 − δ over the calibration draw, TA(τ̂) ≥ target on new traffic
//   from the same distribution (or τ̂ = +∞). Why: given m_j, the accepted rows are i.i.d. draws
//   from the traffic with score ≥ τ_j, so k_j ~ Binomial(m_j, TA(τ_j)) and each test has level
//   δ; in a fixed sequence, deploying a threshold whose H0 is true requires rejecting the FIRST
//   true H0 of the sequence, which happens with probability ≤ δ. No multiplicity correction is
//   needed, which is why the order must be fixed in advance and why it starts strict.
//
//   Too few accepted rows. A threshold accepting m rows can only pass if target^m ≤ δ (m ≥ 22 at
//   target 0.9, δ = 0.1: 10/10 agreements still fail), so a test there would always stop the
//   walk. The leading thresholds with m_j < max(min_accepted, min_passable_rows(target, δ)) are
//   therefore SKIPPED — neither tested nor a stop; since m_j grows along the grid only a prefix is
//   skipped. The skip reads the counts of accepted calibration rows, never their labels.
//   Validity of the skip: a wrong deployment still requires rejecting the first TESTED true H0,
//   τ_ν. If τ_ν is the first true H0 of the grid, "it is tested" is the event {m_ν ≥ m_min},
//   which conditions on m_ν only: k_ν ~ Binomial(m_ν, TA(τ_ν)) stays exact. Otherwise (τ_{ν−1}
//   is a true H0 that was skipped) the event is {m_{ν−1} < m_min ≤ m_ν}: given m_ν, it also
//   says that few of the accepted rows lie above τ_{ν−1}. When P(agree | score) is
//   non-decreasing in the score (what an acceptor is built for; the true H0s then form a suffix
//   of the grid), rows above τ_{ν−1} agree at least as often as those in [τ_ν, τ_{ν−1}), so this
//   conditioning only makes k_ν stochastically smaller and the test stays at level ≤ δ. The
//   events "τ_ν is the first tested true H0" are disjoint, so the error stays ≤ δ overall. For
//   an acceptor whose agreement is not monotone in its score the skip can cost a second-order
//   amount of level; test_guarantee.cpp measures the level with the skip active. min_accepted = 0
//   still skips the thresholds below min_passable_rows: their test could only stop the walk.
//
//   Grid choice (DESIGN.md, calibration notes): a fixed 1.00 → 0.00 grid wastes its first
//   tests on thresholds accepting a handful of rows and a fixed sequence stops at its first
//   failure; quantiles of the validation scores put the grid where the traffic is, evenly in
//   coverage. Defaults (GuaranteedOptions): 50 points from 5% to 100% val coverage, the first
//   ≥ 50 accepted calibration rows; the count-based skip adapts the effective start to the
//   calibration size. Why 50: at target 0.9, δ = 0.1, a threshold whose true agreement is 0.95
//   passes about half the time with ~60 rows; with 30, the first test fails so often that the
//   walk stops before reaching good thresholds (measured on the synthetic problem of
//   test_guarantee.cpp, n = 300..1000: 30 → 50 raised the mean coverage by 5–30% relative;
//   starting coverage 5%, 10% or 20% and 20 vs 50 points changed it by less).
//
// - per-class thresholds (option): one threshold per PREDICTED class c (a function of x, not of
//   the teacher label), each chosen by the guaranteed procedure on the calibration rows
//   predicted c, with the grid from the validation rows predicted c. δ is shared by Bonferroni:
//   each of the C classes that have a non-empty grid (fixed by the validation split, before any
//   calibration label is read) is tested at δ/C. With probability ≥ 1 − δ/C the accepted
//   population of class c, A_c = {pred = c, score ≥ τ_c}, has TA(A_c) ≥ target (or is empty);
//   by the union bound this holds for all classes at once with probability ≥ 1 − δ; and the
//   accepted traffic is the disjoint union of the A_c, whose agreement is the mixture
//   Σ_c P(A_c)·TA(A_c) / Σ_c P(A_c) ≥ target. So the overall guarantee (and a per-class one) holds
//   at 1 − δ. The price: each class needs ≥ log(δ/C)/log(target) accepted rows to pass at all
//   (45 at C = 3, 63 at C = 77 for target 0.9, δ = 0.1); useful with few classes or large cal.
//
// - window guarantee (option `calibration.window`, the guaranteed mode and per-class too): the
//   promise above is about TA on the traffic's distribution; a finite sample of handled queries
//   (a day of traffic, a test split) measures TA with binomial noise and falls below the target
//   more often than δ even when TA ≥ target. With a window of W queries, the guarantee becomes:
//   with probability ≥ 1 − δ over the calibration draw AND the window, the agreement on the
//   window's handled queries is ≥ target. δ is split in two halves. At a threshold accepting m
//   of the n calibration rows, the window handles about m_w = floor(W · m / n) queries (the
//   expected count; `window_scale` = W / n); if TA ≥ p_w = window_requirement(target, m_w, δ/2),
//   such a window falls below the target with probability ≤ δ/2. The fixed sequence therefore
//   tests H0: TA < p_w at level δ/2 (Clopper–Pearson lower bound at δ/2 ≥ p_w). A wrong
//   deployment (TA < p_w) has probability ≤ δ/2; a window failing despite TA ≥ p_w, ≤ δ/2; the
//   union ≤ δ. p_w > target, so the window guarantee costs coverage, the more the smaller the
//   window. Thresholds whose m cannot pass at all (m < min_passable_rows(p_w, δ/2)) are skipped
//   as above; the skip reads only counts, so it may also drop a threshold inside the sequence.
//   The window is in queries; the handled count of a real window varies around m_w (stated, not
//   corrected for). Cascades and per-class thresholds split δ as before (each stage / class gets
//   its share, and within it the two halves).
//
// - randomized test (`calibration.test: randomized`, the default of the guaranteed modes; `exact`
//   is the test above): the exact test is conservative at small m: P(X ≥ k) jumps over δ as k
//   moves, so its actual level is below δ (0.053 at m = 60, target 0.9, δ = 0.1) and it passes
//   less often than a test of level δ could. The randomized test (the uniformly most powerful
//   one for a binomial proportion) takes one u uniform on (0, 1], independent of the calibration
//   labels, and rejects H0_j iff P(X > k_j) + u · P(X = k_j) ≤ δ: where the exact test needs k
//   agreements it also passes with k − 1 when u is small enough. Under H0_j this p-value is
//   stochastically no smaller than a uniform variable, so each test has level δ (exactly, at
//   the boundary) and everything above holds with the probability taken over the calibration
//   draw and u. Where u comes from matters: drawn from the run's seed, one seed would fix u and
//   the level over calibration draws would be that of the test at that u (0.053 or 0.137 in the
//   example), δ only on average over seeds. So u is a hash of the calibration rows: their
//   features, ids and teacher labels (FamilyInputs::resolved; no seed enters it). Whatever varies
//   in the calibration draw (the rows, or only their labels) draws u afresh; modelled as a random
//   function of its bytes, u is uniform and independent of the agreement count given any rows,
//   so the level is δ for every seed (measured by repetition, with fresh rows and with fixed rows
//   whose labels alone vary, in tests/core/routing/test_randomized_test.cpp). The same bytes
//   (rows, ids, labels, their order and the features' floats, which the featurizer's threads
//   can change in the last bit) give the same certificate; rerunning with any of them changed
//   draws u again, as another seed redraws the split. One u serves the whole sequence (each test
//   needs only its own p-value to be valid), provided the sequence itself does not depend on u: the
//   start is chosen by the pass probability averaged over u, and the candidate is selected with the
//   exact test. A cascade's stages draw their own u (the hash salted by the stage: each stage's
//   population depends on the earlier stages' thresholds, hence on their draws); per-class
//   thresholds share one (each class's test needs only its own p-value to be valid for the union
//   bound). lower_bound is then the randomized bound (binomial.h: randomized_lower_bound).
//
// Everything here is deterministic, keeps no state, and throws deferbench::Error for bad input
// (mismatched sizes, NaN scores, δ ∉ (0, 1), target ∉ (0, 1], a grid not strictly decreasing).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace deferbench {

struct ThresholdChoice {
  // Accept a row iff score ≥ threshold. +infinity: accept nothing (no feasible threshold).
  double threshold = std::numeric_limits<double>::infinity();
  std::size_t accepted = 0;  // calibration rows accepted at the threshold
  double agreement = 0;      // their agreement with the teacher (NaN when accepted == 0)
  bool feasible = false;     // false: no threshold reached the target
  // Guaranteed mode only (NaN / 0 otherwise):
  // Lower bound of TA at δ, at τ: Clopper–Pearson, or randomized_lower_bound when u < 1.
  double lower_bound = std::numeric_limits<double>::quiet_NaN();
  // P(X ≥ k | m, target) at τ; with u < 1 the randomized P(X > k) + u · P(X = k).
  double p_value = std::numeric_limits<double>::quiet_NaN();
  std::size_t tests = 0;    // thresholds tested (p-values computed), the failing one included
  std::size_t skipped = 0;  // leading grid thresholds skipped for too few accepted rows
  // The first threshold tested (passed or not): its accepted rows, their agreements and the
  // agreement it had to certify (0 / 0 / NaN when no threshold was tested).
  std::size_t first_accepted = 0, first_agreed = 0;
  double first_required = std::numeric_limits<double>::quiet_NaN();
  // The agreement the deployed threshold certified: target, or p_w with a window.
  double required = std::numeric_limits<double>::quiet_NaN();
};

// Among the thresholds "accept the k highest-scoring rows" (k at boundaries between distinct
// scores, so tied scores are accepted or rejected together), the one accepting the most rows
// whose agreement — mean of `agrees` over the accepted rows — is ≥ target. O(n log n).
ThresholdChoice empirical_threshold(const std::vector<float>& scores,
                                    const std::vector<std::uint8_t>& agrees, double target);

// The level of each guaranteed test and the agreement it must certify at a threshold accepting
// `accepted` calibration rows: δ and the target; with the window guarantee (window_scale > 0),
// δ/2 and window_requirement(target, max(1, floor(window_scale · accepted)), δ/2).
double test_level(double delta, double window_scale);
double test_requirement(double target, double delta, double window_scale, std::size_t accepted);

// The decisions of a threshold: 1 where score ≥ threshold.
std::vector<std::uint8_t> accept_mask(const std::vector<float>& scores, double threshold);

// The candidate thresholds of the guaranteed mode, from the VALIDATION scores only: for
// `points` coverages c evenly spaced from min_coverage (first, strictest) to max_coverage
// (last, loosest), the r-th highest val score with r = max(1, ceil(c · n_val)) — the threshold
// whose val coverage is c (more when scores tie). Strictly decreasing: duplicates (ties, or
// coverages closer than 1/n_val) are dropped. 0 ≤ min_coverage ≤ max_coverage ≤ 1, points ≥ 1.
// Empty val_scores give an empty grid (nothing can be accepted).
std::vector<double> quantile_grid(const std::vector<float>& val_scores, int points,
                                  double max_coverage, double min_coverage);

// Fixed-sequence testing along `grid` (strictly decreasing, e.g. from quantile_grid), as above:
// skip the leading thresholds accepting fewer than max(min_accepted, min_passable_rows(target,
// delta)) calibration rows, test the rest in order, stop at the first failure, return the
// loosest passing threshold with its cal agreement, Clopper–Pearson lower bound and p-value.
// target ∈ (0, 1], delta ∈ (0, 1). O(n log n + G).
// window_scale > 0: the window guarantee, with W / n handled window queries per accepted
// calibration row (see the header comment). u < 1: the randomized test (header comment); the
// choice's lower_bound is then randomized_lower_bound.
ThresholdChoice guaranteed_threshold(const std::vector<float>& cal_scores,
                                     const std::vector<std::uint8_t>& cal_agrees,
                                     const std::vector<double>& grid, double target, double delta,
                                     std::size_t min_accepted, double window_scale = 0.0,
                                     double u = 1.0);

// What a calibration split of `cal_rows` rows could certify at best, judged on validation rows
// (for the diagnostic of a calibration that certified nothing): the largest coverage c of a val
// prefix (scores high to low, a tie block entering whole) such that m = floor(c · cal_rows)
// calibration rows with floor(a · m) agreeing — a the prefix's val agreement — pass the test at
// `target` and `delta` (the randomized test at u when u < 1), with m ≥ max(min_accepted,
// min_passable_rows). 0 when no prefix would.
// Val scores come from an acceptor trained on val, so this is an optimistic figure: it says
// when the calibration split is too small, not that a larger one would certify this much.
double certifiable_coverage(const std::vector<float>& val_scores,
                            const std::vector<std::uint8_t>& val_agrees, std::size_t cal_rows,
                            double target, double delta, std::size_t min_accepted, double u = 1.0);

// The defaults of the guaranteed mode (config `calibration.*`).
struct GuaranteedOptions {
  double delta = 0.1;               // 1 − confidence of the guarantee
  std::size_t min_accepted = 50;    // skip thresholds accepting fewer calibration rows
  int grid_points = 50;             // candidate thresholds (before deduplication)
  double grid_min_coverage = 0.05;  // val coverage of the strictest candidate
  double grid_max_coverage = 1.0;   // val coverage of the loosest candidate
  // The window guarantee: window queries per calibration row (0: about TA itself). Set by the
  // policy builder from `calibration.window` and the calibration split's size.
  double window_scale = 0.0;
  // The randomized test: whether this calibration uses it, and its draw u ∈ (0, 1] (1: the
  // exact, non-randomized test). Set by the policy builder from `calibration.test` and the
  // calibration rows for the calibration on cal (FamilyInputs::resolved); the start of the
  // sequence (start_where_test_can_pass) averages over u when `randomized`.
  bool randomized = false;
  double u = 1.0;
};

// quantile_grid on val_scores, then guaranteed_threshold on the calibration rows.
ThresholdChoice guaranteed_threshold(const std::vector<float>& val_scores,
                                     const std::vector<float>& cal_scores,
                                     const std::vector<std::uint8_t>& cal_agrees, double target,
                                     const GuaranteedOptions& options);

// ---- per-class thresholds ------------------------------------------------------------------

struct PerClassChoice {
  // One choice per class id (size n_classes); a class with threshold +∞ is always deferred.
  std::vector<ThresholdChoice> classes;
  double delta_per_class = std::numeric_limits<double>::quiet_NaN();  // δ / classes_tested
  std::size_t classes_tested = 0;  // classes with a non-empty grid: the Bonferroni C
  std::size_t accepted = 0;        // calibration rows accepted over all classes
  double agreement = std::numeric_limits<double>::quiet_NaN();  // their agreement
  bool feasible = false;  // some class has a feasible threshold

  std::vector<double> thresholds() const;  // classes[c].threshold for every c
};

// One quantile_grid per class from the validation rows whose PREDICTED class is c (classes in
// [0, n_classes)); a class with no validation rows gets an empty grid (never accepted).
std::vector<std::vector<double>> per_class_quantile_grids(
    const std::vector<float>& val_scores, const std::vector<std::int32_t>& val_classes,
    std::size_t n_classes, int points, double max_coverage, double min_coverage);

// guaranteed_threshold per predicted class at δ / C, C = the number of non-empty grids; the
// calibration rows predicted c are tested against grids[c]. n_classes = grids.size();
// class ids outside [0, n_classes) are an error. See the header comment for the guarantee.
PerClassChoice guaranteed_per_class(const std::vector<float>& cal_scores,
                                    const std::vector<std::uint8_t>& cal_agrees,
                                    const std::vector<std::int32_t>& cal_classes,
                                    const std::vector<std::vector<double>>& grids, double target,
                                    double delta, std::size_t min_accepted,
                                    double window_scale = 0.0, double u = 1.0);

// per_class_quantile_grids on the validation rows, then guaranteed_per_class.
PerClassChoice guaranteed_per_class(const std::vector<float>& val_scores,
                                    const std::vector<std::int32_t>& val_classes,
                                    const std::vector<float>& cal_scores,
                                    const std::vector<std::uint8_t>& cal_agrees,
                                    const std::vector<std::int32_t>& cal_classes,
                                    std::size_t n_classes, double target,
                                    const GuaranteedOptions& options);

// empirical_threshold per predicted class (no guarantee; for comparison).
PerClassChoice empirical_per_class(const std::vector<float>& cal_scores,
                                   const std::vector<std::uint8_t>& cal_agrees,
                                   const std::vector<std::int32_t>& cal_classes,
                                   std::size_t n_classes, double target);

// The decisions of per-class thresholds: 1 where score ≥ thresholds[class].
std::vector<std::uint8_t> accept_mask_per_class(const std::vector<float>& scores,
                                                const std::vector<std::int32_t>& classes,
                                                const std::vector<double>& thresholds);

}  // namespace deferbench
