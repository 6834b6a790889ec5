#include "core/metrics/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/util/error.h"

namespace deferbench {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_labels(const char* name, const std::vector<LabelId>& v) {
  for (std::size_t i = 0; i < v.size(); ++i)
    DB_CHECK(v[i] >= kNoLabel, "{}[{}]: label id {} is invalid; expected an id >= 0 or {}", name, i,
             v[i], kNoLabel);
}

}  // namespace

double accuracy(const std::vector<LabelId>& truth, const std::vector<LabelId>& pred) {
  DB_CHECK(truth.size() == pred.size(), "accuracy: truth has {} rows, pred has {}", truth.size(),
           pred.size());
  std::size_t kept = 0, right = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    if (truth[i] == kNoLabel) continue;
    ++kept;
    if (pred[i] == truth[i]) ++right;
  }
  return kept == 0 ? kNaN : static_cast<double>(right) / static_cast<double>(kept);
}

double macro_f1(const std::vector<LabelId>& truth, const std::vector<LabelId>& pred) {
  DB_CHECK(truth.size() == pred.size(), "macro_f1: truth has {} rows, pred has {}", truth.size(),
           pred.size());
  check_labels("macro_f1: truth", truth);
  check_labels("macro_f1: pred", pred);
  // Counts indexed by id + 1, so that a kNoLabel prediction is a label of its own (as
  // scikit-learn would treat -1 in y_pred): it can only add a class with F1 0.
  LabelId max_id = kNoLabel;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    if (truth[i] == kNoLabel) continue;
    max_id = std::max({max_id, truth[i], pred[i]});
  }
  const std::size_t slots = static_cast<std::size_t>(max_id) + 2;
  std::vector<std::size_t> tp(slots, 0), n_true(slots, 0), n_pred(slots, 0);
  std::size_t kept = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    if (truth[i] == kNoLabel) continue;
    ++kept;
    const std::size_t t = static_cast<std::size_t>(truth[i] + 1);
    const std::size_t p = static_cast<std::size_t>(pred[i] + 1);
    ++n_true[t];
    ++n_pred[p];
    if (t == p) ++tp[t];
  }
  if (kept == 0) return kNaN;
  // F1 = 2·tp / (2·tp + fp + fn) = 2·tp / (n_true + n_pred); 0 when tp = 0 (zero_division=0).
  double sum = 0;
  std::size_t labels = 0;
  for (std::size_t c = 0; c < slots; ++c) {
    const std::size_t denom = n_true[c] + n_pred[c];
    if (denom == 0) continue;  // in neither truth nor pred: not a class here
    ++labels;
    sum += 2.0 * static_cast<double>(tp[c]) / static_cast<double>(denom);
  }
  return sum / static_cast<double>(labels);
}

RoutingMetrics routing_metrics(const std::vector<LabelId>& surrogate,
                               const std::vector<LabelId>& teacher,
                               const std::vector<LabelId>& gold,
                               const std::vector<std::uint8_t>& accepted) {
  const std::size_t n = teacher.size();
  DB_CHECK(surrogate.size() == n, "routing_metrics: surrogate has {} rows, teacher has {}",
           surrogate.size(), n);
  DB_CHECK(accepted.size() == n, "routing_metrics: accepted has {} rows, teacher has {}",
           accepted.size(), n);
  DB_CHECK(gold.empty() || gold.size() == n,
           "routing_metrics: gold has {} rows, teacher has {} (pass no gold as an empty vector)",
           gold.size(), n);

  RoutingMetrics m;
  m.rows = n;
  std::size_t agree = 0;
  std::vector<LabelId> answers(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (accepted[i] != 0) {
      ++m.handled;
      if (surrogate[i] == teacher[i]) ++agree;
      answers[i] = surrogate[i];
    } else {
      answers[i] = teacher[i];
    }
  }
  m.teacher_calls = n - m.handled;
  m.coverage = n == 0 ? kNaN : static_cast<double>(m.handled) / static_cast<double>(n);
  m.teacher_calls_saved = m.coverage;
  m.teacher_agreement =
      m.handled == 0 ? kNaN : static_cast<double>(agree) / static_cast<double>(m.handled);
  if (gold.empty()) {
    m.e2e_accuracy = m.e2e_macro_f1 = m.teacher_accuracy = kNaN;
  } else {
    m.e2e_accuracy = accuracy(gold, answers);
    m.e2e_macro_f1 = macro_f1(gold, answers);
    m.teacher_accuracy = accuracy(gold, teacher);
  }
  return m;
}

RiskCoverage risk_coverage(const std::vector<float>& scores,
                           const std::vector<std::uint8_t>& agrees) {
  DB_CHECK(scores.size() == agrees.size(), "risk_coverage: {} scores but {} agreement flags",
           scores.size(), agrees.size());
  RiskCoverage rc;
  const std::size_t n = scores.size();
  if (n == 0) return rc;
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) {
    DB_CHECK(!std::isnan(scores[i]), "risk_coverage: row {} has a NaN score", i);
    order[i] = i;
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  double sum = 0;
  std::size_t errors = 0;
  for (std::size_t begin = 0; begin < n;) {
    std::size_t end = begin;
    while (end < n && scores[order[end]] == scores[order[begin]]) errors += !agrees[order[end++]];
    // Every k in (begin, end] sees the block's end: errors / end.
    sum +=
        static_cast<double>(end - begin) * static_cast<double>(errors) / static_cast<double>(end);
    begin = end;
  }
  rc.aurc = sum / static_cast<double>(n);
  // Oracle: the n − e agreeing rows first (risk 0), then the e disagreeing ones.
  double best = 0;
  for (std::size_t k = n - errors + 1; k <= n; ++k)
    best += static_cast<double>(k - (n - errors)) / static_cast<double>(k);
  rc.optimal = best / static_cast<double>(n);
  rc.e_aurc = rc.aurc - rc.optimal;
  return rc;
}

}  // namespace deferbench
