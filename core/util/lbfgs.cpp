#include "core/util/lbfgs.h"

#include <algorithm>
#include <cmath>
#include <deque>

#include "core/util/error.h"

namespace deferbench {

namespace {

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

double max_abs(const std::vector<double>& a) {
  double m = 0.0;
  for (double v : a) m = std::max(m, std::abs(v));
  return m;
}

// The minimizer of the cubic through (x1, f1, f1') and (x2, f2, f2'), clamped to [lo, hi]
// (the bisection point when the cubic has no minimum).
double cubic_minimum(double x1, double f1, double g1, double x2, double f2, double g2, double lo,
                     double hi) {
  const double d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2);
  const double d2_square = d1 * d1 - g1 * g2;
  if (d2_square >= 0.0) {
    const double d2 = std::sqrt(d2_square);
    const double t = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2))
                              : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2));
    return std::min(std::max(t, lo), hi);
  }
  return (lo + hi) / 2.0;
}

struct Point {
  double t, f, gtd;
  std::vector<double> g;
};

// The search's start (step 0): what a search that found nothing better returns.
Point prev_start(double f0, const std::vector<double>& g0, double gtd0) {
  return Point{0.0, f0, gtd0, g0};
}

// Strong-Wolfe line search along d from x (objective f0, gradient g0, slope gtd0 < 0), starting
// at step t. Returns the accepted point (its gradient in .g); `evals` counts evaluations.
Point strong_wolfe(const Objective& obj, const std::vector<double>& x, double t,
                   const std::vector<double>& d, double f0, const std::vector<double>& g0,
                   double gtd0, double tolerance_change, int& evals) {
  constexpr double c1 = 1e-4, c2 = 0.9;
  constexpr int max_ls = 25;
  const double d_norm = max_abs(d);
  std::vector<double> xt(x.size()), g(x.size());
  auto eval = [&](double step) {
    for (std::size_t i = 0; i < x.size(); ++i) xt[i] = x[i] + step * d[i];
    ++evals;
    const double f = obj(xt, g);
    return Point{step, f, dot(g, d), g};
  };
  Point prev = prev_start(f0, g0, gtd0);
  Point cur = eval(t);
  int ls = 1;
  // Bracketing: grow the step until an interval [lo, hi] holds a point meeting the conditions.
  Point lo, hi;
  bool bracketed = false, done = false;
  while (ls < max_ls) {
    if (cur.f > f0 + c1 * cur.t * gtd0 || (ls > 1 && cur.f >= prev.f)) {
      lo = prev;
      hi = cur;
      bracketed = true;
      break;
    }
    if (std::abs(cur.gtd) <= -c2 * gtd0) {
      done = true;
      break;
    }
    if (cur.gtd >= 0.0) {
      lo = prev;
      hi = cur;
      bracketed = true;
      break;
    }
    const double min_step = cur.t + 0.01 * (cur.t - prev.t), max_step = cur.t * 10.0;
    const double next =
        cubic_minimum(prev.t, prev.f, prev.gtd, cur.t, cur.f, cur.gtd, min_step, max_step);
    prev = std::move(cur);
    cur = eval(next);
    ++ls;
  }
  if (done) return cur;
  if (!bracketed) return cur.f <= f0 ? cur : prev_start(f0, g0, gtd0);
  // Zoom: shrink [lo, hi] (lo: the lower objective) until a point meets the conditions.
  if (hi.f < lo.f) std::swap(lo, hi);
  bool insufficient_progress = false;
  while (ls < max_ls) {
    if (std::abs(hi.t - lo.t) * d_norm < tolerance_change) break;
    const double a = std::min(lo.t, hi.t), b = std::max(lo.t, hi.t);
    double next = cubic_minimum(lo.t, lo.f, lo.gtd, hi.t, hi.f, hi.gtd, a, b);
    // Keep away from the ends: if the interpolated step is within 10% of one, move it in (or
    // bisect after a step that made no progress).
    const double eps = 0.1 * (b - a);
    if (std::min(b - next, next - a) < eps) {
      if (insufficient_progress || next >= b || next <= a) {
        next = std::abs(next - b) < std::abs(next - a) ? b - eps : a + eps;
        insufficient_progress = false;
      } else {
        insufficient_progress = true;
      }
    } else {
      insufficient_progress = false;
    }
    Point p = eval(next);
    ++ls;
    if (p.f > f0 + c1 * p.t * gtd0 || p.f >= lo.f) {
      hi = std::move(p);
      if (hi.f < lo.f) std::swap(lo, hi);
    } else {
      if (std::abs(p.gtd) <= -c2 * gtd0) return p;
      if (p.gtd * (hi.t - lo.t) >= 0.0) hi = lo;
      lo = std::move(p);
    }
  }
  return lo;
}

}  // namespace

