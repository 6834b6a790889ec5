// Plots of a sweep: per dataset a gnuplot data file (one block per panel) and a script; PNG and
// SVG when gnuplot runs. Numbers reach gnuplot through the data files; the only text from the
// sweep in a script (panel and key titles) goes through gnuplot_string (escape.h).
#include "experiments/report/plots.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <system_error>
#include <tuple>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/util/atomic_file.h"
#include "experiments/report/escape.h"
#include "experiments/subprocess.h"

namespace deferbench::report {
namespace {

namespace fs = std::filesystem;

std::string dat_number(double x) {
  return std::isnan(x) ? "NaN" : fmt::format("{}", x);
}
std::string dat_triple(double a, double b, double c) {
  return " " + dat_number(a) + " " + dat_number(b) + " " + dat_number(c);
}

std::string slug(const std::string& s) {
  std::string out;
  for (char c : s)
    out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ? c : '_';
  return out;
}

// One plot of one dataset: NAME.dat (one block per panel, gnuplot's `index`) and NAME.gp, which
// draws the panels side by side into NAME.png and NAME.svg.
// A plot clause with placeholders (no text from the sweep) and its key title (any text).
struct Series {
  std::string clause, title;
};

struct Plot {
  std::string name, data, setup;
  std::vector<std::string> panels;

  Plot(std::string prefix, const std::string& dataset, std::string header, std::string setup_)
      : name(std::move(prefix) + slug(dataset)),
        data(std::move(header)),
        setup(std::move(setup_)) {}

  // `series`: plot clauses in which {dat} is the data file and {i} the panel's block index
  // (the clauses are fixed text and numbers), each followed by its title (gnuplot_string).
  void add_panel(const std::string& title, const std::string& rows,
                 const std::vector<Series>& series) {
    const std::size_t i = panels.size();
    data += (i ? "\n\n# " : "# ") + dat_comment(title) + "\n" + rows;
    std::vector<std::string> clauses;
    for (const Series& s : series)
      clauses.push_back(fmt::format(fmt::runtime(s.clause),
                                    fmt::arg("dat", gnuplot_string(name + ".dat")),
                                    fmt::arg("i", i)) +
                        " title " + gnuplot_string(s.title));
    panels.push_back("  set title " + gnuplot_string(title) + "\n  plot " +
                     fmt::format("{}", fmt::join(clauses, ", \\\n       ")) + "\n");
  }

