#include "core/data/synthetic_experts.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/util/context.h"
#include "core/util/error.h"
#include "core/util/random.h"

namespace deferbench {
namespace {

// Expert j draws from stream kFirstExpertStream + j (the base generator uses streams 0 and 1).
constexpr std::uint64_t kFirstExpertStream = 1000;

void check_cuts(const std::vector<double>& cuts) {
  for (std::size_t c = 0; c < cuts.size(); ++c) {
    DB_CHECK(std::isfinite(cuts[c]), "synthetic_experts.cuts[{}]: {}; expected a finite number", c,
             cuts[c]);
    DB_CHECK(c == 0 || cuts[c - 1] < cuts[c],
             "synthetic_experts.cuts[{}]: {} after {}; expected strictly increasing cuts", c,
             cuts[c], cuts[c - 1]);
  }
}

// Every expert's rates one per region (`regions` of them, or as many as expert 0 has when 0), each
// a probability. Returns the number of regions.
std::size_t check_error_rates(const std::vector<std::vector<double>>& rates, std::size_t regions) {
  DB_CHECK(!rates.empty(), "synthetic_experts.error_rates: no experts; expected at least one");
  if (regions == 0) regions = rates[0].size();
  DB_CHECK(regions >= 1, "synthetic_experts.error_rates[0]: no rates; expected one per region");
  for (std::size_t j = 0; j < rates.size(); ++j) {
    DB_CHECK(rates[j].size() == regions,
             "synthetic_experts.error_rates[{}]: {} rates for {} regions; expected one per region",
             j, rates[j].size(), regions);
    for (std::size_t r = 0; r < regions; ++r)
      DB_CHECK(rates[j][r] >= 0 && rates[j][r] <= 1,  // also rejects NaN
               "synthetic_experts.error_rates[{}][{}]: {} is out of range; expected a probability "
               "in [0, 1]",
               j, r, rates[j][r]);
  }
  return regions;
}

// The expected cost of each expert in each region (experts × regions), after checking the input.
std::vector<std::vector<double>> expected_costs(const std::vector<int>& regions,
                                                const std::vector<std::vector<double>>& rates,
                                                const std::vector<double>& alpha,
                                                const std::vector<double>& beta, double lambda) {
  const std::size_t r_count = check_error_rates(rates, 0);
  const std::size_t j_count = rates.size();
  DB_CHECK(
      alpha.size() == j_count && beta.size() == j_count,
      "synthetic_experts: {} alpha and {} beta for {} experts; expected one of each per expert",
      alpha.size(), beta.size(), j_count);
  for (std::size_t j = 0; j < j_count; ++j) {
    DB_CHECK(std::isfinite(alpha[j]) && alpha[j] >= 0,
             "synthetic_experts: alpha[{}] is {}; expected a finite number >= 0", j, alpha[j]);
    DB_CHECK(std::isfinite(beta[j]) && beta[j] >= 0,
             "synthetic_experts: beta[{}] is {}; expected a finite number >= 0", j, beta[j]);
  }
  DB_CHECK(std::isfinite(lambda) && lambda >= 0,
           "synthetic_experts: lambda is {}; expected a finite number >= 0", lambda);
  for (std::size_t i = 0; i < regions.size(); ++i)
    DB_CHECK(regions[i] >= 0 && static_cast<std::size_t>(regions[i]) < r_count,
             "synthetic_experts: row {} has region {}; expected 0..{}", i, regions[i], r_count - 1);
  std::vector<std::vector<double>> cost(j_count, std::vector<double>(r_count));
  for (std::size_t j = 0; j < j_count; ++j)
    for (std::size_t r = 0; r < r_count; ++r)
      cost[j][r] = alpha[j] * rates[j][r] + lambda * beta[j];
  return cost;
}

// Per region the least expected cost's expert; ties to the lower β, then the lower index.
std::vector<int> best_per_region(const std::vector<std::vector<double>>& cost,
                                 const std::vector<double>& beta) {
  std::vector<int> best(cost[0].size(), 0);
  for (std::size_t r = 0; r < best.size(); ++r) {
    std::size_t b = 0;
    for (std::size_t j = 1; j < cost.size(); ++j)
      if (cost[j][r] < cost[b][r] || (cost[j][r] == cost[b][r] && beta[j] < beta[b])) b = j;
    best[r] = static_cast<int>(b);
  }
  return best;
}

}  // namespace

void validate(const SyntheticExpertsOptions& o) {
  validate(o.base);
  check_cuts(o.cuts);
  check_error_rates(o.error_rates, o.cuts.size() + 1);
}

std::vector<int> synthetic_regions(MatrixView x, const std::vector<double>& cuts) {
  check_cuts(cuts);
  DB_CHECK(x.cols() >= 1 || x.rows() == 0,
           "synthetic_experts: features have no columns; the region needs x[0]");
  std::vector<int> out(x.rows());
  for (std::size_t i = 0; i < x.rows(); ++i) {
    const double v = x(i, 0);
    DB_CHECK(!std::isnan(v), "synthetic_experts: row {} has NaN in x[0]", i);
    out[i] = static_cast<int>(std::upper_bound(cuts.begin(), cuts.end(), v) - cuts.begin());
  }
  return out;
}

Traces generate_synthetic_experts(const SyntheticExpertsOptions& o, std::uint64_t seed) {
  validate(o);
  Traces t = generate_synthetic(o.base, seed);
  t.source = "synthetic_experts";
  t.teacher = t.gold;
  const std::size_t n = t.size(), k = o.base.classes;
  const std::vector<int> regions = synthetic_regions(t.embeddings, o.cuts);

  std::vector<std::string> region_names(o.cuts.size() + 1);
  for (std::size_t r = 0; r < region_names.size(); ++r) region_names[r] = std::to_string(r);
  std::vector<std::string>& region_field = t.fields["region"];
  region_field.reserve(n);
  for (int r : regions) region_field.push_back(region_names[static_cast<std::size_t>(r)]);

  if (o.region_features) {  // one indicator column per region after the base features
    const std::size_t d = t.embeddings.cols(), regions_n = region_names.size();
    Matrix x(n, d + regions_n);
    for (std::size_t i = 0; i < n; ++i) {
      std::copy_n(t.embeddings.row(i), d, x.row(i));
      x(i, d + static_cast<std::size_t>(regions[i])) = 1.0f;
    }
    t.embeddings = std::move(x);
  }

  std::vector<std::size_t> gold(n);
  for (std::size_t i = 0; i < n; ++i) gold[i] = std::stoul(t.gold[i]);  // "0".."k−1", ours
  std::vector<std::string> names(k);
  for (std::size_t c = 0; c < k; ++c) names[c] = std::to_string(c);

  for (std::size_t j = 0; j < o.error_rates.size(); ++j) {
    const std::vector<double>& rate = o.error_rates[j];
    Rng draws(mix_seed(seed, kFirstExpertStream + j));
    std::vector<std::string>& answers = t.fields["expert_" + std::to_string(j + 1)];
    answers.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      std::size_t answer = gold[i];
      if (draws.uniform() < rate[static_cast<std::size_t>(regions[i])]) {
        answer = static_cast<std::size_t>(draws.below(k - 1));  // uniform over the other classes
        if (answer >= gold[i]) answer += 1;
      }
      answers.push_back(names[answer]);
    }
  }
  return t;
}

std::vector<int> bayes_choices(const std::vector<int>& regions,
                               const std::vector<std::vector<double>>& error_rates,
                               const std::vector<double>& alpha, const std::vector<double>& beta,
                               double lambda) {
  const std::vector<int> best =
      best_per_region(expected_costs(regions, error_rates, alpha, beta, lambda), beta);
  std::vector<int> out(regions.size());
  for (std::size_t i = 0; i < regions.size(); ++i)
    out[i] = best[static_cast<std::size_t>(regions[i])];
  return out;
}

double bayes_expected_cost(const std::vector<int>& regions,
                           const std::vector<std::vector<double>>& error_rates,
                           const std::vector<double>& alpha, const std::vector<double>& beta,
                           double lambda) {
  const std::vector<std::vector<double>> cost =
      expected_costs(regions, error_rates, alpha, beta, lambda);
  DB_CHECK(!regions.empty(), "synthetic_experts: no rows; the expected cost needs at least one");
  const std::vector<int> best = best_per_region(cost, beta);
  double total = 0;
  for (int r : regions) {
    const auto ru = static_cast<std::size_t>(r);
    total += cost[static_cast<std::size_t>(best[ru])][ru];
  }
  return total / static_cast<double>(regions.size());
}

}  // namespace deferbench
