// The `experts` section of a config (experiments/experts_run.h): the choices with their costs,
// the methods, the λ grid, the budgets and targets, and the estimator and rejector specs.
#pragma once

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/experts/choices.h"

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
  // two_stage: the rejector specs tried at every λ (experiments/experts_rejector.h): `rejector`
  // alone, or with `rejector_grid` one per element of the grid, the lowest val cost kept.
  std::vector<YAML::Node> rejectors;

  // `path` names the section in errors ("experts").
  static ExpertsSettings from_yaml(const YAML::Node& node, const std::string& path);
};

// The λ grid of a run: experts.lambdas as given (sorted ascending), else 0 and lambda_points − 1
// values spaced geometrically from 0.01 · max α / (max β − min β) (price nearly ignored) to
// 2 · max α / (the least gap between two different β's) (any error is cheaper than a dearer
// call: the cheapest choice answers everything). Ascending = safest first.
std::vector<double> lambda_grid(const ExpertsSettings& es, const std::vector<ChoiceCost>& choices);

}  // namespace deferbench
