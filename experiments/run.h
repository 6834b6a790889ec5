// One experiment run, end to end (DESIGN.md "Data flow"):
//   config → dataset reader → featurizer → splits → surrogate fit → gate calibration on `cal`
//   → evaluation on `test` → metrics.json beside the resolved config.yaml.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

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
  int threads = 1;                    // resolved (≥ 1)
  DeviceRequest device;               // resolved by context()
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
  // The run's context: the device decided here, once (models/backend.h: make_context).
  Context context() const;
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
  // kNN index over train, shared by every surrogate's stage 1 (its neighbour searches are
  // memoized: one search per split for the whole zoo). Null when the pipeline uses neither the
  // kNN feature nor the OOD guard.
  std::shared_ptr<const NeighbourIndex> train_index;
  double load_seconds = 0, featurize_seconds = 0;
};

PreparedData prepare_data(const RunSettings& settings, const Context& ctx);

// A surrogate's fitted cascade and the seconds its fit took.
struct FittedSurrogate {
  std::vector<FittedStage> stages;
  std::vector<StageOutput> test;  // each stage's outputs on every test row
  double fit_seconds = 0;
};

// Work shared by the runs of a sweep: prepared data (per data set, split seed and featurizer)
// and fitted surrogates (per preparation, model and pipeline fit settings). Thread-safe: runs
// in parallel that need the same entry wait for the one computing it. An entry lives while
// some run that declared it (expect) has not released it; a key nobody declared is computed
// and not kept.
class FitCache {
 public:
  void expect(const std::vector<std::string>& keys);
  void release(const std::vector<std::string>& keys);
  std::shared_ptr<const PreparedData> prepared(const std::string& key,
                                               const std::function<PreparedData()>& make);
  std::shared_ptr<const FittedSurrogate> fitted(const std::string& key,
                                                const std::function<FittedSurrogate()>& make);
  std::size_t computed() const;  // entries computed (misses)
  std::size_t reused() const;    // requests answered from the cache (hits)
  std::size_t live() const;      // entries held now

 private:
  using Value = std::shared_ptr<const void>;
  Value get(const std::string& key, const std::function<Value()>& make);
  struct Entry {
    int expected = 0;
    bool started = false;
    std::shared_future<Value> value;
  };
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
  std::size_t computed_ = 0, reused_ = 0;
};

struct RunOptions {
  std::filesystem::path project_root;  // relative data paths resolve against it
  bool quiet = false;                  // no summary on stdout
  FitCache* cache = nullptr;           // a sweep's shared work (null: compute everything)
};

// What a run computed, before anything is written.
struct RunOutput {
  YAML::Node config;  // the composed config it ran
  RunSettings settings;
  nlohmann::json metrics;
  std::string frontier_csv;
  std::vector<std::vector<Stage>> deployed;  // per target (empty: teacher only)
  std::shared_ptr<const PreparedData> prep;
};

// Runs the experiment: every family × surrogate (the `model` group and `pipeline.zoo`) is a
// candidate at every target; fits are shared by all targets and families. At each target the
// candidate is chosen on val (the Pareto frontier of val coverage, agreement and cost; the most
// coverage), then calibrated on cal and evaluated on test. Writes nothing.
RunOutput compute_run(const YAML::Node& config, const RunOptions& options);

// The cache keys compute_run will ask for with this config (for FitCache::expect). Throws what
// compute_run would throw on an invalid config.
std::vector<std::string> run_cache_keys(const YAML::Node& config, const RunOptions& options);

// Writes config.yaml, metrics.json, frontier.csv and log.txt of a run into `dir` (which exists).
void write_run_files(const RunOutput& out, const std::filesystem::path& dir,
                     const std::string& log_text);

// Saves the deployed policies for `deferbench route`: into `dir`, or dir/target-<t> for each
// target when the run has several.
void save_run_policies(const RunOutput& out, const std::filesystem::path& dir,
                       const std::filesystem::path& run_dir);

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

// Local time as YYYY-MM-DD_HH-MM-SS (folder names).
std::string timestamp_now();

// A new folder parent/<stamp> (parent/<stamp>_1, _2, ... when taken), created.
std::filesystem::path new_stamped_folder(const std::filesystem::path& parent);

// Points `link` at `target` (a sibling name) atomically; a warning if that fails.
void update_symlink(const std::filesystem::path& link, const std::filesystem::path& target);

// Writes the features of every row (text featurizer fitted on the train split only) for other
// tools: OUT/features.npy (float32, rows ordered train, val, cal, test), OUT/labels.csv
// (row, id, split, teacher_id, gold_id, teacher, gold) and OUT/config.yaml. OUT must not exist
// or be empty. Returns OUT.
std::filesystem::path featurize_to(const YAML::Node& config, const RunOptions& options,
                                   const std::filesystem::path& out);

}  // namespace deferbench
