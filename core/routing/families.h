// The pipeline families built from fitted stages (DESIGN.md "The method in one page"):
//   global — the stage-1 surrogate alone: accept all iff the bound on its agreement ≥ target;
//   l2d    — stage 1: surrogate + acceptor + threshold;
//   rsb    — a cascade of K stages: stage k's surrogate is trained on the training rows the
//            previous stage is least sure of, with its own acceptor and threshold.
//
// Fits are target independent and done once (fit_cascade); a target costs only calibration
// (build_policy). The residual set of stage k ≥ 2 is the share `residual_quantile` of rows with
// the lowest stage-(k−1) acceptor scores, on train (its surrogate) and on val (its acceptor), so
// it does not depend on the target.
//
// The guarantee of a cascade. Stage k is calibrated on the calibration rows that stages < k
// reject, at level δ/K. With probability ≥ 1 − δ (union bound), every stage's accepted
// population has agreement ≥ target; handled traffic is a mixture of these populations, and a
// mixture of populations each ≥ target is ≥ target. (The calibration rows of stage k are
// selected by the thresholds of stages < k, which were fitted on the same calibration split;
// `cal_folds: disjoint` gives each stage its own fold of the calibration split, which removes
// that dependence at the price of fewer rows per stage.)
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/data/dataset.h"
#include "core/routing/family.h"
#include "core/routing/policy.h"

namespace deferbench {

using ModelFactory =
    std::function<std::unique_ptr<Classifier>(const YAML::Node& spec, const std::string& path)>;

struct FamilyOptions {
  std::vector<std::string> families{"global", "l2d", "rsb"};
  std::vector<YAML::Node> zoo;  // surrogate specs besides the `model` group's
  double teacher_cost = 1.0;    // per teacher call
  double surrogate_cost = 0.0;  // per surrogate answer
  AcceptorOptions acceptor;
  int rsb_stages = 2;               // K ≥ 2
  YAML::Node rsb_model;             // surrogate of stages ≥ 2; empty: the stage-1 model
  double residual_quantile = 0.5;   // share of rows passed on to the next stage's training
  std::size_t rsb_min_rows = 50;    // fewer residual training rows: the cascade stops there
  bool disjoint_cal_folds = false;  // rsb: one calibration fold per stage
  int ood_k = 0;                    // OOD guard: k-th neighbour distance (0: no guard)
  double ood_quantile = 0.99;       // guard threshold: this quantile of val distances
  // Cross-fitting (fit_cascade_cross) when train ∪ val has at most cross_fit_max_rows rows
  // (0: any size); cross_fit_folds < 2: never.
  int cross_fit_folds = 5;
  std::size_t cross_fit_max_rows = 5000;
  // Where the val split's rows go when cross-fitting: "cal" (the acceptor no longer needs them,
  // and a larger calibration split certifies more) or "train" (the pool).
  std::string cross_fit_val_rows = "cal";
  // The acceptor's kNN feature when cross-fitting (in place of acceptor.knn; 0: off). Off by
  // default: with a few hundred training rows over tens of classes the k nearest rows mostly
  // carry other labels, and the feature adds noise to an acceptor learnt from as few rows
  // (results/small_n/README.md: +5 to +11% certified coverage at n = 1,000, level at 2,000 and
  // 4,000).
  int cross_fit_knn = 0;

  // The `pipeline` section: keys families (list of global, l2d, rsb), zoo (list of model names
  // or mappings), selection (val), teacher_cost, surrogate_cost, acceptor (mapping), rsb
  // (mapping: stages, model, residual_quantile, min_rows, cal_folds: shared|disjoint), ood
  // (mapping: k, quantile), cross_fit (mapping: folds, max_rows,
  // val_rows: cal|train, knn).
  static FamilyOptions from_yaml(const YAML::Node& node, const std::string& path);
};

// Fits stage 1 (surrogate on train, acceptor on val) and, when stages > 1, the RSB stages.
// `train_index`, when given, is the kNN index over `train` for stage 1: sharing one across the
// surrogates of a zoo shares its memoized neighbour searches (null: one is built here).
// `warm_start`, when given, is a previous stage-1 surrogate the new one continues from where the
// model allows (Classifier::warm_start_from; FittedStage::warm_started says whether it did).
std::vector<FittedStage> fit_cascade(const YAML::Node& spec, int stages, const Dataset& train,
                                     const Dataset& val, const Dataset& cal,
                                     const FamilyOptions& options, const ModelFactory& factory,
                                     const Context& ctx,
                                     std::shared_ptr<const NeighbourIndex> train_index = nullptr,
                                     const Classifier* warm_start = nullptr);

// Cross-fitting (issue 19: small trace sets). The pool is the training split (prepare_data adds
// the val split's rows to it, or by default to the calibration split); K folds of it (stratified
// by teacher label, seeded by `fold_seed`, so every surrogate of a zoo sees the same folds) give
// every pool row an
// out-of-fold surrogate prediction and acceptor features (fold surrogates trained on the other
// K − 1 folds), the acceptor is trained on all of them, K fold acceptors give every row an
// out-of-fold acceptor SCORE, and the deployed surrogate averages the fold surrogates. The
// returned stages' `val` outputs are these out-of-fold outputs over the pool rows, so the grid,
// its start and the candidate selection read honest scores from every non-calibration row
// instead of in-sample scores on val alone (the fold acceptor's inputs on other folds came from
// surrogates that saw the held fold, so the scores are out of fold at first order only: the grid
// and the selection may be slightly optimistic, never the guarantee); no calibration row enters
// any fit, so the guarantee is exactly fit_cascade's. Fold surrogates are fitted without early
// stopping rows (gbt, xgb and the MLPs run their configured rounds / epochs). RSB stages k ≥ 2 are
// cross-fitted on the residual pool rows chosen by the previous stage's out-of-fold scores. The
// deployed surrogate is the fold surrogates' average (core/model/fold_average.h), its kNN feature
// and guard search fold 1's training rows: both match what the acceptor learnt from. Costs K
// surrogate fits per stage.
std::vector<FittedStage> fit_cascade_cross(const YAML::Node& spec, int stages, const Dataset& pool,
                                           const Dataset& cal, int folds,
                                           const FamilyOptions& options,
                                           const ModelFactory& factory, const Context& ctx,
                                           std::uint64_t fold_seed);

// The stages fit_cascade must fit for `options.families`: the most any of them uses.
int stages_to_fit(const FamilyOptions& options);

// Builds a family's policy at `target`: thresholds calibrated on the chosen split
// (routing_family(family).build; an unknown family throws deferbench::Error).
BuiltPolicy build_policy(const std::string& family, const std::vector<FittedStage>& fitted,
                         const Dataset& val, const Dataset& cal, double target,
                         const CalibrationSettings& settings, const FamilyOptions& options,
                         CalibrateOn on, std::uint64_t seed);

}  // namespace deferbench
