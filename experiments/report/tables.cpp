#include "experiments/report/tables.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/data/csv_reader.h"
#include "experiments/report/escape.h"

namespace deferbench::report {
namespace {

std::string fixed3(double x) {
  return std::isnan(x) ? "–" : fmt::format("{:.3f}", x);
}
std::string csv_number(double x) {
  return format_csv_number(x);
}

Column text_column(const std::string& title, const std::string& csv) {
  return {title, {csv}, false};
}
Column ci_column(const std::string& title, const std::string& p) {
  return {title, {p + "_n", p + "_mean", p + "_sd", p + "_ci_low", p + "_ci_high"}};
}
Cell text_cell(const std::string& s) {
  return {s, "", {s}};
}
Cell count_cell(std::size_t k) {
  return {std::to_string(k), "", {std::to_string(k)}};
}
Cell number_cell(double x) {
  return {fixed3(x), "", {csv_number(x)}};
}
Cell ci_cell(const MeanCI& m) {
  return {fixed3(m.mean),
          std::isnan(m.ci_high) ? "" : fixed3(m.ci_high - m.mean),
          {std::to_string(m.n), csv_number(m.mean), csv_number(m.sd), csv_number(m.ci_low),
           csv_number(m.ci_high)}};
}

// The leading columns naming a group: dataset, [mode], the sweep's other keys, [target].
std::vector<Column> key_columns(const Sweep& s, bool mode, bool target) {
  std::vector<Column> cols = {text_column("dataset", "dataset")};
  if (mode) cols.push_back(text_column("mode", "mode"));
  for (const std::string& k : s.setting_keys) cols.push_back(text_column(k, k));
  if (target) cols.push_back({"target", {"target"}});
  return cols;
}
std::vector<Cell> key_cells(const std::string& dataset, const std::string* mode,
                            const std::vector<std::string>& setting, const double* target) {
  std::vector<Cell> cells = {text_cell(dataset)};
  if (mode) cells.push_back(text_cell(*mode));
  for (const std::string& v : setting) cells.push_back(text_cell(v));
  if (target) cells.push_back({fmt::format("{}", *target), "", {csv_number(*target)}});
  return cells;
}

}  // namespace

std::string markdown(const Table& t) {
  auto row = [](const std::vector<std::string>& cells) {
    return "| " + fmt::format("{}", fmt::join(cells, " | ")) + " |\n";
  };
  std::vector<std::string> head, rule;
  for (const Column& c : t.columns) {
    head.push_back(markdown_cell(c.title));
    rule.push_back(c.numeric ? "---:" : "---");
  }
  std::string out = "## " + t.title + "\n\n" + row(head) + row(rule);
  for (const std::vector<Cell>& r : t.rows) {
    std::vector<std::string> cells;
    for (const Cell& c : r) {
      cells.push_back(markdown_cell(c.text + (c.pm.empty() ? "" : " ± " + c.pm)));
    }
    out += row(cells);
  }
  return out + (t.note.empty() ? "" : "\n" + t.note + "\n");
}

std::string latex(const Table& t) {
  std::string align, out;
  std::vector<std::string> head;
  for (const Column& c : t.columns) {
    align += c.numeric ? 'r' : 'l';
    head.push_back(latex_text(c.title));
  }
  out = "% " + t.name + ": written by deferbench report (needs \\usepackage{booktabs})\n" +
        "\\begin{table}[htbp]\n\\centering\n\\caption{" + latex_text(t.title) +
        "}\n\\label{tab:" + t.name + "}\n\\begin{tabular}{" + align + "}\n\\toprule\n" +
        fmt::format("{}", fmt::join(head, " & ")) + " \\\\\n\\midrule\n";
  for (const std::vector<Cell>& r : t.rows) {
    std::vector<std::string> cells;
    for (const Cell& c : r)
      cells.push_back(latex_text(c.text) + (c.pm.empty() ? "" : " $\\pm$ " + c.pm));
    out += fmt::format("{}", fmt::join(cells, " & ")) + " \\\\\n";
  }
  return out + "\\bottomrule\n\\end{tabular}\n\\end{table}\n";
}

std::string csv(const Table& t) {
  std::vector<std::string> head;
  for (const Column& c : t.columns)
    for (const std::string& name : c.csv) head.push_back(csv_field(name));
  std::string out = fmt::format("{}", fmt::join(head, ",")) + "\n";
  for (const std::vector<Cell>& r : t.rows) {
    std::vector<std::string> values;
    for (const Cell& c : r)
      for (const std::string& v : c.csv) values.push_back(csv_field(v));
    out += fmt::format("{}", fmt::join(values, ",")) + "\n";
  }
  return out;
}

Table selection_table(const Sweep& s, const std::map<GroupKey, TargetStats>& stats) {
  Table t;
  t.name = "table1_selection";
  t.title =
      "Deployed policy per dataset, calibration mode and target (test; mean ± 95% CI over seeds)";
  t.note =
      "selected: the most frequent deployed family/model over seeds (teacher only: nothing "
      "selected, or its calibration on cal failed). agreement: over the runs that handled "
      "something; none handled: runs that sent everything to the teacher. violations: runs with "
      "test agreement < target / runs. oracle: the largest test coverage one hindsight threshold "
      "on the selected candidate's first-stage score reaches at the target; efficiency: "
      "coverage / oracle per run.";
  t.columns = key_columns(s, true, true);
  t.columns.insert(t.columns.end(), {{"runs", {"runs"}},
                                     {"selected", {"selected", "selected_runs"}, false},
                                     ci_column("coverage", "coverage"),
                                     ci_column("agreement", "agreement"),
                                     {"none handled", {"none_handled"}},
                                     ci_column("macro-F1", "e2e_macro_f1"),
                                     {"violations", {"violations"}},
                                     ci_column("oracle", "oracle_coverage"),
                                     ci_column("efficiency", "efficiency")});
  for (const auto& [key, st] : stats) {
    const auto& [dataset, mode, setting, target] = key;
    std::vector<Cell> row = key_cells(dataset, &mode, setting, &target);
    row.insert(row.end(),
               {count_cell(st.runs),
                {fmt::format("{} ({}/{})", st.selection, st.selection_count, st.runs),
                 "",
                 {st.selection, std::to_string(st.selection_count)}},
                ci_cell(st.coverage),
                ci_cell(st.agreement),
                count_cell(st.runs - st.defined),
                ci_cell(st.macro_f1),
                {fmt::format("{}/{}", st.violations, st.runs), "", {std::to_string(st.violations)}},
                ci_cell(st.oracle),
                ci_cell(st.efficiency)});
    t.rows.push_back(std::move(row));
  }
  return t;
}

Table zoo_table(const Sweep& s, double target) {
  using Key = std::tuple<std::string, std::string, std::vector<std::string>, std::string>;
  struct Values {
    std::size_t runs = 0;
    std::vector<double> l2d_cov, l2d_agr, rsb_cov, rsb_agr, fit, aurc, e_aurc;
  };
  std::map<Key, Values> groups;
  for (const Run& r : s.runs) {
    if (std::none_of(r.targets.begin(), r.targets.end(),
                     [&](const TargetResult& t) { return t.target == target; }))
      continue;
    std::set<std::string> models;
    for (const auto& [model, seconds] : r.fit_seconds) {
      groups[{r.dataset, r.mode, r.setting, model}].fit.push_back(seconds);
      models.insert(model);
    }
    for (const Candidate& c : r.candidates) {
      if (c.target != target || (c.family != "l2d" && c.family != "rsb")) continue;
      Values& v = groups[{r.dataset, r.mode, r.setting, c.model}];
      (c.family == "l2d" ? v.l2d_cov : v.rsb_cov).push_back(c.test_coverage);
      (c.family == "l2d" ? v.l2d_agr : v.rsb_agr).push_back(c.test_agreement);
      if (c.family == "l2d") {
        v.aurc.push_back(c.test_aurc);
        v.e_aurc.push_back(c.test_e_aurc);
      }
      models.insert(c.model);
    }
    for (const std::string& m : models) ++groups[{r.dataset, r.mode, r.setting, m}].runs;
  }
  Table t;
  t.name = "table2_zoo";
  t.title = fmt::format(
      "Surrogate zoo at target {}: L2D and RSB per model (test; mean ± 95% CI over seeds)", target);
  t.note =
      "Each candidate is calibrated on cal with the run's mode and evaluated on test; agreement "
      "over the runs where it handled something. AURC, E-AURC: the area under L2D's "
      "risk–coverage curve on test (risk = disagreement with the teacher, every threshold), and "
      "its excess over the oracle ordering; lower is better. fit s: mean fit seconds.";
  t.columns = key_columns(s, true, false);
  t.columns.insert(t.columns.end(), {text_column("model", "model"),
                                     {"runs", {"runs"}},
                                     ci_column("L2D coverage", "l2d_coverage"),
                                     ci_column("L2D agreement", "l2d_agreement"),
                                     ci_column("RSB coverage", "rsb_coverage"),
                                     ci_column("RSB agreement", "rsb_agreement"),
                                     ci_column("L2D AURC", "l2d_aurc"),
                                     ci_column("L2D E-AURC", "l2d_e_aurc"),
                                     {"fit s", {"fit_seconds_mean"}}});
  for (const auto& [key, v] : groups) {
    const auto& [dataset, mode, setting, model] = key;
    std::vector<Cell> row = key_cells(dataset, &mode, setting, nullptr);
    row.insert(row.end(),
               {text_cell(model), count_cell(v.runs), ci_cell(mean_ci(defined(v.l2d_cov))),
                ci_cell(mean_ci(defined(v.l2d_agr))), ci_cell(mean_ci(defined(v.rsb_cov))),
                ci_cell(mean_ci(defined(v.rsb_agr))), ci_cell(mean_ci(defined(v.aurc))),
                ci_cell(mean_ci(defined(v.e_aurc))), number_cell(mean_ci(defined(v.fit)).mean)});
    t.rows.push_back(std::move(row));
  }
  return t;
}

Table modes_table(const Sweep& s, const std::map<GroupKey, TargetStats>& stats) {
  // Rows by dataset, setting, target, then mode: the modes of one target sit together.
  std::vector<std::pair<GroupKey, const TargetStats*>> order;
  for (const auto& [key, st] : stats) order.emplace_back(key, &st);
  auto sort_key = [](const GroupKey& k) {
    return std::tie(std::get<0>(k), std::get<2>(k), std::get<3>(k), std::get<1>(k));
  };
  std::sort(order.begin(), order.end(),
            [&](const auto& a, const auto& b) { return sort_key(a.first) < sort_key(b.first); });
  Table t;
  t.name = "table3_modes";
  t.title =
      "Guarantee violations per calibration mode (test agreement < target; rate with a 95% "
      "Clopper–Pearson interval) and coverage (mean ± 95% CI over seeds)";
  t.note =
      "handled: runs that handled something (agreement defined); rate = violations / handled. "
      "A guaranteed mode should keep the rate at or below delta.";
  t.columns = key_columns(s, false, true);
  t.columns.insert(t.columns.end(),
                   {text_column("mode", "mode"),
                    {"delta", {"delta"}},
                    {"runs", {"runs"}},
                    {"handled", {"handled_runs"}},
                    {"violations", {"violations"}},
                    {"violation rate [95% CI]",
                     {"violation_rate", "violation_rate_ci_low", "violation_rate_ci_high"}},
                    ci_column("coverage", "coverage")});
  for (const auto& [key, st] : order) {
    const auto& [dataset, mode, setting, target] = key;
    const auto [rate, lo, hi] = violation_rate(st->violations, st->defined);
    std::vector<Cell> row = key_cells(dataset, nullptr, setting, &target);
    row.insert(
        row.end(),
        {text_cell(mode),
         number_cell(st->delta),
         count_cell(st->runs),
         count_cell(st->defined),
         count_cell(st->violations),
         {std::isnan(rate) ? "–" : fmt::format("{} [{}, {}]", fixed3(rate), fixed3(lo), fixed3(hi)),
          "",
          {csv_number(rate), csv_number(lo), csv_number(hi)}},
         ci_cell(st->coverage)});
    t.rows.push_back(std::move(row));
  }
  return t;
}

}  // namespace deferbench::report
