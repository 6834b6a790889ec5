// Student's t by the regularized incomplete beta function; the mean with its t interval.
#include "core/stats/intervals.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "core/util/error.h"

namespace deferbench {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The regularized incomplete beta function I_x(a, b), by the continued fraction of Numerical
// Recipes §6.4 (modified Lentz), on the side of (a + 1)/(a + b + 2) where it converges fast.
double incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const bool flip = x > (a + 1) / (a + b + 2);
  if (flip) {
    std::swap(a, b);
    x = 1 - x;
  }
  const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) +
                                a * std::log(x) + b * std::log1p(-x)) /
                       a;
  constexpr double kTiny = 1e-300;
  auto guard = [](double v) { return std::fabs(v) < kTiny ? kTiny : v; };
  double c = 1, d = 1 / guard(1 - (a + b) * x / (a + 1)), h = d;
  for (int m = 1; m <= 1000; ++m) {
    const double even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
    d = 1 / guard(1 + even * d);
    c = guard(1 + even / c);
    h *= d * c;
    const double odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
    d = 1 / guard(1 + odd * d);
    c = guard(1 + odd / c);
    h *= d * c;
    if (std::fabs(d * c - 1) < 1e-16) break;
  }
  return flip ? 1 - front * h : front * h;
}

}  // namespace

double student_t_cdf(double t, double df) {
  DB_CHECK(df > 0, "student_t_cdf: degrees of freedom must be > 0, got {}", df);
  if (std::isnan(t)) return kNaN;
  const double tail = 0.5 * incomplete_beta(df / 2, 0.5, df / (df + t * t));  // P(T > |t|)
  return t > 0 ? 1 - tail : tail;
}

double student_t_quantile(double p, double df) {
  DB_CHECK(p > 0 && p < 1, "student_t_quantile: p must be in (0, 1), got {}", p);
  DB_CHECK(df > 0, "student_t_quantile: degrees of freedom must be > 0, got {}", df);
  if (p == 0.5) return 0;
  // P(|T| > t) = I_x(df/2, 1/2) with x = df/(df + t²), increasing in x: bisect on x to full
  // precision, then t = sqrt(df (1 − x)/x).
  const double two_tail = 2 * std::min(p, 1 - p);
  double lo = 0, hi = 1;
  for (;;) {
    const double mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    (incomplete_beta(df / 2, 0.5, mid) < two_tail ? lo : hi) = mid;
  }
  const double x = 0.5 * (lo + hi);
  const double t = std::sqrt(df * (1 - x) / x);
  return p > 0.5 ? t : -t;
}

MeanCI mean_ci(const std::vector<double>& values) {
  MeanCI r;
  r.n = values.size();
  r.mean = r.sd = r.ci_low = r.ci_high = kNaN;
  if (r.n == 0) return r;
  double sum = 0;
  for (double v : values) sum += v;
  r.mean = sum / static_cast<double>(r.n);
  if (r.n == 1) return r;
  double ss = 0;
  for (double v : values) ss += (v - r.mean) * (v - r.mean);
  r.sd = std::sqrt(ss / static_cast<double>(r.n - 1));
  const double half = student_t_quantile(0.975, static_cast<double>(r.n - 1)) * r.sd /
                      std::sqrt(static_cast<double>(r.n));
  r.ci_low = r.mean - half;
  r.ci_high = r.mean + half;
  return r;
}

}  // namespace deferbench
