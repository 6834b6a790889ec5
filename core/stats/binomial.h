// Exact binomial tails and Clopper–Pearson bounds for the guaranteed calibration.
//
// X ~ Binomial(n, p). A tail is computed on the far side of the mode by summing the pmf with
// the ratio recurrence P(X = j+1)/P(X = j) = (n − j)/(j + 1) · p/(1 − p), anchored at one pmf
// value from Loader's saddle-point formula (Stirling remainders and the deviance term bd0, as in
// R's dbinom — lgamma differences would lose digits: lgamma(10^7) ≈ 1.5·10^8 carries an absolute
// error near 1e-8), stopping once the terms stop mattering; the other tail is 1 − that, which is
// then ≳ 0.4. Cost O(min(tail length, ~9·sqrt(np(1−p)))) per call: ~15,000 steps at n = 10^7,
// p = 1/2. Accuracy against 40-digit references (mpmath; a table of them is in
// tests/core/routing/test_calibration.cpp), both tails, p from 1e-6 to 1 − 1e-6, k from −6σ to
// +6σ: worst relative error 7e-14 for n ≤ 10^5 and 7e-13 at n = 10^7, tails of 1e-10 included;
// tails below the double range round to 0.
//
// Everything here is a pure function: no state, deterministic, safe from any thread.
#pragma once

#include <cstdint>

namespace deferbench {

// log P(X = k | n, p); −infinity when the probability is 0. Requires 0 ≤ p ≤ 1, k ≤ n.
double binomial_log_pmf(std::uint64_t k, std::uint64_t n, double p);

// P(X ≥ k | n, p). 1 for k = 0, 0 for k > n. Requires 0 ≤ p ≤ 1.
double binomial_upper_tail(std::uint64_t k, std::uint64_t n, double p);

// P(X ≤ k | n, p) (the CDF). 1 for k ≥ n. Requires 0 ≤ p ≤ 1.
double binomial_cdf(std::uint64_t k, std::uint64_t n, double p);

// The exact p-value of H0: "the success probability is < target" (equivalently ≤ target) after
// k successes in n trials: P(X ≥ k | n, target), the largest probability under H0 of a count at
// least this large. Rejecting H0 when it is ≤ δ is a level-δ test, and it happens exactly when
// clopper_pearson_lower(k, n, δ) ≥ target. n = 0 gives 1 (no evidence). target ∈ (0, 1].
double binomial_p_value(std::uint64_t k, std::uint64_t n, double target);

// The randomized p-value of the same H0 (the exact, uniformly most powerful test of a binomial
// proportion): P(X > k | n, target) + u · P(X = k | n, target), with u drawn uniformly from (0, 1]
// independently of X. Under H0 it is stochastically no smaller than a uniform variable, so
// rejecting when it is ≤ δ is a test of level exactly δ at the boundary — where the
// non-randomized test, whose P(X ≥ k) jumps over δ, uses less (at n = 60, target 0.9, δ = 0.1 its
// size is 0.053) and so passes less often. u = 1 gives binomial_p_value. u ∈ (0, 1].
double binomial_randomized_p_value(std::uint64_t k, std::uint64_t n, double target, double u);

// The one-sided Clopper–Pearson lower confidence bound at level δ: the p with
// P(X ≥ k | n, p) = δ, i.e. the δ-quantile of Beta(k, n − k + 1); 0 for k = 0. With probability
// ≥ 1 − δ over the draw of X, the true p is ≥ the bound. For k = n it is δ^(1/n). Solved by
// bisection on the exact tail to full double precision (~60–100 tail evaluations).
// Requires k ≤ n and δ ∈ (0, 1).
double clopper_pearson_lower(std::uint64_t k, std::uint64_t n, double delta);

// The lower confidence bound of the randomized test: the p at which
// binomial_randomized_p_value(k, n, p, u) = δ (0 when it exceeds δ for every p > 0, 1 when it is
// ≤ δ at every p < 1, as for k = n with u ≤ δ). With probability ≥ 1 − δ over X and u, the true
// p is ≥ it; binomial_randomized_p_value(k, n, t, u) ≤ δ iff it is ≥ t. u = 1 gives
// clopper_pearson_lower. Requires k ≤ n, δ ∈ (0, 1), u ∈ (0, 1].
double randomized_lower_bound(std::uint64_t k, std::uint64_t n, double delta, double u);

// The one-sided Clopper–Pearson upper bound: the p with P(X ≤ k | n, p) = δ; 1 for k = n.
double clopper_pearson_upper(std::uint64_t k, std::uint64_t n, double delta);

// The smallest number of accepted rows m at which a threshold can pass the test at all, i.e. with
// m agreements out of m: the least m with target^m ≤ δ (22 for target 0.9, δ = 0.1; a threshold
// accepting 10 calibration rows fails even with 10/10 agreements: 0.9^10 = 0.349 > 0.1). For
// target = 1 no count suffices: returns UINT64_MAX.
std::uint64_t min_passable_rows(double target, double delta);

// The fewest agreements out of m accepted rows with which the test of H0: agreement < target
// passes at level δ: the least k with P(X ≥ k | m, target) ≤ δ; m + 1 when none does (m below
// min_passable_rows). For the one-line diagnostic of a calibration that certified nothing.
// u < 1: the randomized test's (binomial_randomized_p_value ≤ δ), never more than one fewer.
std::uint64_t min_passing_agreements(std::uint64_t m, double target, double delta, double u = 1.0);

// The agreement a threshold must truly have so that a window in which it handles `m` rows
// agrees on at least ceil(target · m) of them with probability ≥ 1 − δ: the smallest p with
// P(X ≤ ceil(target·m) − 1 | m, p) ≤ δ, which is clopper_pearson_upper(ceil(target·m) − 1, m, δ).
// Larger windows need less (→ target as m → ∞). m ≥ 1, target ∈ (0, 1], δ ∈ (0, 1).
double window_requirement(double target, std::uint64_t m, double delta);

}  // namespace deferbench
