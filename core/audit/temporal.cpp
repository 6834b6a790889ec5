#include "core/audit/temporal.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/util/error.h"

namespace deferbench {

double two_proportion_p_value(std::size_t k1, std::size_t n1, std::size_t k2, std::size_t n2) {
  if (n1 == 0 || n2 == 0) return 1.0;
  const double p1 = static_cast<double>(k1) / static_cast<double>(n1);
  const double p2 = static_cast<double>(k2) / static_cast<double>(n2);
  const double pooled = static_cast<double>(k1 + k2) / static_cast<double>(n1 + n2);
  const double se = std::sqrt(pooled * (1 - pooled) *
                              (1.0 / static_cast<double>(n1) + 1.0 / static_cast<double>(n2)));
  if (se == 0) return 1.0;
  return std::erfc(std::fabs(p2 - p1) / se / std::sqrt(2.0));
}

std::vector<bool> benjamini_hochberg(const std::vector<double>& p_values, double fdr) {
  DB_CHECK(fdr > 0.0 && fdr < 1.0, "audit: fdr {} is outside (0, 1)", fdr);
  std::vector<std::size_t> tested;
  for (std::size_t i = 0; i < p_values.size(); ++i)
    if (!std::isnan(p_values[i])) tested.push_back(i);
  std::stable_sort(tested.begin(), tested.end(),
                   [&](std::size_t a, std::size_t b) { return p_values[a] < p_values[b]; });
  const auto m = static_cast<double>(tested.size());
  std::size_t cut = 0;
  for (std::size_t i = 1; i <= tested.size(); ++i)
    if (p_values[tested[i - 1]] <= static_cast<double>(i) * fdr / m) cut = i;
  std::vector<bool> out(p_values.size(), false);
  for (std::size_t i = 0; i < cut; ++i) out[tested[i]] = true;
  return out;
}

std::vector<Window> temporal_windows(const AuditRows& r, const std::vector<double>& times,
                                     std::size_t windows, double fdr) {
  r.check();
  DB_CHECK(times.empty() || times.size() == r.size(), "audit: {} times for {} rows", times.size(),
           r.size());
  DB_CHECK(windows >= 2, "audit: {} windows; expected at least 2", windows);
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < r.size(); ++i)
    if (times.empty() || !std::isnan(times[i])) order.push_back(i);
  if (!times.empty())
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return times[a] < times[b]; });
  const std::size_t n = order.size(), w = std::min(windows, n);
  std::vector<Window> out;
  std::size_t at = 0;
  for (std::size_t k = 0; k < w; ++k) {
    Window win;
    win.first_row_rank = at;
    win.rows = n / w + (k < n % w ? 1 : 0);
    std::size_t handled = 0, agreed = 0;
    for (std::size_t j = at; j < at + win.rows; ++j) {
      const std::size_t i = order[j];
      if (r.handled[i]) {
        ++handled;
        agreed += r.answer[i] == r.teacher[i];
      }
    }
    if (!times.empty() && win.rows > 0) {
      win.time_begin = times[order[at]];
      win.time_end = times[order[at + win.rows - 1]];
    }
    win.coverage = proportion(handled, win.rows);
    win.agreement = proportion(agreed, handled);
    at += win.rows;
    out.push_back(win);
  }
  std::vector<double> p;  // coverage and agreement p-values of windows 1.., interleaved
  for (std::size_t k = 1; k < out.size(); ++k) {
    Window& cur = out[k];
    const Window& prev = out[k - 1];
    cur.coverage_change = cur.coverage.value - prev.coverage.value;
    cur.agreement_change = cur.agreement.value - prev.agreement.value;
    cur.coverage_p =
        two_proportion_p_value(prev.coverage.k, prev.coverage.n, cur.coverage.k, cur.coverage.n);
    if (prev.agreement.n > 0 && cur.agreement.n > 0)
      cur.agreement_p = two_proportion_p_value(prev.agreement.k, prev.agreement.n, cur.agreement.k,
                                               cur.agreement.n);
    p.push_back(cur.coverage_p);
    p.push_back(cur.agreement_p);
  }
  const std::vector<bool> found = benjamini_hochberg(p, fdr);
  for (std::size_t k = 1; k < out.size(); ++k)
    out[k].drift = found[2 * (k - 1)] || found[2 * (k - 1) + 1];
  return out;
}

}  // namespace deferbench
