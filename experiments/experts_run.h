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

#include "experiments/experts_settings.h"
#include "experiments/run_output.h"
#include "experiments/run_settings.h"

namespace deferbench {

// Runs the experts pipeline for a run whose config has an `experts` section.
RunOutput compute_experts_run(const YAML::Node& config, const RunOptions& options);

}  // namespace deferbench
