// A deployed multi-expert policy (issue 16; DESIGN.md, "Multi-expert deferral"): per query, which
// choice answers it — the surrogate (choice 0, when the policy has one) or one of the experts —
// and, where the surrogate was chosen, its answer.
//
// Two learned methods:
//   bayes_plugin  one estimator per choice of P(choice j is wrong | x): a 2-class Classifier over
//                 the label space {"right", "wrong"} (LabelSpace sorts names: "right" = 0,
//                 "wrong" = 1, so P̂_j(x) is column 1 of its predict_proba), or a constant
//                 estimate where the choice's training rows were all right or all wrong
//                 (estimators[j] null, constant_wrong[j] ∈ [0, 1]). Routes to
//                 argmin_j α_j · P̂_j(x) + λ · β_j (route_by_cost: ties to the cheaper β, then
//                 the lower index).
//   two_stage     a rejector: a Classifier over J + 1 classes (one per choice, in choice order);
//                 routes to the argmax of its predict_proba (ties: the lower index).
//
// Saved and loaded as a policy folder by experiments/expert_policy_io.h.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/data/label_space.h"
#include "core/data/matrix.h"
#include "core/experts/costs.h"
#include "core/model/classifier.h"
#include "core/util/context.h"

namespace deferbench {

inline constexpr std::string_view kBayesPlugin = "bayes_plugin";
inline constexpr std::string_view kTwoStage = "two_stage";

struct ExpertPolicy {
  std::string method;               // bayes_plugin | two_stage
  std::vector<std::string> names;   // one per choice, distinct; names[0] the surrogate's if any
  std::vector<ChoiceCost> choices;  // one per choice: α_j, β_j (≥ 0)
  double lambda = 1.0;              // the multiplier on every β (≥ 0): the deployed point
  bool has_surrogate = true;        // choice 0 is the surrogate (false: every choice an expert)
  std::shared_ptr<const Classifier> surrogate;  // the zoo model answering choice 0 (has_surrogate)
  // true (needs the surrogate): the estimators / the rejector read each row's features followed
  // by the surrogate's probability summary (surrogate_summary below), as experts runs train
  // them; the surrogate then sees every row. false: they read the features alone.
  bool surrogate_features = false;

  // bayes_plugin: one per choice; a null estimator uses constant_wrong[j] (one per choice; the
  // values of choices with an estimator are ignored).
  std::vector<std::shared_ptr<const Classifier>> estimators;
  std::vector<double> constant_wrong;

  // two_stage: the rejector, one class per choice.
  std::shared_ptr<const Classifier> rejector;

  std::size_t size() const { return choices.size(); }  // J + 1 (or J without a surrogate)
};

// The class of an estimator's label space that means "choice wrong" (see above).
inline constexpr LabelId kWrongClass = 1;

struct ExpertRouting {
  std::vector<int> choice;      // per row: the choice index, 0 … size() − 1
  std::vector<LabelId> answer;  // the surrogate's answer where it was chosen, else kNoLabel
};

// Throws deferbench::Error (one line naming the field and what was expected) unless: the method
// is bayes_plugin or two_stage; names and choices have one entry per choice (at least 2
// choices), names distinct and non-empty; every α, β and λ finite and ≥ 0; a surrogate exactly
// when has_surrogate; bayes_plugin: estimators and constant_wrong one per choice, each estimator
// 2 classes, each constant used in [0, 1], no rejector; two_stage: a rejector of size() classes,
// no estimators.
void validate_expert_policy(const ExpertPolicy& policy);

// Routes every row of x (validating the policy first). The estimators (bayes_plugin) or the
// rejector (two_stage) see every row, in one batch each. The surrogate sees every row when its
// summary is among the routers' inputs (surrogate_features) or when more than half the rows are
// routed to it (predicting them all costs less than copying them out); otherwise only the rows
// routed to it, gathered into one batch, so its cost scales with its share of the traffic.
// bayes_plugin estimators that are logistic regressions (Classifier::binary_logit) are
// evaluated together in one pass over the rows.
ExpertRouting route_experts(const ExpertPolicy& policy, MatrixView x, const Context& ctx);

// The expected cost of every choice on every row under bayes_plugin (rows × choices):
// α_j · P̂_j(x) + λ · β_j — what route_experts takes the argmin of. x: the estimators' inputs
// (with_surrogate_summary's output when surrogate_features).
Matrix expected_costs(const ExpertPolicy& policy, MatrixView x, const Context& ctx);

// What the routers see of the surrogate, per row of its probabilities: the top probability, its
// margin over the second, and the entropy over log(classes) (0 for one class): rows × 3.
inline constexpr std::size_t kSurrogateSummaryColumns = 3;
Matrix surrogate_summary(MatrixView proba);

// [x | surrogate_summary(proba)]: rows × (x.cols() + 3).
Matrix with_surrogate_summary(MatrixView x, MatrixView proba);

}  // namespace deferbench
