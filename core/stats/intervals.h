// Student's t distribution and the mean with its two-sided 95% Student-t confidence interval
// (used by `deferbench report` over seeds). Pure functions: no state, safe from any thread.
#pragma once

#include <cstddef>
#include <vector>

namespace deferbench {

// Mean, sample standard deviation and the two-sided 95% Student-t confidence interval of the
// mean over `n` values (n = 1: sd and the interval are NaN; n = 0: everything NaN).
struct MeanCI {
  std::size_t n = 0;
  double mean = 0, sd = 0, ci_low = 0, ci_high = 0;
};
MeanCI mean_ci(const std::vector<double>& values);

// The p-quantile of Student's t distribution with `df` > 0 degrees of freedom (0 < p < 1).
double student_t_quantile(double p, double df);

// P(T <= t) for Student's t distribution with `df` > 0 degrees of freedom (through the
// regularized incomplete beta function; relative accuracy ~1e-14).
double student_t_cdf(double t, double df);

}  // namespace deferbench
