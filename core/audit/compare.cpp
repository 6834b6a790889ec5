#include "core/audit/compare.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/audit/temporal.h"
#include "core/stats/binomial.h"
#include "core/util/error.h"

namespace deferbench {

namespace {

struct Counts {
  std::size_t rows = 0, handled_a = 0, handled_b = 0, agreed_a = 0, agreed_b = 0;
  std::size_t to_handled = 0, to_deferred = 0;
  void add(bool ha, bool hb, bool aa, bool ab) {
    ++rows;
    handled_a += ha;
    handled_b += hb;
    agreed_a += ha && aa;
    agreed_b += hb && ab;
    to_handled += !ha && hb;
    to_deferred += ha && !hb;
  }
};

}  // namespace

double mcnemar_exact_p_value(std::size_t b, std::size_t c) {
  const std::size_t n = b + c;
  if (n == 0) return 1.0;
  return std::min(1.0, 2.0 * binomial_cdf(std::min(b, c), n, 0.5));
}

PolicyComparison compare_policies(const PolicyPair& p, double fdr) {
  const std::size_t n = p.teacher.size();
  DB_CHECK(p.handled_a.size() == n && p.handled_b.size() == n && p.agrees_a.size() == n &&
               p.agrees_b.size() == n,
           "audit --compare: the two policies' decisions cover {} / {} rows of {}",
           p.handled_a.size(), p.handled_b.size(), n);
  Counts all;
  std::map<LabelId, Counts> per_class;
  for (std::size_t i = 0; i < n; ++i) {
    const bool ha = p.handled_a[i] != 0, hb = p.handled_b[i] != 0;
    const bool aa = p.agrees_a[i] != 0, ab = p.agrees_b[i] != 0;
    all.add(ha, hb, aa, ab);
    per_class[p.teacher[i]].add(ha, hb, aa, ab);
  }
  PolicyComparison out;
  out.coverage_a = proportion(all.handled_a, all.rows);
  out.coverage_b = proportion(all.handled_b, all.rows);
  out.agreement_a = proportion(all.agreed_a, all.handled_a);
  out.agreement_b = proportion(all.agreed_b, all.handled_b);
  out.to_handled = all.to_handled;
  out.to_deferred = all.to_deferred;
  std::vector<double> p_values;
  for (const auto& [label, c] : per_class) {
    ClassShift s;
    s.label = label;
    s.rows = c.rows;
    s.coverage_a = proportion(c.handled_a, c.rows);
    s.coverage_b = proportion(c.handled_b, c.rows);
    s.agreement_a = proportion(c.agreed_a, c.handled_a);
    s.agreement_b = proportion(c.agreed_b, c.handled_b);
    s.to_handled = c.to_handled;
    s.to_deferred = c.to_deferred;
    s.coverage_change = s.coverage_b.value - s.coverage_a.value;
    s.p_value = mcnemar_exact_p_value(c.to_handled, c.to_deferred);
    p_values.push_back(s.p_value);
    out.classes.push_back(s);
  }
  const std::vector<bool> flags = benjamini_hochberg(p_values, fdr);
  for (std::size_t i = 0; i < flags.size(); ++i) {
    out.classes[i].flagged = flags[i];
    out.flagged += flags[i];
  }
  std::stable_sort(out.classes.begin(), out.classes.end(),
                   [](const ClassShift& a, const ClassShift& b) {
                     return std::fabs(a.coverage_change) > std::fabs(b.coverage_change);
                   });
  return out;
}

}  // namespace deferbench
