// `deferbench report DIR`. Reading (sweep_reader) → aggregation per group of runs that differ
// only in their seed (aggregate) → three tables rendered as Markdown, LaTeX and CSV (tables) →
// plot data, gnuplot scripts and, when gnuplot is on PATH, PNG and SVG images (plots).
#include "experiments/report.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/util/atomic_file.h"
#include "experiments/report/aggregate.h"
#include "experiments/report/plots.h"
#include "experiments/report/sweep_page.h"
#include "experiments/report/sweep_reader.h"
#include "experiments/report/tables.h"

namespace deferbench {

namespace fs = std::filesystem;
using report::GroupKey;
using report::Table;
using report::TargetStats;

ReportResult write_report(const std::filesystem::path& sweep_dir, const ReportOptions& options) {
  const report::Sweep s = report::read_sweep(sweep_dir);
  ReportResult result;
  result.runs = s.runs.size();
  result.skipped_runs = s.skipped;
  const std::map<GroupKey, TargetStats> stats = report::target_stats(s);
  const double zoo_target = report::choose_zoo_target(s, options.zoo_target);
  const fs::path dir = sweep_dir / "tables";
  fs::create_directories(dir);
  const std::vector<Table> tables = {report::selection_table(s, stats),
                                     report::zoo_table(s, zoo_target),
                                     report::modes_table(s, stats)};
  for (const Table& t : tables) {
    const std::vector<std::pair<std::string, std::string>> files = {
        {".md", report::markdown(t)}, {".tex", report::latex(t)}, {".csv", report::csv(t)}};
    for (const auto& [ext, text] : files) {
      write_file_atomic(dir / (t.name + ext), text);
      result.files.push_back(dir / (t.name + ext));
    }
  }
  if (options.plots) report::write_plots(s, stats, zoo_target, options, result);
  // The page: the tables, and the plots gnuplot rendered as SVG.
  std::vector<fs::path> svgs;
  for (const fs::path& f : result.files)
    if (f.extension() == ".svg") svgs.push_back(f);
  const std::string warning = !options.plots ? "Plots were not made (--no-plots)."
                              : svgs.empty() ? result.warning
                                             : std::string();
  write_file_atomic(sweep_dir / "report.html", report::sweep_page(s, tables, svgs, warning));
  result.files.push_back(sweep_dir / "report.html");
  return result;
}

}  // namespace deferbench
