// A run of multi-expert deferral with costs (issue 16; DESIGN.md, "Multi-expert deferral"): the
// `experts` section of a config turns `deferbench run` into this. Each query goes to one choice
// — the surrogate (choice 0, the `model` group's model; optional) or one of the LLM experts whose
// answers or correctness the traces hold — and every method traces a cost–accuracy curve:
//
//   bayes_plugin  one `experts.estimator` classifier per choice estimates P(choice wrong | x) on
//                 train; route to argmin_j α_j · P̂_j(x) + λ β_j (the plug-in Bayes rejector);
//   two_stage     a (J+1)-way rejector (experts.rejector: logreg or mlp) trained with the comp-sum
//                 surrogate loss Σ_j (Σ_{k≠j} c_k) · CE(r(x), j) at each λ (consistent for the
//                 Bayes rejector);
//   cascade       FrugalGPT: the choices no other beats on val at no higher price, in price
//                 order; each stage is called and the query stops at the first whose estimated
//                 P(right | x) ≥ τ (the plug-in estimators), τ swept; a query pays for every
//                 stage it passes (its calls count every stage called);
//   random        each query to one of two neighbouring single choices at random, at matched
//                 expected price (the mixture hull of the single choices on val);
//   single        every query to one choice; oracle: the hindsight frontier (the cheapest right
//                 choice of each row), the lower bound of price at each accuracy.
//
// The surrogate learns the traces' teacher column (set it to the reference) and its correctness
// on train (what the estimators and the rejector learn from) is out-of-fold (experts.folds
// folds), as at deployment it answers queries it did not see. Prices are β per call (at λ = 1),
// reported per 1,000 queries. Deployments: a budget per 1,000 queries (the most accurate point
// within it on val, reported on test); an accuracy target with the guarantee
// P(accuracy < target) ≤ δ by fixed-sequence testing on cal along each curve from its safest
// point to its cheapest; and every point of the curve (experts.csv).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/experts/choices.h"
#include "experiments/run_output.h"
#include "experiments/run_settings.h"

namespace deferbench {

struct ExpertsSettings {
  bool surrogate = true;  // choice 0: the `model` group's surrogate
  ChoiceCost surrogate_cost{1.0, 0.0};
  std::string reference = "gold";  // gold | none (correctness columns only) | an expert's name
  std::vector<ExpertSpec> experts;
  std::vector<std::string> methods{"bayes_plugin", "two_stage", "cascade", "random"};
  std::vector<double> lambdas;  // empty: lambda_points on a log grid scaled to the β's
  int lambda_points = 16;
  std::vector<double> budgets;  // per 1,000 queries
  std::vector<double> targets;  // accuracy targets (the guarantee)
  double delta = 0.1;
  int folds = 5;
  YAML::Node estimator;  // bayes_plugin / cascade: a zoo model spec
  YAML::Node rejector;   // two_stage: logreg or mlp parameters

  // `path` names the section in errors ("experts").
  static ExpertsSettings from_yaml(const YAML::Node& node, const std::string& path);
};

// The λ grid of a run: experts.lambdas as given (sorted ascending), else 0 and lambda_points − 1
// values spaced geometrically from 0.01 · max α / (max β − min β) (price nearly ignored) to
// 2 · max α / (the least gap between two different β's) (any error is cheaper than a dearer
// call: the cheapest choice answers everything). Ascending = safest first.
std::vector<double> lambda_grid(const ExpertsSettings& es, const std::vector<ChoiceCost>& choices);

// Runs the experts pipeline for a run whose config has an `experts` section.
RunOutput compute_experts_run(const YAML::Node& config, const RunOptions& options);

// The run's summary on stdout (single choices, each method at the budgets and targets).
void print_experts_summary(const RunOutput& out, const std::filesystem::path& run_dir);

}  // namespace deferbench
