#include "core/audit/slices.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <utility>

#include "core/audit/temporal.h"
#include "core/metrics/metrics.h"
#include "core/stats/binomial.h"
#include "core/util/error.h"

namespace deferbench {

void AuditRows::check() const {
  const std::size_t n = teacher.size();
  DB_CHECK(prediction.size() == n && answer.size() == n && handled.size() == n &&
               (gold.empty() || gold.size() == n),
           "audit: rows of unequal length (teacher {}, prediction {}, answer {}, handled {}, "
           "gold {})",
           n, prediction.size(), answer.size(), handled.size(), gold.size());
}

Proportion proportion(std::size_t k, std::size_t n) {
  Proportion p;
  p.k = k;
  p.n = n;
  if (n == 0) return p;
  p.value = static_cast<double>(k) / static_cast<double>(n);
  // Two-sided 95%: each one-sided bound at 2.5%.
  p.low = clopper_pearson_lower(k, n, 0.025);
  p.high = clopper_pearson_upper(k, n, 0.025);
  return p;
}

Estimate bootstrap_macro_f1(const std::vector<LabelId>& truth, const std::vector<LabelId>& pred,
                            std::size_t resamples, std::uint64_t seed) {
  DB_CHECK(truth.size() == pred.size(), "audit: {} gold labels for {} answers", truth.size(),
           pred.size());
  // The rows with gold, their labels renumbered densely (a kNoLabel answer is a class of its own).
  std::map<LabelId, std::size_t> dense;
  std::vector<std::pair<std::size_t, std::size_t>> rows;
  std::vector<LabelId> t, p;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    if (truth[i] == kNoLabel) continue;
    t.push_back(truth[i]);
    p.push_back(pred[i]);
    const std::size_t a = dense.emplace(truth[i], dense.size()).first->second;
    const std::size_t b = dense.emplace(pred[i], dense.size()).first->second;
    rows.emplace_back(a, b);
  }
  Estimate e;
  e.n = rows.size();
  if (rows.empty()) return e;
  e.value = macro_f1(t, p);
  const std::size_t classes = dense.size();
  std::vector<std::size_t> tp(classes), n_true(classes), n_pred(classes);
  std::vector<double> values;
  values.reserve(resamples);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::size_t> pick(0, rows.size() - 1);
  for (std::size_t b = 0; b < resamples; ++b) {
    std::fill(tp.begin(), tp.end(), 0);
    std::fill(n_true.begin(), n_true.end(), 0);
    std::fill(n_pred.begin(), n_pred.end(), 0);
    for (std::size_t k = 0; k < rows.size(); ++k) {
      const auto [a, c] = rows[pick(rng)];
      ++n_true[a];
      ++n_pred[c];
      tp[a] += a == c;
    }
    double sum = 0;
    std::size_t counted = 0;
    for (std::size_t c = 0; c < classes; ++c)
      if (n_true[c] + n_pred[c] > 0) {
        sum += 2.0 * static_cast<double>(tp[c]) / static_cast<double>(n_true[c] + n_pred[c]);
        ++counted;
      }
    values.push_back(sum / static_cast<double>(counted));
  }
  std::sort(values.begin(), values.end());
  // Percentiles by the nearest rank.
  auto at = [&](double q) {
    const auto k = static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size())));
    return values[std::min(values.size() - 1, k == 0 ? 0 : k - 1)];
  };
  e.low = at(0.025);
  e.high = at(0.975);
  return e;
}

SliceStats slice_stats(const AuditRows& r, const std::vector<std::size_t>& rows,
                       const std::string& kind, const std::string& name, double target) {
  r.check();
  DB_CHECK(target > 0.0 && target <= 1.0, "audit: target {} is outside (0, 1]", target);
  SliceStats s;
  s.kind = kind;
  s.name = name;
  s.rows = rows.size();
  std::size_t handled = 0, agreed = 0, with_gold = 0, correct = 0;
  std::vector<LabelId> gold, given;  // the end-to-end answers of the rows with gold
  for (std::size_t i : rows) {
    DB_CHECK(i < r.size(), "audit: slice '{}' names row {} of {}", name, i, r.size());
    if (r.handled[i]) {
      ++handled;
      agreed += r.answer[i] == r.teacher[i];
    }
    if (!r.gold.empty() && r.gold[i] != kNoLabel) {
      ++with_gold;
      const LabelId a = r.handled[i] ? r.answer[i] : r.teacher[i];
      correct += a == r.gold[i];
      gold.push_back(r.gold[i]);
      given.push_back(a);
    }
  }
  s.e2e_macro_f1 = bootstrap_macro_f1(gold, given, kSliceBootstrap, 0x5eed + rows.size());
  s.coverage = proportion(handled, rows.size());
  s.agreement = proportion(agreed, handled);
  s.e2e_accuracy = proportion(correct, with_gold);
  if (handled > 0) s.p_value = binomial_cdf(agreed, handled, target);
  return s;
}

std::vector<SliceStats> slices_by(const AuditRows& r, const std::vector<std::string>& keys,
                                  const std::string& kind, double target) {
  DB_CHECK(keys.size() == r.size(), "audit: {} slice keys for {} rows", keys.size(), r.size());
  std::map<std::string, std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < keys.size(); ++i) groups[keys[i]].push_back(i);
  std::vector<SliceStats> out;
  for (const auto& [key, rows] : groups) out.push_back(slice_stats(r, rows, kind, key, target));
  return out;
}

std::vector<std::size_t> length_tertiles(const std::vector<std::size_t>& lengths) {
  const std::size_t n = lengths.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return lengths[a] < lengths[b]; });
  std::vector<std::size_t> tertile(n);
  for (std::size_t rank = 0; rank < n; ++rank) tertile[order[rank]] = rank * 3 / n;
  return tertile;
}

std::size_t flag_slices(std::vector<SliceStats>& slices, double alpha) {
  std::vector<double> p;
  for (const SliceStats& s : slices) p.push_back(s.p_value);
  const std::vector<bool> found = benjamini_hochberg(p, alpha);
  std::size_t flagged = 0;
  for (std::size_t i = 0; i < slices.size(); ++i) {
    slices[i].flagged = found[i];
    flagged += found[i];
  }
  return flagged;
}

AgreementGap agreement_gap(const AuditRows& r, std::size_t max_pairs, std::size_t examples) {
  r.check();
  AgreementGap g;
  std::map<std::pair<LabelId, LabelId>, GapPair> pairs;
  for (std::size_t i = 0; i < r.size(); ++i) {
    if (!r.handled[i]) continue;
    ++g.handled;
    if (r.answer[i] == r.teacher[i]) continue;
    ++g.disagreements;
    GapPair& p = pairs[{r.answer[i], r.teacher[i]}];
    p.answer = r.answer[i];
    p.teacher = r.teacher[i];
    ++p.count;
    if (p.examples.size() < examples) p.examples.push_back(i);
    if (r.gold.empty() || r.gold[i] == kNoLabel)
      ++g.without_gold;
    else if (r.answer[i] == r.gold[i])
      ++g.surrogate_right;
    else if (r.teacher[i] == r.gold[i])
      ++g.teacher_right;
    else
      ++g.both_wrong;
  }
  for (auto& [key, p] : pairs) g.pairs.push_back(std::move(p));
  std::stable_sort(g.pairs.begin(), g.pairs.end(),
                   [](const GapPair& a, const GapPair& b) { return a.count > b.count; });
  if (g.pairs.size() > max_pairs) g.pairs.resize(max_pairs);
  return g;
}

}  // namespace deferbench
