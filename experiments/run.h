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
#include "core/routing/families.h"
#include "core/routing/policy.h"
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
  CalibrationSettings calibration;    // the `calibration` section (targets, mode, δ, ...)
  FamilyOptions pipeline;             // the `pipeline` section (families, zoo, acceptor, rsb)
  std::filesystem::path save_policy;  // "" (none) or the folder for the deployed policy
  YAML::Node dataset;                 // the `dataset` section (read by load_traces)
  YAML::Node model;                   // the `model` section (read by the model registry)

  static RunSettings from_config(const YAML::Node& config,
                                 const std::filesystem::path& project_root);
  Context context() const { return Context{device, seed, threads}; }
};

// Reads the traces the `dataset` section names (synthetic, csv or jsonl; relative file paths
// against data_dir). A missing file is an error naming it.
Traces load_traces(const YAML::Node& dataset, const std::filesystem::path& data_dir,
                   std::uint64_t seed);

// The data of a run, split and featurized (text featurizer fitted on train only).
struct PreparedData {
  std::string dataset_name;
  std::shared_ptr<const LabelSpace> labels;
  std::size_t total_rows = 0;
  std::size_t dropped_no_answer = 0;
  Splits splits;                               // row indices into the traces as read
  Dataset train, val, cal, test;               // features filled
  std::string feature_source;                  // "embeddings" or "text-lsa-<dim>"
  std::shared_ptr<TextFeaturizer> featurizer;  // fitted on train; null when embeddings are used
  double load_seconds = 0, featurize_seconds = 0;
};

PreparedData prepare_data(const RunSettings& settings, const Context& ctx);

struct RunResult {
  std::filesystem::path run_dir;  // where config.yaml and metrics.json were written
  nlohmann::json metrics;
  std::vector<Stage> deployed;  // the first target's deployed policy (empty: teacher only)
};

struct RunOptions {
  std::filesystem::path project_root;  // relative data paths resolve against it
  bool quiet = false;                  // no summary on stdout
};

// Runs the experiment: every family × surrogate (the `model` group and `pipeline.zoo`) is a
// candidate at every target; fits are shared by all targets and families. At each target the
// candidate is chosen on val (the Pareto frontier of val coverage, agreement and cost; the most
// coverage), then calibrated on cal and evaluated on test. Writes
// <results_dir>/<name>/<YYYY-MM-DD_HH-MM-SS>/{config.yaml, metrics.json, frontier.csv} (a
// temporary folder renamed at the end: a failed run leaves nothing behind), and points
// <results_dir>/<name>/latest at it.
RunResult run_experiment(const YAML::Node& config, const RunOptions& options);

// Writes the features of every row (text featurizer fitted on the train split only) for other
// tools: OUT/features.npy (float32, rows ordered train, val, cal, test), OUT/labels.csv
// (row, id, split, teacher_id, gold_id, teacher, gold) and OUT/config.yaml. OUT must not exist
// or be empty. Returns OUT.
std::filesystem::path featurize_to(const YAML::Node& config, const RunOptions& options,
                                   const std::filesystem::path& out);

}  // namespace deferbench
