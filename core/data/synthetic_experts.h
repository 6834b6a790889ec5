// Synthetic traces for multi-expert deferral with costs (issue 16; DESIGN.md, "Multi-expert
// deferral"; core/experts/costs.h): J simulated experts whose error rates depend only on the region
// of a row, the region an interval of its first feature x[0]. The Bayes rejector is then known
// exactly (route a row of region r to argmin_j α_j · error_rates[j][r] + λ β_j), and so is its
// expected cost; a multinomial linear model on x can represent it (thresholds on one coordinate).
#pragma once

#include <cstdint>
#include <vector>

#include "core/data/dataset.h"
#include "core/data/matrix.h"
#include "core/data/synthetic.h"

namespace deferbench {

// The defaults: J = 3 experts, R = 3 regions.
//
// Cuts x[0] = −0.5 and 0.5, fixed. The exact tertiles of x[0] depend on the seed (the class centres
// are random, and the region must not depend on the other rows), so they are not computed: with the
// default `base` (10 classes, dim 32, separation 4, noise 1), x[0] has mean 0 and variance ≈ 1.27
// over seeds (tertiles ≈ ±0.48). Measured on 50k rows for each of the seeds 0..99, the shares of
// regions 0 / 1 / 2 average 0.33 / 0.34 / 0.33, but one seed's shares range over 0.18–0.48,
// 0.29–0.38 and 0.19–0.49 (the random centres move the mean of x[0] from seed to seed).
//
// P(expert j wrong | region r), and the expected costs α_j e_j(r) + λ β_j at α = (1, 1, 1),
// β = (1, 3, 10) and λ = 0.01 (an error costs as much as 100 calls of expert_1); * the least:
//
//                     error rates           expected cost (λ = 0.01)
//   region            r=0   r=1   r=2       r=0     r=1     r=2
//   expert_1 (β=1)    0.03  0.40  0.60      0.04*   0.41    0.61
//   expert_2 (β=3)    0.04  0.10  0.45      0.07    0.13*   0.48
//   expert_3 (β=10)   0.02  0.08  0.10      0.12    0.18    0.20*
//
// The Bayes rejector calls the cheap expert where it is good, the middle one where only it and the
// dear one are good, and the dear one where only it is: expected cost (0.04 + 0.13 + 0.20) / 3 ≈
// 0.123 at equal shares. These choices hold for λ in [1/350, 0.05) (ties go to the lower β):
// below 1/350 expert_3 also wins region 1 (0.08 + 10λ < 0.10 + 3λ), from 0.05 expert_2 wins region
// 2 (0.45 + 3λ ≤ 0.10 + 10λ). At λ = 1 every region goes to expert_1: with α = 1 an error costs at
// most 1, less than the smallest gap between prices, λ(β_2 − β_1) = 2.
struct SyntheticExpertsOptions {
  // Features and gold (SyntheticOptions' defaults with a perfect teacher); the generated teacher
  // is gold whatever base.teacher_error_rate says.
  SyntheticOptions base = [] {
    SyntheticOptions o;
    o.teacher_error_rate = 0.0;
    return o;
  }();
  std::vector<double> cuts = {-0.5, 0.5};  // strictly increasing; R = cuts.size() + 1 regions
  // error_rates[j][r] = P(expert j + 1 answers wrong | region r): J rows of R entries in [0, 1].
  std::vector<std::vector<double>> error_rates = {
      {0.03, 0.40, 0.60}, {0.04, 0.10, 0.45}, {0.02, 0.08, 0.10}};
  // true: R indicator columns of the row's region after the base features. Then a linear model
  // represents every P(expert wrong | x) and the comp-sum minimizer exactly (each is constant per
  // region), so a learner's distance to the Bayes rejector measures estimation, not
  // approximation: what "consistent" promises. Without them the regions are steps in x[0] that a
  // linear model only approximates (the two-stage logistic rejector then stays ~14% above the
  // Bayes cost at 100k rows; an MLP's boundaries blur and shift with its seed).
  bool region_features = false;
};

// Throws deferbench::Error with a one-line message naming the field ("synthetic_experts.<field>";
// "synthetic.<field>" for `base`): base invalid (classes < 2, ...), cuts not finite or not strictly
// increasing, no experts, an expert whose rates are not one per region, a rate outside [0, 1].
void validate(const SyntheticExpertsOptions& options);

// The region of each row: the number of cuts ≤ x(i, 0) (0..cuts.size()). Throws deferbench::Error
// for a matrix with no columns, a NaN in column 0, or cuts that are not finite and strictly
// increasing.
std::vector<int> synthetic_regions(MatrixView x, const std::vector<double>& cuts);

// generate_synthetic(options.base, seed) with teacher = gold (the true class, "0", "1", ...) on
// every row, plus Traces::fields:
//  - "expert_1" … "expert_J": expert j's answer, the gold label with probability
//    1 − error_rates[j − 1][r], otherwise a class drawn uniformly among the OTHER classes;
//  - "region": the row's region r (synthetic_regions of the features), as a decimal string.
// Deterministic for a seed. Each expert draws from its own stream (mix_seed(seed, stream of j)),
// in row order: expert j's answers do not depend on the other experts or on J, and the first n
// rows do not depend on base.rows. The features and gold do not depend on the experts at all.
Traces generate_synthetic_experts(const SyntheticExpertsOptions& options, std::uint64_t seed);

// The Bayes rejector over the experts only (no main model): per row i of region r_i, the index j
// (0-based: expert_{j + 1}) minimizing α_j · error_rates[j][r_i] + λ β_j; ties go to the lower β,
// then to the lower index (as route_by_cost in core/experts/costs.h). alpha, beta: one per expert,
// finite and ≥ 0; λ finite and ≥ 0; every region in [0, R). Bad input throws deferbench::Error.
std::vector<int> bayes_choices(const std::vector<int>& regions,
                               const std::vector<std::vector<double>>& error_rates,
                               const std::vector<double>& alpha, const std::vector<double>& beta,
                               double lambda);

// The Bayes rejector's expected cost per query: the mean over rows of
// min_j (α_j · error_rates[j][r_i] + λ β_j). At least one row.
double bayes_expected_cost(const std::vector<int>& regions,
                           const std::vector<std::vector<double>>& error_rates,
                           const std::vector<double>& alpha, const std::vector<double>& beta,
                           double lambda);

}  // namespace deferbench
