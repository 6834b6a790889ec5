#include "core/experts/expert_policy.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/util/error.h"

namespace deferbench {

namespace {

bool nonneg_finite(double v) {
  return std::isfinite(v) && v >= 0;
}

}  // namespace

void validate_expert_policy(const ExpertPolicy& p) {
  DB_CHECK(!p.surrogate_features || p.has_surrogate,
           "expert policy: surrogate_features is set but the policy has no surrogate");
  const std::size_t k = p.size();
  DB_CHECK(p.method == kBayesPlugin || p.method == kTwoStage,
           "expert policy: method '{}' (expected bayes_plugin or two_stage)", excerpt(p.method));
  DB_CHECK(k >= 2, "expert policy: {} choices (expected at least 2)", k);
  DB_CHECK(p.names.size() == k, "expert policy: {} names for {} choices (expected one per choice)",
           p.names.size(), k);
  std::set<std::string> seen;
  for (std::size_t j = 0; j < k; ++j) {
    DB_CHECK(!p.names[j].empty(), "expert policy: choice {} has an empty name", j);
    DB_CHECK(seen.insert(p.names[j]).second,
             "expert policy: choice name '{}' appears twice (expected distinct names)",
             excerpt(p.names[j]));
    DB_CHECK(nonneg_finite(p.choices[j].alpha) && nonneg_finite(p.choices[j].beta),
             "expert policy: choice '{}' has alpha {} and beta {} (expected finite numbers ≥ 0)",
             excerpt(p.names[j]), p.choices[j].alpha, p.choices[j].beta);
  }
  DB_CHECK(nonneg_finite(p.lambda), "expert policy: lambda {} (expected a finite number ≥ 0)",
           p.lambda);
  DB_CHECK(p.has_surrogate == (p.surrogate != nullptr), "expert policy: {}",
           p.has_surrogate ? "has_surrogate is set but there is no surrogate model"
                           : "a surrogate model but has_surrogate is false");
  if (p.method == kBayesPlugin) {
    DB_CHECK(p.estimators.size() == k && p.constant_wrong.size() == k,
             "expert policy: bayes_plugin with {} estimators and {} constant estimates for {} "
             "choices (expected one of each per choice)",
             p.estimators.size(), p.constant_wrong.size(), k);
    for (std::size_t j = 0; j < k; ++j) {
      if (p.estimators[j]) {
        DB_CHECK(p.estimators[j]->n_classes() == 2,
                 "expert policy: the estimator of choice '{}' predicts {} classes (expected 2: "
                 "right, wrong)",
                 excerpt(p.names[j]), p.estimators[j]->n_classes());
      } else {
        const double c = p.constant_wrong[j];
        DB_CHECK(std::isfinite(c) && c >= 0 && c <= 1,
                 "expert policy: choice '{}' has no estimator and a constant estimate of {} "
                 "(expected a probability in [0, 1])",
                 excerpt(p.names[j]), c);
      }
    }
    DB_CHECK(p.rejector == nullptr, "expert policy: bayes_plugin with a rejector (expected none)");
  } else {
    DB_CHECK(p.rejector != nullptr, "expert policy: two_stage without a rejector");
    DB_CHECK(p.rejector->n_classes() == k,
             "expert policy: the rejector predicts {} classes (expected {}, one per choice)",
             p.rejector->n_classes(), k);
    DB_CHECK(p.estimators.empty() && p.constant_wrong.empty(),
             "expert policy: two_stage with estimators (expected none)");
  }
}

namespace {

// The estimators as one affine map when every one has a binary logit (logistic regressions):
// rows × choices log-odds of "wrong" in one pass over the rows. Empty when any estimator lacks
// one (each is then evaluated on its own).
struct FusedLogits {
  std::vector<std::size_t> choice;  // the choices with an estimator
  std::vector<float> w;             // choice.size() × d, row-major
  std::vector<double> b;
};

FusedLogits fuse(const ExpertPolicy& p, std::size_t d) {
  FusedLogits f;
  for (std::size_t j = 0; j < p.size(); ++j) {
    if (!p.estimators[j]) continue;
    const auto a = p.estimators[j]->binary_logit();
    if (!a || a->w.size() != d) return {};
    f.choice.push_back(j);
    f.w.insert(f.w.end(), a->w.begin(), a->w.end());
    f.b.push_back(a->b);
  }
  return f;
}

}  // namespace

Matrix expected_costs(const ExpertPolicy& p, MatrixView x, const Context& ctx) {
  DB_CHECK(p.method == kBayesPlugin, "expected_costs: method '{}' (expected bayes_plugin)",
           excerpt(p.method));
  const std::size_t n = x.rows(), k = p.size();
  Matrix cost(n, k);
  const FusedLogits f = fuse(p, x.cols());
  if (!f.choice.empty()) {
    // P̂_j = σ(w_j·x + b_j) for every estimator in one pass; constants as below.
    for (std::size_t j = 0; j < k; ++j)
      if (!p.estimators[j]) {
        const float c = static_cast<float>(p.choices[j].alpha * p.constant_wrong[j] +
                                           p.lambda * p.choices[j].beta);
        for (std::size_t i = 0; i < n; ++i) cost(i, j) = c;
      }
    const std::size_t d = x.cols(), m = f.choice.size();
#pragma omp parallel for num_threads(std::max(1, ctx.threads)) schedule(static) if (n >= 4096)
    for (std::ptrdiff_t ii = 0; ii < static_cast<std::ptrdiff_t>(n); ++ii) {
      const auto i = static_cast<std::size_t>(ii);
      const float* row = x.row(i);
      for (std::size_t e = 0; e < m; ++e) {
        const float* w = f.w.data() + e * d;
        // Eight independent partial sums (one vector register), added in a fixed order.
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        std::size_t t = 0;
        for (; t + 8 <= d; t += 8)
          for (std::size_t q = 0; q < 8; ++q) acc[q] += w[t + q] * row[t + q];
        for (; t < d; ++t) acc[t % 8] += w[t] * row[t];
        const float z =
            ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        const double pw = 1.0 / (1.0 + std::exp(-(static_cast<double>(z) + f.b[e])));
        const std::size_t j = f.choice[e];
        cost(i, j) = static_cast<float>(p.choices[j].alpha * pw + p.lambda * p.choices[j].beta);
      }
    }
    return cost;
  }
  for (std::size_t j = 0; j < k; ++j) {
    const double a = p.choices[j].alpha, b = p.lambda * p.choices[j].beta;
    if (!p.estimators[j]) {
      const float c = static_cast<float>(a * p.constant_wrong[j] + b);
      for (std::size_t i = 0; i < n; ++i) cost(i, j) = c;
      continue;
    }
    const Matrix proba = p.estimators[j]->predict_proba(x, ctx);
    DB_CHECK(proba.rows() == n && proba.cols() == 2,
             "expert policy: the estimator of choice '{}' returned {}x{} probabilities for {} "
             "rows (expected {}x2)",
             excerpt(p.names[j]), proba.rows(), proba.cols(), n, n);
    for (std::size_t i = 0; i < n; ++i)
      cost(i, j) = static_cast<float>(a * static_cast<double>(proba(i, kWrongClass)) + b);
  }
  return cost;
}

Matrix surrogate_summary(MatrixView proba) {
  const std::size_t k = proba.cols();
  Matrix out(proba.rows(), kSurrogateSummaryColumns);
  for (std::size_t r = 0; r < proba.rows(); ++r) {
    const float* p = proba.row(r);
    std::size_t best = 0;
    float second = 0;
    double h = 0;
    for (std::size_t c = 0; c < k; ++c) {
      if (p[c] > p[best]) best = c;
      if (p[c] > 0) h -= p[c] * std::log(static_cast<double>(p[c]));
    }
    for (std::size_t c = 0; c < k; ++c)
      if (c != best) second = std::max(second, p[c]);
    out(r, 0) = k > 0 ? p[best] : 0.0f;
    out(r, 1) = k > 0 ? p[best] - second : 0.0f;
    out(r, 2) = k > 1 ? static_cast<float>(h / std::log(static_cast<double>(k))) : 0.0f;
  }
  return out;
}

Matrix with_surrogate_summary(MatrixView x, MatrixView proba) {
  DB_CHECK(x.rows() == proba.rows(), "expert policy: {} feature rows, {} probability rows",
           x.rows(), proba.rows());
  const Matrix s = surrogate_summary(proba);
  const std::size_t d = x.cols(), e = s.cols();
  Matrix out(x.rows(), d + e);
  for (std::size_t i = 0; i < x.rows(); ++i) {
    std::copy_n(x.row(i), d, out.row(i));
    std::copy_n(s.row(i), e, out.row(i) + d);
  }
  return out;
}

ExpertRouting route_experts(const ExpertPolicy& p, MatrixView x_in, const Context& ctx) {
  validate_expert_policy(p);
  const std::size_t n = x_in.rows();
  ExpertRouting r;
  // With surrogate features the surrogate sees every row first; its answers are kept.
  std::vector<LabelId> all_answers;
  Matrix augmented;
  MatrixView x = x_in;
  if (p.surrogate_features) {
    const Matrix proba = p.surrogate->predict_proba(x_in, ctx);
    all_answers = argmax_rows(proba);
    augmented = with_surrogate_summary(x_in, proba);
    x = augmented.view();
  }
  if (p.method == kBayesPlugin) {
    r.choice = route_by_cost(expected_costs(p, x, ctx), p.choices);
  } else {
    const Matrix proba = p.rejector->predict_proba(x, ctx);
    DB_CHECK(proba.rows() == n && proba.cols() == p.size(),
             "expert policy: the rejector returned {}x{} probabilities for {} rows (expected "
             "{}x{})",
             proba.rows(), proba.cols(), n, n, p.size());
    const std::vector<LabelId> best = argmax_rows(proba);
    r.choice.assign(best.begin(), best.end());
  }
  r.answer.assign(n, kNoLabel);
  if (!p.has_surrogate) return r;
  if (p.surrogate_features) {
    for (std::size_t i = 0; i < n; ++i)
      if (r.choice[i] == 0) r.answer[i] = all_answers[i];
    return r;
  }
  // The surrogate answers only the rows routed to it: one batch of those rows.
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < n; ++i)
    if (r.choice[i] == 0) rows.push_back(i);
  if (rows.empty()) return r;
  std::vector<LabelId> answers;
  if (2 * rows.size() > n) {  // most rows: predicting them all beats copying them out
    answers = p.surrogate->predict(x, ctx);
    DB_CHECK(answers.size() == n,
             "expert policy: the surrogate answered {} rows of {} (expected one answer per row)",
             answers.size(), n);
    for (std::size_t i : rows) r.answer[i] = answers[i];
    return r;
  }
  const Matrix part = gather_rows(x, rows);
  answers = p.surrogate->predict(part.view(), ctx);
  DB_CHECK(answers.size() == rows.size(),
           "expert policy: the surrogate answered {} rows of {} (expected one answer per row)",
           answers.size(), rows.size());
  for (std::size_t k = 0; k < rows.size(); ++k) r.answer[rows[k]] = answers[k];
  return r;
}

}  // namespace deferbench
