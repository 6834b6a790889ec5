// `deferbench report DIR`: tables and plots of a sweep folder (see README "Sweeps and reports").
//
// A sweep folder DIR (written by `deferbench run -m ...`) holds
//   DIR/config.yaml                 the composed config of the first run
//   DIR/sweep.yaml                  the sweep's command-line overrides
//   DIR/summary.csv                 one row per run
//   DIR/runs/<n>/config.yaml, overrides.yaml, metrics.json, frontier.csv, log.txt
//                                   (a failed run: error.txt and no metrics.json)
// The report reads every runs/<n>/metrics.json and frontier.csv (runs without metrics.json are
// skipped and counted) and writes DIR/tables/ and DIR/plots/.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace deferbench {

// Mean, sample standard deviation and the two-sided 95% Student-t confidence interval of the
// mean over `n` values (n = 1: sd and the interval are NaN; n = 0: everything NaN).
struct MeanCI {
  std::size_t n = 0;
  double mean = 0, sd = 0, ci_low = 0, ci_high = 0;
};
MeanCI mean_ci(const std::vector<double>& values);

// The p-quantile of Student's t distribution with `df` > 0 degrees of freedom (0 < p < 1).
double student_t_quantile(double p, double df);

// P(T <= t) for Student's t distribution with `df` > 0 degrees of freedom (through the
// regularized incomplete beta function; relative accuracy ~1e-14).
double student_t_cdf(double t, double df);

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

// A CSV field: as it is, or quoted ("" for a quote) when it holds a comma, quote or line break.
std::string csv_field(const std::string& s);

ReportResult write_report(const std::filesystem::path& sweep_dir, const ReportOptions& options);

}  // namespace deferbench
