// Sweeps (`deferbench run -m ...`): the Cartesian product of swept overrides, run in parallel
// with shared work cached, into one resumable folder:
//
//   <results_dir>/<name>/<YYYY-MM-DD_HH-MM-SS>/
//     config.yaml        the composed config of run 0
//     sweep.yaml         the command-line overrides, the axes, jobs (what --resume reads)
//     summary.csv        one row per run and target (rewritten as runs finish)
//     runs/<n>/          config.yaml, overrides.yaml, metrics.json, frontier.csv, log.txt
//                        (a failed run: error.txt instead of metrics.json and frontier.csv)
//     tables/, plots/    `deferbench report` of the sweep, written when it ends
//   <results_dir>/<name>/latest → the newest sweep folder
//
// Every run is written into a temporary folder and renamed to runs/<n> when complete, so a
// sweep killed at any moment and resumed (--resume DIR) reruns exactly the runs without
// metrics.json and ends with the same summary.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace deferbench {

// An override split as the command line gives it: `+`/`~` prefix, key and value.
struct ParsedOverride {
  std::string prefix, key, value;
  bool has_value = false;
};
ParsedOverride parse_override(const std::string& text);

// The most runs a sweep may have: expand_sweep refuses a larger product of the swept values'
// counts (and sweep_values a single override with more values) before materializing anything.
inline constexpr std::size_t kMaxSweepRuns = 100000;

// Sweep values of one override: `key=a,b,c` (top-level commas; brackets, braces, parentheses
// and quotes protect theirs), `key=range(stop)`, `range(start,stop[,step])` (stop excluded;
// integers, or decimals when any bound is one), `choice(a,b)`. A plain value: itself.
std::vector<std::string> sweep_values(const std::string& value);

// How many values sweep_values(value) gives, computed without materializing them (a range
// counts arithmetically); errors as sweep_values's.
double sweep_value_count(const std::string& value);

// How many runs expand_sweep(overrides) gives: the product of the sweeping overrides' value
// counts, computed without materializing them (a double: the product may exceed any integer).
double sweep_run_count(const std::vector<std::string>& overrides);

// Whether an override sweeps (more than one value, or a range/choice).
bool is_sweep_override(const std::string& override_text);

struct SweepAxis {
  std::string key;                     // the override's key as written (e.g. calibration.target)
  std::size_t position;                // where the override stands among the command-line overrides
  std::vector<std::string> overrides;  // one full override per value (e.g. calibration.target=0.9)
};

struct SweepPlan {
  std::vector<SweepAxis> axes;                 // in command-line order
  std::vector<std::vector<std::string>> runs;  // each run's overrides, in command-line order
};

// The Cartesian product; the first axis varies slowest (as Hydra's basic sweeper).
SweepPlan expand_sweep(const std::vector<std::string>& overrides);

// The overrides plus the axes of the config's `sweep:` mapping (key: "a,b" or key: [a, b] or
// key: range(0,10)), read from the config composed with the first value of each swept
// override; a key also given on the command line keeps the command line's values.
std::vector<std::string> with_config_axes(const std::vector<std::string>& overrides,
                                          const std::filesystem::path& config_dir);

enum class ProgressMode { kAuto, kBar, kLines, kNone };

struct SweepOptions {
  std::filesystem::path project_root;
  std::filesystem::path config_dir;
  int jobs = 0;                  // runs at once (0: the sweep's saved value, else cores)
  std::filesystem::path resume;  // an existing sweep folder to complete
  ProgressMode progress = ProgressMode::kAuto;  // auto: a bar on a terminal, lines otherwise
  bool report = true;                           // write tables/ and plots/ at the end
  // launcher=slurm: follow the submitted job array to its end (as `deferbench status --wait`),
  // polling Slurm every poll_seconds.
  bool wait = false;
  double poll_seconds = 10;
  // A Slurm array task (the sbatch script's command): run task `task` of `task_file` in the
  // sweep folder `resume`.
  std::filesystem::path task_file;
  std::size_t task = 0;
};

struct SweepResult {
  std::filesystem::path dir;
  std::size_t runs = 0;     // in the sweep
  std::size_t skipped = 0;  // already complete (resume)
  std::size_t failed = 0;
  std::size_t fits_computed = 0, fits_reused = 0;  // shared work (preparations and fits)
  std::string job_id;      // launcher=slurm: the job array submitted ("": none)
  std::size_t tasks = 0;   // its tasks
  std::size_t active = 0;  // runs whose task is still pending or running (no --wait)
};

// Runs (or resumes) a sweep, in this process (launcher=local) or as a Slurm job array
// (launcher=slurm: the folder also holds .slurm/ with the scripts, task lists, jobs.txt and the
// tasks' logs <job>_<task>.out). Overrides that fail to compose are bad input (an Error before any
// run starts); a run that throws is recorded as failed and the sweep goes on.
SweepResult run_sweep(const std::vector<std::string>& overrides, const SweepOptions& options);

// What a sweep folder holds now, and (launcher=slurm) where its tasks stand in Slurm.
struct SweepStatus {
  std::filesystem::path dir;
  std::size_t runs = 0, complete = 0, failed = 0;
  std::size_t active = 0;   // runs whose Slurm task is pending or running
  std::size_t pending = 0;  // neither finished nor in Slurm
  // The sweep's job arrays, oldest first, each with its tasks' states counted ("COMPLETED 3,
  // CANCELLED 1"); tasks Slurm no longer knows count as UNKNOWN.
  std::vector<std::pair<std::string, std::string>> jobs;
  // Failed runs: run number, the first line of its error.txt (a task that ended without
  // writing its runs: "slurm task 17_2 ended CANCELLED before this run finished; log: ...").
  std::vector<std::pair<std::size_t, std::string>> failures;
};

// The status of a sweep folder (`deferbench status DIR`). Runs whose Slurm task ended without
// writing them are recorded as failed runs (error.txt with Slurm's state and the task's log),
// so the summary and --resume see them; summary.csv is rewritten, and the report too once no
// task is active. With options.wait, polls Slurm every options.poll_seconds (with the progress
// of options.progress) until no task is active.
SweepStatus sweep_status(const std::filesystem::path& dir, const SweepOptions& options);

// The exit status of a sweep: the number of failed runs, at most 100.
int sweep_exit_status(const SweepResult& result);

}  // namespace deferbench
