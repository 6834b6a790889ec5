// Reading a sweep folder (see experiments/report.h): every runs/<n>/metrics.json, frontier.csv
// (through the one CSV reader, core/data/csv_reader.h) and overrides.yaml → one Run each.
#pragma once

#include <cstddef>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace deferbench::report {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Candidate {  // one frontier.csv row
  double target = kNaN;
  std::string family, model;
  double val_coverage = kNaN;
  bool val_feasible = false, on_frontier = false;
  double test_coverage = kNaN, test_agreement = kNaN;
  double test_aurc = kNaN, test_e_aurc = kNaN;  // its first stage's risk–coverage curve on test
};

struct TargetResult {  // metrics.json targets[i]
  double target = kNaN;
  std::string selection;  // "family/model"; "teacher only" when nothing is selected or deployed
  double coverage = kNaN, agreement = kNaN, macro_f1 = kNaN;  // test; agreement NaN: none handled
  // The selected candidate's oracle coverage on test and coverage / oracle (NaN: nothing
  // selected, an oracle of 0, or a metrics.json written before they were).
  double oracle_coverage = kNaN, efficiency = kNaN;
};

struct Run {
  std::string dataset, mode;
  double delta = kNaN;
  std::map<std::string, std::string> overrides;  // key → value, grouping keys only
  std::vector<std::string> setting;              // this run's values of Sweep::setting_keys
  std::vector<TargetResult> targets;
  std::vector<std::pair<std::string, double>> fit_seconds;  // zoo: model label, seconds
  std::vector<Candidate> candidates;                        // frontier.csv, in file order
};

struct Sweep {
  std::filesystem::path dir;
  std::vector<Run> runs;  // by run number
  std::size_t skipped = 0;
  std::vector<std::string> setting_keys;  // swept keys other than seed, dataset, mode, target
  std::vector<double> targets;            // sorted, distinct
  std::vector<std::string> families;      // sorted, distinct
};

// The runs of DIR/runs/<n>/ with a metrics.json (by run number; the others are counted as
// skipped), the swept keys that split groups, and the sweep's targets and families. Errors
// (deferbench::Error) name the file, line and field.
Sweep read_sweep(const std::filesystem::path& dir);

}  // namespace deferbench::report