  std::string script() const {
    const std::string size =
        fmt::format("{},{}", std::max<std::size_t>(640, 520 * panels.size()), 440);
    return fmt::format(
               "# {0}.gp: written by deferbench report; `gnuplot {0}.gp` in this folder reads "
               "{0}.dat\n# and writes {0}.png and {0}.svg.\n"
               "do for [out = 1:2] {{\n"
               "  if (out == 1) {{\n"
               "    if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {{\n"
               "      set terminal pngcairo size {1}\n"
               "    }} else {{\n"
               "      set terminal png size {1}\n"
               "    }}\n"
               "    set output '{0}.png'\n"
               "  }} else {{\n"
               "    set terminal svg size {1}\n"
               "    set output '{0}.svg'\n"
               "  }}\n"
               "  set termoption noenhanced\n"
               "  set key below\n"
               "  set offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05\n"
               "  set grid\n",
               name, size) +
           setup + fmt::format("  set multiplot layout 1,{}\n", panels.size()) +
           fmt::format("{}", fmt::join(panels, "")) + "  unset multiplot\n  set output\n}\n";
  }
};

// Panels of one dataset: a calibration mode (or none) and a setting of the other swept keys.
using Panel = std::pair<std::string, std::vector<std::string>>;

std::string panel_title(const Sweep& s, const std::string& dataset, const Panel& panel) {
  std::vector<std::string> parts;
  if (!panel.first.empty()) parts.push_back("mode=" + panel.first);
  for (std::size_t i = 0; i < panel.second.size(); ++i)
    parts.push_back(s.setting_keys[i] + "=" + panel.second[i]);
  return dataset + ": " + (parts.empty() ? "all runs" : fmt::format("{}", fmt::join(parts, " ")));
}

// Per dataset and panel, the targets of its runs.
std::map<std::string, std::map<Panel, std::set<double>>> panels_of(const Sweep& s, bool by_mode) {
  std::map<std::string, std::map<Panel, std::set<double>>> out;
  for (const Run& r : s.runs)
    for (const TargetResult& t : r.targets)
      out[r.dataset][{by_mode ? r.mode : "", r.setting}].insert(t.target);
  return out;
}

std::vector<Plot> coverage_plots(const Sweep& s, const std::map<GroupKey, TargetStats>& stats) {
  std::vector<Plot> plots;
  for (const auto& [dataset, panels] : panels_of(s, true)) {
    std::string header = "# target";
    for (const std::string& f : s.families)
      header += fmt::format(" {0}_mean {0}_ci_low {0}_ci_high", dat_comment(f));
    header += fmt::format(
        " selected_mean selected_ci_low selected_ci_high\n# {}: mean test coverage over seeds "
        "with 95% CI; a family: its own val-feasible candidate of highest val coverage (0: none, "
        "teacher only); selected: the deployed policy\n",
        dat_comment(dataset));
    Plot& p = plots.emplace_back(
        "coverage_vs_target_", dataset, header,
        "  set xlabel 'target'\n  set ylabel 'test coverage'\n  set yrange [0:1]\n"
        "  set style fill transparent solid 0.15 noborder\n");
    for (const auto& [panel, targets] : panels) {
      const auto& [mode, setting] = panel;
      std::string rows;
      for (double target : targets) {
        rows += dat_number(target);
        for (const std::string& f : s.families) {
          std::vector<double> values;
          for (const Run& r : s.runs)
            if (r.dataset == dataset && r.mode == mode && r.setting == setting)
              values.push_back(family_coverage(r, f, target));
          const MeanCI m = mean_ci(defined(values));
          rows += dat_triple(m.mean, m.ci_low, m.ci_high);
        }
        const MeanCI& sel = stats.at({dataset, mode, setting, target}).coverage;
        rows += dat_triple(sel.mean, sel.ci_low, sel.ci_high) + "\n";
      }
      std::vector<Series> series;
      for (std::size_t j = 0; j <= s.families.size(); ++j)
        series.push_back(
            {fmt::format("{{dat}} index {{i}} using 1:{1}:{2} with filledcurves lc {3} notitle, "
                         "{{dat}} index {{i}} using 1:{0} with linespoints lc {3} pt 7 lw 2",
                         2 + 3 * j, 3 + 3 * j, 4 + 3 * j, j + 1),
             j < s.families.size() ? s.families[j] : "selected"});
      p.add_panel(panel_title(s, dataset, panel), rows, series);
    }
  }
  return plots;
}

std::vector<Plot> pareto_plots(const Sweep& s, double target) {
  std::map<std::string, std::map<Panel, std::string>> datasets;  // → the panel's rows
  for (std::size_t n = 0; n < s.runs.size(); ++n) {
    const Run& r = s.runs[n];
    for (const Candidate& c : r.candidates) {
      if (c.target != target || std::isnan(c.test_coverage) || std::isnan(c.test_agreement))
        continue;
      datasets[r.dataset][{r.mode, r.setting}] +=
          fmt::format("{} {} {} {} {}\n", dat_number(c.test_coverage), dat_number(c.test_agreement),
                      c.on_frontier ? 1 : 0, n, dat_string(c.family + "/" + c.model));
    }
  }
  std::vector<Plot> plots;
  for (const auto& [dataset, panels] : datasets) {
    Plot& p = plots.emplace_back(
        "pareto_", dataset,
        fmt::format("# test_coverage test_agreement on_frontier run candidate\n# {}: every "
                    "candidate at target {} (calibrated on cal, evaluated on test), pooled over "
                    "runs; on_frontier: the val Pareto frontier\n",
                    dat_comment(dataset), target),
        "  set xlabel 'test coverage'\n  set ylabel 'test agreement'\n");
    for (const auto& [panel, rows] : panels)
      p.add_panel(panel_title(s, dataset, panel), rows,
                  {{"{dat} index {i} using 1:($3 == 0 ? $2 : 1/0) with points pt 6 lc rgb "
                    "'gray50'",
                    "candidates"},
                   {"{dat} index {i} using 1:($3 == 1 ? $2 : 1/0) with points pt 7 lc rgb 'red'",
                    "frontier"},
                   {dat_number(target) + " with lines dt 2 lc rgb 'black'",
                    "target " + dat_number(target)}});
  }
  return plots;
}

std::vector<Plot> violation_plots(const Sweep& s, const std::map<GroupKey, TargetStats>& stats) {
  std::set<std::string> mode_set;
  for (const Run& r : s.runs) mode_set.insert(r.mode);
  const std::vector<std::string> modes(mode_set.begin(), mode_set.end());
  // The modes' points side by side around each target: 10% of the closest targets' gap apart.
  double gap = 0.05;
  for (std::size_t i = 1; i < s.targets.size(); ++i)
    gap = std::min(gap, s.targets[i] - s.targets[i - 1]);
  std::vector<Plot> plots;
  for (const auto& [dataset, panels] : panels_of(s, false)) {
    std::string header = "# target";
    for (const std::string& m : modes)
      header += fmt::format(" {0}_rate {0}_ci_low {0}_ci_high", dat_comment(m));
    header += fmt::format(
        "\n# {}: share of runs (that handled something) with test agreement < target, with 95% "
        "Clopper–Pearson intervals\n",
        dat_comment(dataset));
    Plot& p = plots.emplace_back("violations_", dataset, header,
                                 "  set xlabel 'target'\n  set ylabel 'violation rate'\n"
                                 "  set yrange [0:1]\n");
    for (const auto& [panel, targets] : panels) {
      std::string rows;
      double delta = kNaN;
      for (double target : targets) {
        rows += dat_number(target);
        for (const std::string& m : modes) {
          const auto it = stats.find({dataset, m, panel.second, target});
          const auto [rate, lo, hi] =
              it == stats.end() ? std::tuple<double, double, double>{kNaN, kNaN, kNaN}
                                : violation_rate(it->second.violations, it->second.defined);
          if (it != stats.end() && std::isnan(delta)) delta = it->second.delta;
          rows += dat_triple(rate, lo, hi);
        }
        rows += "\n";
      }
      std::vector<Series> series;
      for (std::size_t j = 0; j < modes.size(); ++j)
        series.push_back(
            {fmt::format(
                 "{{dat}} index {{i}} using ($1 + {}):{}:{}:{} with yerrorlines lc {} pt 7",
                 dat_number(0.1 * gap * (static_cast<double>(j) - 0.5 * (modes.size() - 1.0))),
                 2 + 3 * j, 3 + 3 * j, 4 + 3 * j, j + 1),
             modes[j]});
      if (!std::isnan(delta))
        series.push_back({dat_number(delta) + " with lines dt 2 lc rgb 'black'",
                          "delta = " + dat_number(delta)});
      p.add_panel(panel_title(s, dataset, panel), rows, series);
    }
  }
  return plots;
}

}  // namespace

void write_plots(const Sweep& s, const std::map<GroupKey, TargetStats>& stats, double zoo_target,
                 const ReportOptions& options, ReportResult& result) {
  const fs::path dir = s.dir / "plots";
  fs::create_directories(dir);
  std::vector<Plot> plots = coverage_plots(s, stats);
  for (std::vector<Plot> more : {pareto_plots(s, zoo_target), violation_plots(s, stats)})
    for (Plot& p : more) plots.push_back(std::move(p));
  for (const Plot& p : plots) {
    const std::vector<std::pair<std::string, std::string>> files = {{".dat", p.data},
                                                                    {".gp", p.script()}};
    for (const auto& [ext, text] : files) {
      write_file_atomic(dir / (p.name + ext), text);
      result.files.push_back(dir / (p.name + ext));
    }
  }
  const fs::path gnuplot = find_executable(options.gnuplot);
  if (gnuplot.empty()) {
    result.warning = fmt::format(
        "{} not found: install Debian's gnuplot-nox (apt-get install gnuplot-nox) and rerun "
        "deferbench report {}",
        options.gnuplot == "gnuplot" ? "gnuplot" : fmt::format("gnuplot ({})", options.gnuplot),
        s.dir.string());
    return;
  }
  const fs::path cwd = fs::absolute(dir);
  std::vector<std::string> failures;
  bool all = true;
  for (const Plot& p : plots) {
    for (const char* ext : {".png", ".svg"}) fs::remove(dir / (p.name + ext));
    const std::string error = run_program(gnuplot, cwd, p.name + ".gp");
    if (!error.empty()) failures.push_back(p.name + ".gp: " + error);
    for (const char* ext : {".png", ".svg"}) {
      const fs::path image = dir / (p.name + ext);
      std::error_code ec;
      if (fs::is_regular_file(image, ec) && fs::file_size(image, ec) > 0)
        result.files.push_back(image);
      else
        all = false;
    }
  }
  result.rendered = all && failures.empty();
  if (!result.rendered)
    result.warning = fmt::format(
        "gnuplot ({}) did not render every plot in {}: {}", gnuplot.string(), dir.string(),
        failures.empty() ? "images missing" : fmt::format("{}", fmt::join(failures, "; ")));
}

}  // namespace deferbench::report