LbfgsResult lbfgs_minimize(const Objective& obj, std::vector<double>& x, const LbfgsOptions& o) {
  DB_ASSERT(o.max_iter >= 1 && o.max_eval >= 1 && o.history >= 1);
  const std::size_t n = x.size();
  LbfgsResult r;
  std::vector<double> g(n), d(n), g_prev(n), q(n);
  r.f = obj(x, g);
  r.evaluations = 1;
  if (max_abs(g) <= o.tolerance_grad) {
    r.converged = true;
    return r;
  }
  struct Pair {
    std::vector<double> s, y;
    double rho;
  };
  std::deque<Pair> history;
  std::vector<double> alpha(static_cast<std::size_t>(o.history));
  double t = 0.0, h_diag = 1.0;
  while (r.iterations < o.max_iter) {
    ++r.iterations;
    if (r.iterations == 1) {
      for (std::size_t i = 0; i < n; ++i) d[i] = -g[i];
    } else {
      // The new correction pair (skipped when it would not keep the approximation positive
      // definite), then the two-loop recursion for d = −H g.
      Pair p{std::vector<double>(n), std::vector<double>(n), 0.0};
      for (std::size_t i = 0; i < n; ++i) {
        p.y[i] = g[i] - g_prev[i];
        p.s[i] = d[i] * t;
      }
      const double ys = dot(p.y, p.s);
      if (ys > 1e-10) {
        if (history.size() == static_cast<std::size_t>(o.history)) history.pop_front();
        h_diag = ys / dot(p.y, p.y);
        p.rho = 1.0 / ys;
        history.push_back(std::move(p));
      }
      for (std::size_t i = 0; i < n; ++i) q[i] = -g[i];
      for (std::size_t k = history.size(); k-- > 0;) {
        alpha[k] = history[k].rho * dot(history[k].s, q);
        for (std::size_t i = 0; i < n; ++i) q[i] -= alpha[k] * history[k].y[i];
      }
      for (std::size_t i = 0; i < n; ++i) d[i] = q[i] * h_diag;
      for (std::size_t k = 0; k < history.size(); ++k) {
        const double beta = history[k].rho * dot(history[k].y, d);
        for (std::size_t i = 0; i < n; ++i) d[i] += history[k].s[i] * (alpha[k] - beta);
      }
    }
    g_prev = g;
    const double f_prev = r.f;
    if (r.iterations == 1) {
      double l1 = 0.0;
      for (double v : g) l1 += std::abs(v);
      t = std::min(1.0, 1.0 / l1) * o.lr;
    } else {
      t = o.lr;
    }
    const double gtd = dot(g, d);
    if (gtd > -o.tolerance_change) break;  // not a descent direction any more
    int evals = 0;
    Point p = strong_wolfe(obj, x, t, d, r.f, g, gtd, o.tolerance_change, evals);
    r.evaluations += evals;
    t = p.t;
    for (std::size_t i = 0; i < n; ++i) x[i] += t * d[i];
    r.f = p.f;
    g = std::move(p.g);
    if (max_abs(g) <= o.tolerance_grad) {
      r.converged = true;
      break;
    }
    if (r.evaluations >= o.max_eval) break;
    if (max_abs(d) * std::abs(t) <= o.tolerance_change) break;
    if (std::abs(r.f - f_prev) < o.tolerance_change) break;
  }
  return r;
}

}  // namespace deferbench
