// The steps of a run after preparation (DESIGN.md "Data flow"), each a function on plain data:
//   plan_run → fit_zoo (surrogates and their acceptors, cached) → candidates_at (every family ×
//   surrogate calibrated at a target) → select_on_val → deploy (calibrated on cal, tested).
// experiments/run.cpp calls them in that order; experiments/run_output.h turns their results
// into metrics.json and frontier.csv.
#pragma once

#include <cstddef>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/data/dataset.h"
#include "core/metrics/metrics.h"
#include "core/routing/families.h"
#include "core/routing/policy.h"
#include "core/util/context.h"
#include "experiments/fit_cache.h"
#include "experiments/prepare.h"
#include "experiments/run_settings.h"

namespace deferbench {

// A candidate surrogate as the config names it: its spec and its display label.
struct ZooMember {
  YAML::Node spec;
  std::string label;
};

// Everything a run decides before its expensive steps: settings, the validated zoo and the
// cache keys of its shared work.
struct RunPlan {
  RunSettings settings;
  Context ctx;
  ModelFactory factory;
  std::vector<ZooMember> zoo;  // the `model` group's model first, then pipeline.zoo
  int stages = 1;              // per surrogate: pipeline.rsb.stages when rsb runs, else 1
  std::string prep_key;
  std::vector<std::string> fit_keys;  // per zoo member
};

// Reads the settings and validates every model spec (the zoo's and the acceptor's) before any
// expensive step.
RunPlan plan_run(const YAML::Node& config, const RunOptions& options);

// A zoo member, fitted.
struct Surrogate {
  std::string label;
  std::shared_ptr<const FittedSurrogate> fitted;
  bool cached = false;  // the fit came from a sweep's cache
  // Every fitted stage's outputs on every val and test row (into `fitted`): routing a split with
  // any family's policy at any target is then threshold comparisons.
  std::vector<const StageOutput*> val_outputs, test_outputs;
};

struct FittedZoo {
  std::vector<Surrogate> members;  // in zoo order
  double seconds = 0;              // this run's wait for fits
};

// Fits: once per surrogate, shared by every target and family (and, in a sweep, by every run
// with the same data, split and fit settings).
FittedZoo fit_zoo(const RunPlan& plan, const PreparedData& prep, FitCache* cache);

// The run's calibration settings with `window: test` resolved to the test split's size.
CalibrationSettings run_calibration(const RunSettings& settings, const PreparedData& prep);

// A policy's measurements on a split.
struct Evaluated {
  RoutingMetrics m;
  double cost_per_1k = 0;
  std::vector<std::size_t> handled_per_stage;
  std::vector<double> agreement_per_stage;
  // Per row of the split: handled by the surrogate, and the answer given where handled (stage
  // 1's prediction where deferred): what the audit reads.
  std::vector<std::uint8_t> handled;
  std::vector<LabelId> answer;
};

// Routes a split with a built policy from precomputed stage outputs (no stages: all deferred)
// and measures it.
Evaluated evaluate(const std::vector<Stage>& stages, const std::string& family,
                   const std::vector<const StageOutput*>& fitted, const Dataset& split,
                   const FamilyOptions& opt);

// One family × surrogate at one target: calibrated on val (what selection ranks) and on cal
// (what would be deployed), evaluated on val and on test.
struct Candidate {
  std::string family, model;
  std::size_t member = 0;  // its surrogate's place in the zoo
  BuiltPolicy on_val, on_cal;
  Evaluated val, test;
  // The risk–coverage curve of its first stage's score on test (AURC, E-AURC; threshold-free).
  RiskCoverage test_risk;
};

// Every candidate at `target`, in zoo × family order.
std::vector<Candidate> candidates_at(double target, const RunPlan& plan, const PreparedData& prep,
                                     const FittedZoo& zoo, const CalibrationSettings& calib);

// Selection happens on val, which is disjoint from cal, so it leaves the calibration's guarantee
// intact: each candidate is calibrated on val with the run's own mode (a cascade pays its δ/K
// there too). When no candidate passes there (and the mode is not already empirical), the
// ranking falls back to the point estimate on val — still val only. Returns the candidates with
// their val calibration and val metrics redone in that case, else unchanged.
std::vector<Candidate> with_val_fallback(std::vector<Candidate> candidates, double target,
                                         const RunPlan& plan, const PreparedData& prep,
                                         const FittedZoo& zoo, const CalibrationSettings& calib);

struct Selection {
  std::vector<std::size_t> front;  // the Pareto frontier of val coverage, agreement and cost
  // The deployed candidate: the frontier point with the most val coverage among those whose val
  // calibration holds (ties: the first in zoo × family order). −1: none.
  std::ptrdiff_t chosen = -1;
};

Selection select_on_val(const std::vector<Candidate>& candidates);

// What a target deploys: the chosen candidate's policy calibrated on cal when that calibration
// holds, else nothing (the teacher answers every query), and its test measurements.
struct Deployment {
  bool deployed = false;
  std::vector<Stage> stages;  // empty: teacher only
  Evaluated test;
  // The selected candidate's oracle coverage on test: the largest test coverage one hindsight
  // threshold on its first stage's score reaches with test agreement ≥ the target (NaN: nothing
  // selected). test.m.coverage / oracle_coverage is the calibration's efficiency.
  double oracle_coverage = std::numeric_limits<double>::quiet_NaN();
  // Guaranteed mode: the largest test coverage a calibration split of the deployed size could
  // certify (at its δ and min_accepted) if its rows agreed as the test rows do — the oracle
  // limited by the calibration split's size, so certified / this separates what the method
  // loses from what the size of the data set allows (NaN: empirical mode or nothing selected).
  double certifiable_coverage = std::numeric_limits<double>::quiet_NaN();
  // Guaranteed mode, a candidate selected but nothing certified on cal: why, in one line, and
  // the first stage's counts behind it (tests 0: no threshold accepted enough rows to test).
  std::string diagnostic;
  struct FirstTest {
    std::size_t cal_rows = 0, tests = 0, accepted = 0, agreed = 0, needed = 0;
    // The largest coverage a calibration split of cal_rows rows could certify if its rows
    // agreed as val's do (certifiable_coverage, core/routing/calibration.h).
    double certifiable_coverage = 0;
  } first_test;
};

// A candidate's first stage on test: its prediction, its score and whether the prediction agrees
// with the teacher, for every test row (what the oracle threshold, the risk–coverage curve and
// the audit read).
struct FirstStageView {
  std::vector<LabelId> pred;
  std::vector<float> score;
  std::vector<std::uint8_t> agrees;
};
FirstStageView first_stage_on_test(const Candidate& c, const FittedZoo& zoo, const Dataset& test);
// The same for every stage of the candidate's policy (one for global and l2d, K for rsb).
std::vector<FirstStageView> stages_on_test(const Candidate& c, const FittedZoo& zoo,
                                           const Dataset& test);

Deployment deploy(const std::vector<Candidate>& candidates, const Selection& selection,
                  const PreparedData& prep, const FittedZoo& zoo, double target,
                  const CalibrationSettings& calib, const FamilyOptions& pipeline);

}  // namespace deferbench
