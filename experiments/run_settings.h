// What a run is told: the validated settings of a composed config (RunSettings) and how the
// caller wants it run (RunOptions). Every step of the runner (experiments/run.h) reads these.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include <yaml-cpp/yaml.h>

#include "core/data/splits.h"
#include "core/features/text_featurizer.h"
#include "core/routing/families.h"
#include "core/util/context.h"
#include "experiments/stream_settings.h"

namespace deferbench {

class FitCache;

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
  bool audit = false;                 // write audit.json (experiments/audit.h)
  double audit_fdr = 0.1;             // the false discovery rate of its slice and drift flags
  std::string audit_time = "auto";    // auto (the rows' times, if any) | row_order | none
  int audit_windows = 5;              // windows of the temporal view
  YAML::Node dataset;                 // the `dataset` section (read by load_traces)
  YAML::Node model;                   // the `model` section (read by the model registry)
  YAML::Node experts;     // the `experts` section (experiments/experts_run.h); null: none
  StreamSettings stream;  // the `stream` section (experiments/stream_run.h)

  static RunSettings from_config(const YAML::Node& config,
                                 const std::filesystem::path& project_root);
  // The run's context: the device decided here, once (models/backend.h: make_context).
  Context context() const;
};

struct RunOptions {
  std::filesystem::path project_root;  // relative data paths resolve against it
  bool quiet = false;                  // no summary on stdout
  FitCache* cache = nullptr;           // a sweep's shared work (null: compute everything)
};

// `p` when absolute, else base / p; normalized.
std::filesystem::path absolute_against(const std::filesystem::path& p,
                                       const std::filesystem::path& base);

// Seconds on the steady clock since `t` (the run's step timings).
using RunClock = std::chrono::steady_clock;
inline double seconds_since(RunClock::time_point t) {
  return std::chrono::duration<double>(RunClock::now() - t).count();
}

}  // namespace deferbench
