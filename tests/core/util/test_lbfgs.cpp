#include "core/util/lbfgs.h"

#include <cmath>
#include <random>

#include <gtest/gtest.h>

namespace deferbench {
namespace {

// Rosenbrock's valley from the classic start (−1.2, 1): minimum 0 at (1, 1).
TEST(Lbfgs, FindsTheRosenbrockMinimum) {
  Objective rosenbrock = [](const std::vector<double>& x, std::vector<double>& g) {
    const double a = 1.0 - x[0], b = x[1] - x[0] * x[0];
    g = {-2.0 * a - 400.0 * x[0] * b, 200.0 * b};
    return a * a + 100.0 * b * b;
  };
  std::vector<double> x = {-1.2, 1.0};
  LbfgsOptions o;
  o.max_iter = 200;
  o.max_eval = 400;
  o.tolerance_grad = 1e-9;
  o.tolerance_change = 0.0;  // stop on the gradient only
  const LbfgsResult r = lbfgs_minimize(rosenbrock, x, o);
  EXPECT_TRUE(r.converged);
  EXPECT_NEAR(x[0], 1.0, 1e-6);
  EXPECT_NEAR(x[1], 1.0, 1e-6);
  EXPECT_LT(r.f, 1e-12);
  EXPECT_LE(r.evaluations, o.max_eval + 25);  // the last search may finish its evaluations
}

// A convex quadratic ½ xᵀA x − bᵀx in 40 dimensions (A = MᵀM + I): the minimizer solves A x = b,
// checked through the residual.
TEST(Lbfgs, SolvesAQuadratic) {
  const std::size_t n = 40;
  std::mt19937_64 rng(3);
  std::normal_distribution<double> g(0.0, 1.0);
  std::vector<double> m(n * n), a(n * n, 0.0), b(n);
  for (double& v : m) v = g(rng) / std::sqrt(static_cast<double>(n));
  for (double& v : b) v = g(rng);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      for (std::size_t k = 0; k < n; ++k) a[i * n + j] += m[k * n + i] * m[k * n + j];
      a[i * n + j] += i == j ? 1.0 : 0.0;
    }
  auto residual = [&](const std::vector<double>& x, std::vector<double>& r) {
    r.assign(n, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = 0; j < n; ++j) r[i] += a[i * n + j] * x[j];
      r[i] -= b[i];
    }
  };
  Objective quadratic = [&](const std::vector<double>& x, std::vector<double>& grad) {
    residual(x, grad);  // ∇ = A x − b
    double f = 0.0;
    for (std::size_t i = 0; i < n; ++i) f += 0.5 * x[i] * (grad[i] + b[i]) - b[i] * x[i];
    return f;
  };
  std::vector<double> x(n, 0.0), r;
  LbfgsOptions o;
  o.max_iter = 500;
  o.max_eval = 1000;
  o.tolerance_grad = 1e-7;  // (below about 1e-8, f's changes are lost in its rounding)
  o.tolerance_change = 0.0;
  EXPECT_TRUE(lbfgs_minimize(quadratic, x, o).converged);
  residual(x, r);
  for (double v : r) EXPECT_LE(std::abs(v), 1e-7);
}

// max_iter bounds the iterations; a start at the minimum stops at once.
TEST(Lbfgs, StopsAtItsLimits) {
  int calls = 0;
  Objective bowl = [&](const std::vector<double>& x, std::vector<double>& g) {
    ++calls;
    g.assign(x.size(), 0.0);
    double f = 0.0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double w = static_cast<double>(i + 1);
      f += w * x[i] * x[i] * x[i] * x[i];  // flat near 0: slow
      g[i] = 4.0 * w * x[i] * x[i] * x[i];
    }
    return f;
  };
  std::vector<double> x(5, 1.0);
  LbfgsOptions o;
  o.max_iter = 3;
  o.tolerance_grad = 0.0;
  o.tolerance_change = 0.0;
  const LbfgsResult r = lbfgs_minimize(bowl, x, o);
  EXPECT_EQ(r.iterations, 3);
  EXPECT_FALSE(r.converged);
  EXPECT_EQ(r.evaluations, calls);
  std::vector<double> zero(5, 0.0);
  calls = 0;
  const LbfgsResult at_min = lbfgs_minimize(bowl, zero, o);
  EXPECT_TRUE(at_min.converged);
  EXPECT_EQ(at_min.iterations, 0);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace deferbench
