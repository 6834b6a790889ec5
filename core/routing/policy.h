// A routing policy: an ordered list of stages. Each stage has a surrogate, an acceptor and a
// threshold (one, or one per predicted class); a row goes to the first stage whose acceptor
// score reaches the threshold, and to the teacher when no stage accepts it.
//   global: one stage, no acceptor, threshold −∞ (accept all) or +∞ (accept none);
//   l2d:    one stage; rsb: K stages, stage k trained on what stages < k reject.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/model/classifier.h"
#include "core/routing/acceptor.h"
#include "core/routing/calibration.h"
#include "core/stats/binomial.h"

namespace deferbench {

// The `calibration` section of the config.
struct CalibrationSettings {
  std::vector<double> targets{0.9};  // teacher agreement wanted on handled traffic
  std::string mode = "guaranteed";   // guaranteed | empirical
  bool per_class = false;            // one threshold per predicted class
  GuaranteedOptions guaranteed;      // delta, min_accepted, grid
  // The window guarantee (calibration.h): 0 = about the agreement itself; N = a window of N
  // queries; window_test: the run's test split is the window (resolved by the runner).
  double window = 0;
  bool window_test = false;
  // Where the fixed sequence starts (calibrate_stage): "pass_probability" (the grid threshold
  // the calibration split is likeliest to certify, start_where_test_can_pass) or "bound_peak"
  // (where the Clopper–Pearson bound on val agreement peaks, start_where_bound_peaks).
  std::string start = "pass_probability";
  // The guaranteed modes' test: "randomized" (calibration.h; its u is a hash of the calibration
  // rows, set in guaranteed.u by FamilyInputs::resolved for the calibration on cal only) or
  // "exact" (Clopper–Pearson).
  std::string test = "randomized";

