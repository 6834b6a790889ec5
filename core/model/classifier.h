// The surrogate zoo's one interface. Every model predicts over the *global* label space of its
// training data: a model trained on a subset of the classes gives the others probability zero.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/data/dataset.h"
#include "core/data/matrix.h"
#include "core/util/context.h"

namespace deferbench {

class DeviceModel;  // core/model/device_model.h

class Classifier {
 public:
  virtual ~Classifier() = default;
  // Fits on train.features → train.teacher. `val` (may be null) serves early stopping.
  virtual void fit(const Dataset& train, const Dataset* val, const Context& ctx) = 0;
  // rows × n_classes probabilities (rows sum to 1) over the global label space.
  virtual Matrix predict_proba(MatrixView x, const Context& ctx) const = 0;
  virtual void save(const std::filesystem::path& path) const = 0;
  virtual std::string_view name() const = 0;
  virtual std::size_t n_classes() const = 0;

  // The model's prediction as tensor operations, for a policy routed whole on a device
  // (models/torch/device_policy.h); null when the model has no such form. The form holds what it
  // needs (the model may be destroyed first) and caches its tensors per device.
  virtual std::shared_ptr<const DeviceModel> device_model() const { return nullptr; }

  // A two-class model whose log-odds of class 1 over class 0 is affine in the raw input,
  // log(p_1 / p_0) = w·x + b (logistic regression, standardization folded in): what lets many
  // such models be evaluated in one pass over the rows (core/experts/expert_policy.h). nullopt
  // for any other model.
  struct AffineLogit {
    std::vector<float> w;
    double b = 0;
  };
  virtual std::optional<AffineLogit> binary_logit() const { return std::nullopt; }

  // Warm start (issue 17, online refits): the next fit() starts from `previous`'s parameters
  // instead of from scratch when both are the same kind of model with the same settings, input
  // width and label space. Returns false and changes nothing otherwise (the next fit() is cold).
  virtual bool warm_start_from(const Classifier& previous) {
    (void)previous;
    return false;
  }
  // Whether the last fit() started from a warm start. A model that accepted one may still fit
  // cold when the training set does not suit the previous model (another width or label space;
  // for boosting, another set of classes present): what a caller reports is this.
  virtual bool warm_started() const { return false; }

  // argmax of predict_proba (ties: the lowest id).
  std::vector<LabelId> predict(MatrixView x, const Context& ctx) const;
};

// The argmax of each row (ties: the lowest column).
std::vector<LabelId> argmax_rows(MatrixView proba);

}  // namespace deferbench
