// One experiment run, end to end (DESIGN.md "Data flow"), as a sequence of named steps:
//   plan_run (settings, zoo, cache keys)          experiments/run_steps.h
//   → prepare_data (read, split, featurize)       experiments/prepare.h, traces.h
//   → fit_zoo (surrogates + acceptors, cached)    experiments/run_steps.h, fit_cache.h
//   → per target: candidates_at → with_val_fallback → select_on_val → deploy
//   → metrics.json / frontier.csv / policy        experiments/run_output.h
// This header is the runner's front door: it includes the headers of every step.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "core/routing/policy.h"
#include "experiments/featurize.h"
#include "experiments/fit_cache.h"
#include "experiments/prepare.h"
#include "experiments/run_output.h"
#include "experiments/run_settings.h"
#include "experiments/traces.h"

namespace deferbench {

// Runs the experiment: every family × surrogate (the `model` group and `pipeline.zoo`) is a
// candidate at every target; fits are shared by all targets and families. At each target the
// candidate is chosen on val (the Pareto frontier of val coverage, agreement and cost; the most
// coverage), then calibrated on cal and evaluated on test. Writes nothing.
RunOutput compute_run(const YAML::Node& config, const RunOptions& options);

// The cache keys compute_run will ask for with this config (for FitCache::expect). Throws what
// compute_run would throw on an invalid config.
std::vector<std::string> run_cache_keys(const YAML::Node& config, const RunOptions& options);

struct RunResult {
  std::filesystem::path run_dir;  // where config.yaml and metrics.json were written
  nlohmann::json metrics;
  std::vector<Stage> deployed;  // the first target's deployed policy (empty: teacher only)
};

// compute_run, then writes <results_dir>/<name>/<YYYY-MM-DD_HH-MM-SS>/{config.yaml,
// metrics.json, frontier.csv, log.txt} (a temporary folder renamed at the end: a failed run
// leaves nothing behind), points <results_dir>/<name>/latest at it, saves the policy when
// save_policy is set and prints a summary unless quiet.
RunResult run_experiment(const YAML::Node& config, const RunOptions& options);

}  // namespace deferbench