  // Keys: target (a number or a list, each in (0, 1]), mode, delta (0…1, exclusive), per_class,
  // min_accepted, grid_points, grid_min_coverage, grid_max_coverage, window (queries ≥ 0, or
  // `test`), start (pass_probability | bound_peak), test (exact | randomized).
  static CalibrationSettings from_yaml(const YAML::Node& node, const std::string& path);
};

struct Stage {
  std::shared_ptr<const Classifier> surrogate;
  std::shared_ptr<const Acceptor> acceptor;          // null: accept by threshold on score 1
  std::shared_ptr<const NeighbourIndex> neighbours;  // null: no kNN feature
  int knn = 0;
  bool use_embedding = false;
  std::vector<double> thresholds;  // 1 value, or one per class of the global label space
  // Out-of-distribution guard (stage 1 only): a row whose distance to its ood_k-th nearest
  // training row exceeds ood_max_distance scores −∞ and is deferred by the whole policy.
  int ood_k = 0;  // 0: no guard
  double ood_max_distance = std::numeric_limits<double>::infinity();
  // What calibration found (for reports).
  std::size_t cal_rows = 0, cal_accepted = 0;
  double cal_agreement = std::numeric_limits<double>::quiet_NaN();
  double lower_bound = std::numeric_limits<double>::quiet_NaN();
  bool feasible = false;
  // Guaranteed mode, one threshold: thresholds tested and the first one's counts (what the
  // diagnostic of a calibration that certified nothing reports).
  std::size_t cal_tests = 0, cal_first_accepted = 0, cal_first_agreed = 0;
  double cal_first_required = std::numeric_limits<double>::quiet_NaN();
  double cal_delta = std::numeric_limits<double>::quiet_NaN();  // this stage's share of δ
  double cal_u = 1.0;  // the randomized test's draw (1: the exact test; calibration.h)
};

// A stage's view of some rows: the surrogate's prediction and the acceptor's score.
struct StageOutput {
  std::vector<LabelId> pred;
  std::vector<float> score;
};

// Scores rows x with a stage's surrogate and acceptor (thresholds not applied).
StageOutput evaluate_stage(const Stage& stage, MatrixView x, const Context& ctx);

// Whether each row clears the stage's threshold(s).
std::vector<std::uint8_t> stage_accepts(const Stage& stage, const StageOutput& out);

struct Routed {
  std::vector<LabelId> label;  // the surrogate's answer where handled, kNoLabel where deferred
  std::vector<int> stage;      // 0-based stage that handled the row, −1: deferred to the teacher
  std::vector<float> score;    // the acceptor score at the last stage that saw the row
  std::vector<LabelId> first_prediction;  // stage 1's prediction for every row
};

// Routes every row of x through the stages in order. Rows the first stage's guard marks as out
// of distribution (score −∞) go to the teacher without visiting later stages.
Routed route(const std::vector<Stage>& stages, MatrixView x, const Context& ctx);

// route() from outputs computed beforehand: outputs[s] is evaluate_stage(stages[s]) on every
// row of the batch (thresholds are not part of an output, so one evaluation serves every
// target and calibration). Evaluating a stage row by row, the result equals route()'s.
Routed route_outputs(const std::vector<Stage>& stages, const std::vector<StageOutput>& outputs);

// Chooses the threshold(s) of a stage from its scores on calibration rows (and, for the
// guaranteed mode's grid, on validation rows), at level `delta` (a cascade passes δ/K).
// Fills stage.thresholds and the cal_* fields.
//
// The guaranteed mode's test sequence: the grid of quantiles of the val scores, started where
// `settings.start` says (start_where_test_can_pass: the threshold the calibration split, by its
// size alone, is likeliest to pass; or start_where_bound_peaks). Only val labels and the count of
// calibration rows choose the start, so the sequence is fixed before any calibration label is
// seen, and the guarantee holds.
void calibrate_stage(Stage& stage, const StageOutput& val, const std::vector<LabelId>& val_teacher,
                     const StageOutput& cal, const std::vector<LabelId>& cal_teacher,
                     std::size_t n_classes, double target, double delta,
                     const CalibrationSettings& settings);

// The part of `grid` (strictly decreasing) from the threshold where the test would clear its
// requirement by the most on the given (val) rows — the Clopper–Pearson lower bound at δ minus
// the target; with a window (window_scale = W / rows > 0), the bound at δ/2 minus the window
// requirement (calibration.h) — to the end (ties: the strictest).
std::vector<double> start_where_bound_peaks(const std::vector<double>& grid,
                                            const std::vector<float>& scores,
                                            const std::vector<std::uint8_t>& agrees, double delta,
                                            double target, double window_scale = 0.0);

// The part of `grid` from the threshold the calibration split is likeliest to certify: at each
// grid threshold the (val) rows it accepts give a coverage c and an agreement a (Laplace:
// (k + 1) / (n + 2), so a handful of all-agreeing rows is not taken for certainty); a
// calibration split of `cal_rows` rows would accept about m = floor(c · cal_rows) of them, and
// the test passes with probability P(Binomial(m, a) ≥ min_passing_agreements(m, need, level))
// — need = target at level δ, or with a window (window_scale = W / cal_rows > 0) the window
// requirement at δ/2. Thresholds with m < min_accepted count as 0. The start is the threshold
// with the largest probability (ties within a relative 1e-9: the loosest); none above 0: the
// whole grid. randomized: the pass probability of the randomized test averaged over its u (one
// agreement fewer passes with probability u*): the start must not depend on u itself, since a
// start chosen where the drawn u happens to be lucky would make the level depend on it.
// Unlike start_where_bound_peaks it weighs the size of the calibration split (a small split
// cannot pass where a large val prefix would clear the bound), and it reads no calibration
// label, so the sequence is still fixed before the test and the guarantee holds.
std::vector<double> start_where_test_can_pass(const std::vector<double>& grid,
                                              const std::vector<float>& scores,
                                              const std::vector<std::uint8_t>& agrees, double delta,
                                              double target, std::size_t cal_rows,
                                              std::size_t min_accepted, double window_scale = 0.0,
                                              bool randomized = false);

}  // namespace deferbench
