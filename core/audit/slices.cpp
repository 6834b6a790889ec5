#include "core/audit/slices.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <utility>

#include "core/audit/temporal.h"
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

SliceStats slice_stats(const AuditRows& r, const std::vector<std::size_t>& rows,
                       const std::string& kind, const std::string& name, double target) {
  r.check();
  DB_CHECK(target > 0.0 && target <= 1.0, "audit: target {} is outside (0, 1]", target);
  SliceStats s;
  s.kind = kind;
  s.name = name;
  s.rows = rows.size();
  std::size_t handled = 0, agreed = 0, with_gold = 0, correct = 0;
  for (std::size_t i : rows) {
    DB_CHECK(i < r.size(), "audit: slice '{}' names row {} of {}", name, i, r.size());
    if (r.handled[i]) {
      ++handled;
      agreed += r.answer[i] == r.teacher[i];
    }
    if (!r.gold.empty() && r.gold[i] != kNoLabel) {
      ++with_gold;
      correct += (r.handled[i] ? r.answer[i] : r.teacher[i]) == r.gold[i];
    }
  }
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
