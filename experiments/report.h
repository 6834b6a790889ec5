// `deferbench report DIR`: tables and plots of a sweep folder (see README "Sweeps and reports").
//
// A sweep folder DIR (written by `deferbench run -m ...`) holds
//   DIR/config.yaml                 the composed config of the first run
//   DIR/sweep.yaml                  the sweep's command-line overrides
//   DIR/summary.csv                 one row per run
//   DIR/runs/<n>/config.yaml, overrides.yaml, metrics.json, frontier.csv, log.txt
//                                   (a failed run: error.txt and no metrics.json)
// The report reads every runs/<n>/metrics.json and frontier.csv (runs without metrics.json are
// skipped and counted) and writes DIR/tables/ and DIR/plots/. The parts are in
// experiments/report/ (sweep reader, aggregation, tables, plots, escaping).
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

// Kept for the users of this header: csv_field (core/data/csv_reader.h) and the statistics of
// the tables, mean_ci and student_t_quantile (core/stats/intervals.h).
#include "core/data/csv_reader.h"
#include "core/stats/intervals.h"

namespace deferbench {

struct ReportOptions {
  double zoo_target = -1;  // Table 2's target; < 0: 0.9 if the sweep has it, else the median
  bool plots = true;       // write plots/ (data, .gp scripts; PNG and SVG when gnuplot runs)
  std::string gnuplot = "gnuplot";  // the gnuplot executable (searched on PATH)
};

struct ReportResult {
  std::size_t runs = 0;                      // runs with metrics.json
  std::size_t skipped_runs = 0;              // runs without (failed or unfinished)
  std::vector<std::filesystem::path> files;  // every file written, in order
  bool rendered = false;                     // gnuplot ran and made the PNG/SVG files
  std::string warning;                       // e.g. gnuplot missing: which package to install
};

ReportResult write_report(const std::filesystem::path& sweep_dir, const ReportOptions& options);

}  // namespace deferbench
