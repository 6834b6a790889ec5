// LibTorch glue of the dense models (models/dense): their CUDA half — inference on a GPU, the
// device form of a network, LibTorch training — behind a header free of LibTorch, so that the
// models call it without including LibTorch.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/data/dataset.h"
#include "core/data/matrix.h"
#include "core/model/device_model.h"
#include "core/util/context.h"
#include "core/util/lbfgs.h"
#include "models/dense/inference.h"
#include "models/dense/train.h"
#include "models/dense/warm_start.h"

namespace deferbench::torch_util {

using namespace deferbench::dense;

// DenseInference::predict_proba on ctx's (CUDA) device: chunks of chunk_rows rows through pinned
// memory, the layers copied to the device once and kept in the inference's device cache.
Matrix dense_predict_on_device(const DenseInference& inference, MatrixView x, const Context& ctx,
                               std::int64_t chunk_rows);

// `inference` as a device form: rows × inputs() float → rows × n_classes() probabilities, on the
// device of its input, in the inference's precision.
std::shared_ptr<const DeviceModel> dense_device_model(
    std::shared_ptr<const DenseInference> inference);

// The same training as train_adam_cpu (models/dense/train.h) through LibTorch autograd on ctx's
// device (torch_util::train_adam): the models' CUDA path, and on the CPU an independent
// implementation to check train_adam_cpu against. Same arguments; the data go to the device once.
// Targets of either kind, as train_adam_cpu takes them: class indices, or target weights (n × k,
// finite and ≥ 0: checked by the caller) whose row loss is Σ_j W_ij (−log softmax_j(z_i)), the
// batch loss its mean over the batch's rows, the validation loss its mean over the validation
// rows (x_val with no rows and empty y_val: no validation, the training objective is monitored).
AdamReport train_adam_libtorch(DenseWeights& net, Activation activation, MatrixView x,
                               const RowTargets& y, MatrixView x_val, const RowTargets& y_val,
                               const AdamOptions& options, const Context& ctx);

// Multinomial logistic regression by full-batch L-BFGS through LibTorch on ctx's device (the
// training data moved there once): mean cross-entropy + ‖W‖² / (2 C n), the options of
// core/util/lbfgs.h. The CUDA path of logreg's lbfgs solver. It starts from zeros, or from
// `start` (a warm start, compatible with train: dense::warm_mismatch) re-expressed for train's
// classes and standardization (dense::warm_weights).
struct LogRegFit {
  std::vector<std::int32_t> classes;
  std::vector<float> mean, scale;
  Matrix weight;  // k × d
  std::vector<float> bias;
  int iterations = 0;  // L-BFGS iterations run
};
LogRegFit fit_logreg_lbfgs(const Dataset& train, bool standardize, double C,
                           std::int64_t batch_rows, const LbfgsOptions& options, const Context& ctx,
                           const WarmStart* start = nullptr);

// The cost-weighted fit of LogReg::fit_cost_weighted on ctx's device: the objective of
// SoftmaxRegressionObjective with target weights (models/dense/train.h),
//   (1/n) Σ_i Σ_j W_ij (−log softmax_j(w x_i + b)) + ‖w‖² / (2 C n),
// by the L-BFGS of fit_logreg_lbfgs from zeros. x: n × d features as the model takes them
// (standardized by the caller); weights: n × k, finite and ≥ 0 (checked by the caller:
// dense::host_weighted_data, which also rejects rows summing to 0; here such a row adds nothing,
// and the minimizer does not depend on n); k = 1 leaves the zeros (as fit does).
// Fills weight (k × d), bias and iterations; classes, mean and scale are left empty (the
// caller's).
LogRegFit fit_logreg_lbfgs_weighted(MatrixView x, MatrixView weights, double C,
                                    std::int64_t batch_rows, const LbfgsOptions& options,
                                    const Context& ctx);

}  // namespace deferbench::torch_util
