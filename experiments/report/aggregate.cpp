#include "experiments/report/aggregate.h"

#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/stats/binomial.h"
#include "core/util/error.h"

namespace deferbench::report {
namespace {

bool same_target(double a, double b) {
  return std::fabs(a - b) < 1e-9;
}

}  // namespace

std::vector<double> defined(const std::vector<double>& values) {
  std::vector<double> out;
  for (double v : values)
    if (!std::isnan(v)) out.push_back(v);
  return out;
}

std::map<GroupKey, TargetStats> target_stats(const Sweep& s) {
  std::map<GroupKey, std::vector<std::pair<const Run*, const TargetResult*>>> groups;
  for (const Run& r : s.runs)
    for (const TargetResult& t : r.targets)
      groups[{r.dataset, r.mode, r.setting, t.target}].emplace_back(&r, &t);
  std::map<GroupKey, TargetStats> out;
  for (const auto& [key, members] : groups) {
    TargetStats st;
    std::vector<double> coverage, agreement, f1, oracle, efficiency;
    std::map<std::string, std::size_t> selections;
    for (const auto& [run, t] : members) {
      ++st.runs;
      ++selections[t->selection];
      coverage.push_back(t->coverage);
      agreement.push_back(t->agreement);
      f1.push_back(t->macro_f1);
      oracle.push_back(t->oracle_coverage);
      efficiency.push_back(t->efficiency);
      if (!std::isnan(t->agreement)) {
        ++st.defined;
        st.violations += t->agreement < t->target;
      }
    }
    for (const auto& [sel, count] : selections)
      if (count > st.selection_count) {
        st.selection = sel;
        st.selection_count = count;
      }
    st.coverage = mean_ci(defined(coverage));
    st.agreement = mean_ci(defined(agreement));
    st.macro_f1 = mean_ci(defined(f1));
    st.oracle = mean_ci(defined(oracle));
    st.efficiency = mean_ci(defined(efficiency));
    st.delta = members.front().first->delta;
    out[key] = st;
  }
  return out;
}

double family_coverage(const Run& r, const std::string& family, double target) {
  const Candidate* best = nullptr;
  bool any = false;
  for (const Candidate& c : r.candidates) {
    if (c.family != family || c.target != target) continue;
    any = true;
    if (c.val_feasible && (!best || c.val_coverage > best->val_coverage)) best = &c;
  }
  return best ? best->test_coverage : any ? 0.0 : kNaN;
}

// Table 2's target: the requested one, else 0.9 when the sweep has it, else the (lower) median.
double choose_zoo_target(const Sweep& s, double requested) {
  DB_CHECK(!s.targets.empty(), "{}: no run has a target in its metrics.json (\"targets\": [])",
           s.dir.string());
  std::vector<std::string> listed;
  for (double t : s.targets) listed.push_back(fmt::format("{}", t));
  if (requested >= 0) {
    for (double t : s.targets)
      if (same_target(t, requested)) return t;
    DB_THROW("{}: zoo target {} is not among the sweep's targets ({})", s.dir.string(), requested,
             fmt::format("{}", fmt::join(listed, ", ")));
  }
  for (double t : s.targets)
    if (same_target(t, 0.9)) return t;
  return s.targets[(s.targets.size() - 1) / 2];
}

// The violation rate k/n with its two-sided 95% Clopper–Pearson interval (NaN for n = 0).
std::tuple<double, double, double> violation_rate(std::size_t k, std::size_t n) {
  if (n == 0) return {kNaN, kNaN, kNaN};
  return {static_cast<double>(k) / static_cast<double>(n), clopper_pearson_lower(k, n, 0.025),
          clopper_pearson_upper(k, n, 0.025)};
}

}  // namespace deferbench::report
