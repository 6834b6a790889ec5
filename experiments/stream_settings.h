// The `stream` section of the config (issue 17, the online cascade; experiments/stream_run.h):
// `deferbench run experiment=X stream=true` replays the trace set as a stream.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace deferbench {

struct StreamSettings {
  bool enabled = false;
  // The stream: order of the rows and the scenario replayed (core/stream/order.h).
  std::string order = "auto";           // auto | time | rows | shuffle
  std::string scenario = "stationary";  // stationary | waves | prior_shift | teacher_change
  int waves = 4;                        // waves: groups of classes
  double prior_shift = 2.0;             // prior_shift: strength
  double change_at = 0.5;               // teacher_change: where, as a share of the stream
  std::string change_from = "";         // the class answered differently ("": the most frequent)
  std::string change_to = "";           // its new answer ("": the next most frequent class)
  // Labels and refits.
  std::size_t cold_start = 1000;   // first queries sent to the teacher before any policy
  double audit_share = 0.05;       // ε: share of queries whose teacher answer is bought (or kept)
  std::size_t refit_every = 2000;  // new labels between refits
  std::size_t refit_after_alarm =
      0;  // labels bought after an alarm before refitting (0: cold_start)
  double val_share =
      0.5;  // of the flagged (uniform) labels: the acceptor's rows; the rest calibrate
  double cold_cal_share = 0.5;      // of cold-start labels: flagged (acceptor and calibration)
  double fallback_cal_share = 0.5;  // of labels bought while deferring everything
  std::size_t max_train = 0;   // most recent training labels used (0: all); caps the acceptor rows
                               // at the same share of the labels
  std::size_t cal_window = 0;  // most recent calibration labels used (0: all)
  // K ≥ 2: refits cross-fitted (fit_cascade_cross, K folds) on one pool of the training and the
  // acceptor's labels: the surrogate is the average of K fold models, the acceptor learns from
  // their out-of-fold outputs on the whole pool, the grid comes from those; cold fits (no warm
  // start) and no memory, so online, online_no_memory and periodic refit alike (memory_mode
  // stage with a memory variant is an error). 0: the split (surrogate on the training labels,
  // acceptor on its own).
  int cross_fit = 0;
  // Monitor (core/stream/monitor.h).
  double monitor_delta = 0.05;
  std::size_t monitor_epoch = 200;  // audits before the monitor restarts (0: only at refits)
  // Teacher answers in classes the current surrogate was not trained on that raise an alarm
  // (0: never). A surrogate cannot answer a class it never saw.
  std::size_t novel_alarm = 1;
  // An alarm also drops the training and acceptor labels bought before it (a teacher that
  // changed its answers makes them wrong; new classes do not).
  bool forget_on_alarm = false;
  // Memory (core/stream/memory.h): blend (MemoryBlend: the surrogate's and the memory's votes
  // mixed in one stage, one calibration) or stage (a cascade stage of its own, δ/2 each).
  std::string memory_mode = "blend";
  int memory_k = 10;
  std::size_t memory_max = 20000;  // most recent resolved queries kept
  // New resolved queries between memory updates between refits; 0: at refits only, so that the
  // memory that serves is the one the refit's calibration certified.
  std::size_t memory_refresh = 0;
  // Outputs and what is compared.
  std::size_t window = 1000;     // queries per stream.csv row
  bool window_guarantee = true;  // calibrate for the agreement measured on a window of `window`
  std::vector<std::string> variants{"online", "online_no_memory", "periodic", "periodic_no_monitor",
                                    "fit_once"};
  std::size_t chunk = 512;  // rows routed at once (results do not depend on it)

  // Keys: those above. Errors name the key and what was expected.
  static StreamSettings from_yaml(const YAML::Node& node, const std::string& path);
};

// What a variant does: refits (warm or cold), memory, and whether alarms (the monitor's, the
// novel-class rule's) stop it (monitors: false is TRACER's update, periodic refits with nothing
// watching between them; its monitor still reads the audits, for stream.csv, and never alarms).
struct StreamVariant {
  std::string name;
  bool refits = true, warm = true, memory = true, monitors = true;
};
StreamVariant stream_variant(const std::string& name);

}  // namespace deferbench
