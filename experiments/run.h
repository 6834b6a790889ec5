// One experiment run, end to end (DESIGN.md "Data flow"):
//   config → dataset reader → featurizer → splits → surrogate fit → gate calibration on `cal`
//   → evaluation on `test` → metrics.json beside the resolved config.yaml.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "core/data/dataset.h"
#include "core/data/splits.h"
#include "core/features/text_featurizer.h"
#include "core/util/context.h"

namespace deferbench {

// The validated top-level settings of a composed config (unknown keys are errors).
struct RunSettings {
  std::string name;
  std::uint64_t seed = 0;
  int threads = 1;  // resolved (≥ 1)
  Device device = Device::kAuto;
  std::filesystem::path data_dir;     // absolute
  std::filesystem::path results_dir;  // absolute
  SplitFractions split;
  std::string feature_kind = "auto";  // auto | embeddings | text
  TextFeaturizerOptions text;
  double target = 0.9;
  YAML::Node dataset;  // the `dataset` section (read by load_traces)
  YAML::Node model;    // the `model` section (read by the model registry)

  static RunSettings from_config(const YAML::Node& config,
                                 const std::filesystem::path& project_root);
  Context context() const { return Context{device, seed, threads}; }
};

// Reads the traces the `dataset` section names (synthetic, csv or jsonl; relative file paths
// against data_dir). A missing file is an error naming it.
Traces load_traces(const YAML::Node& dataset, const std::filesystem::path& data_dir,
                   std::uint64_t seed);

struct RunResult {
  std::filesystem::path run_dir;  // where config.yaml and metrics.json were written
  nlohmann::json metrics;
};

struct RunOptions {
  std::filesystem::path project_root;  // relative data paths resolve against it
  bool quiet = false;                  // no summary on stdout
};

// Runs the experiment and writes <results_dir>/<name>/<YYYY-MM-DD_HH-MM-SS>/{config.yaml,
// metrics.json} (a temporary folder renamed at the end: a failed run leaves nothing behind),
// and points <results_dir>/<name>/latest at it.
RunResult run_experiment(const YAML::Node& config, const RunOptions& options);

}  // namespace deferbench
