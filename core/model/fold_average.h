// The deployed surrogate of a cross-fitted stage (core/routing/families.h, fit_cascade_cross):
// the mean of the K fold surrogates' probabilities. Each fold surrogate was trained on K − 1
// folds of the pool and predicted the remaining fold, so the acceptor, the threshold grid and the
// candidate selection learnt from out-of-fold outputs see models of the same strength as the
// deployed one (a model refitted on the whole pool would be more confident than the out-of-fold
// outputs it was calibrated from).
//
// Saved by the policy artifact as its members (one model file each, experiments/policy_io.cpp);
// it has no device form (a policy holding one is routed on the CPU).
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "core/model/classifier.h"

namespace deferbench {

class FoldAverage final : public Classifier {
 public:
  // ≥ 1 fitted members over the same label space.
  explicit FoldAverage(std::vector<std::shared_ptr<const Classifier>> members);

  void fit(const Dataset& train, const Dataset* val, const Context& ctx) override;  // throws
  Matrix predict_proba(MatrixView x, const Context& ctx) const override;
  void save(const std::filesystem::path& path) const override;  // throws: save the members
  std::string_view name() const override { return "fold_average"; }
  std::size_t n_classes() const override { return members_.front()->n_classes(); }

  const std::vector<std::shared_ptr<const Classifier>>& members() const { return members_; }

 private:
  std::vector<std::shared_ptr<const Classifier>> members_;
};

}  // namespace deferbench
