// The pieces of a sweep that its launchers share (experiments/sweep.cpp runs the runs here,
// experiments/sweep_slurm.cpp submits them to Slurm and follows them): the setup read from the
// command line or sweep.yaml, the plan, every run's composed config, the summary.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "experiments/launcher.h"
#include "experiments/run.h"
#include "experiments/sweep.h"

namespace deferbench::sweep_internal {

// A sweep ready to run: the folder exists (created when new) with sweep.yaml and config.yaml.
struct PreparedSweep {
  std::vector<std::string> overrides;           // the runs' (launcher overrides taken out)
  std::vector<std::string> launcher_overrides;  // launcher=..., launcher.KEY=...
  std::filesystem::path config_dir;
  int jobs = 1;  // runs at once in this process (local launcher)
  SweepPlan plan;
  std::vector<YAML::Node> configs;  // every run's composed config (without sweep and launcher)
  LauncherSettings launcher;
  std::filesystem::path dir;
  bool resumed = false;  // an existing folder (--resume)
};

// Reads the setup (the command line's, or --resume's saved one; a resume may give launcher
// overrides only, which replace the saved ones), expands and composes every run (a bad override
// stops here, before anything runs), and creates the folder of a new sweep. `cores`: the cores
// the runs of this process share (0: this machine's).
PreparedSweep prepare_sweep(const std::vector<std::string>& given, const SweepOptions& options,
                            int cores);

// One row per run and target, from what is on disk (so a resumed sweep writes the same
// summary as an uninterrupted one); written atomically by write_summary.
std::string summary_csv(const std::filesystem::path& dir, const SweepPlan& plan);
void write_summary(const std::filesystem::path& dir, const SweepPlan& plan);

// dir/runs, created, without the temporary folders of a killed sweep.
std::filesystem::path clean_runs_dir(const std::filesystem::path& dir);

// The preparation key of each run (its first cache key; "" when its config cannot run).
std::string prep_key_of(const YAML::Node& config, const RunOptions& run_options);

// tables/ and plots/ of the sweep; a warning when they cannot be written.
void write_sweep_report(const std::filesystem::path& dir);

// The runs of `runs` without metrics.json.
std::vector<std::size_t> runs_without_metrics(const std::filesystem::path& dir,
                                              const std::vector<std::size_t>& runs);

// For a sweep folder with Slurm submissions: records the failures of ended tasks and stops
// with an error while a task is still pending or running (its runs would be done twice).
void check_no_slurm_task_active(const PreparedSweep& sweep);

// Submits the sweep's runs without metrics.json as one job array (launcher=slurm), after
// recording the failures of earlier submissions; with options.wait, follows it to the end.
SweepResult submit_slurm_sweep(const PreparedSweep& sweep, const SweepOptions& options);

}  // namespace deferbench::sweep_internal
