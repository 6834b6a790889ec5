// Limited-memory BFGS for smooth unconstrained minimization in double precision, with the
// strong-Wolfe line search (cubic interpolation, c1 = 1e-4, c2 = 0.9, at most 25 evaluations per
// search). The stopping rules are those of PyTorch's torch.optim.LBFGS (and minFunc, which it
// follows): max|∇f| ≤ tolerance_grad, a step or an objective change below tolerance_change,
// max_iter iterations or max_eval evaluations.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

namespace deferbench {

struct LbfgsOptions {
  int max_iter = 100;
  int max_eval = 125;  // objective evaluations at most (PyTorch's default: max_iter · 5/4)
  double tolerance_grad = 1e-7;
  double tolerance_change = 1e-9;
  int history = 10;  // correction pairs kept
  double lr = 1.0;  // the initial step of each line search (the first one is scaled by 1/‖g‖₁)
};

struct LbfgsResult {
  double f = 0.0;  // the objective at the returned point
  int iterations = 0;
  int evaluations = 0;
  bool converged = false;  // stopped by tolerance_grad
};

// f(x, grad) returns the objective at x and writes its gradient into grad (same size as x).
using Objective = std::function<double(const std::vector<double>& x, std::vector<double>& grad)>;

// Minimizes f from x (updated in place).
LbfgsResult lbfgs_minimize(const Objective& f, std::vector<double>& x, const LbfgsOptions& options);

}  // namespace deferbench
