// The report's plots (plots/ of a sweep folder): coverage against target per family, the
// candidates' test coverage and agreement with the val Pareto frontier, and guarantee violation
// rates per calibration mode; each as NAME.dat + NAME.gp, rendered by gnuplot when found.
#pragma once

#include <map>

#include "experiments/report.h"
#include "experiments/report/aggregate.h"
#include "experiments/report/sweep_reader.h"

namespace deferbench::report {

// Writes the data files and scripts into s.dir/plots, runs options.gnuplot on each script (no
// shell) and records the files, `rendered` and any warning in `result`.
void write_plots(const Sweep& s, const std::map<GroupKey, TargetStats>& stats, double zoo_target,
                 const ReportOptions& options, ReportResult& result);

}  // namespace deferbench::report
