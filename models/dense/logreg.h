// Multinomial logistic regression: minimizes
//   C · Σ_i cross_entropy(W x_i + b, y_i) + ½‖W‖²
// (scikit-learn's LogisticRegression objective; the intercept is not penalized) on standardized
// features, over the classes present in training (the others get probability exactly 0).
//
// solver lbfgs (default): full-batch L-BFGS (strong-Wolfe line search, history 10, at most
// max_iter iterations and max_iter · 5/4 + 1 evaluations); the gradient is accumulated over row
// chunks of at most batch_rows rows, so memory stays bounded whatever the number of rows. The
// validation set is unused. On the CPU: core/util/lbfgs.h over the objective of dense_train.h
// (no LibTorch); on CUDA: torch::optim::LBFGS with the same settings (models/torch/dense_device.h).
// solver adam: minibatch Adam on the same objective divided by C·n (per batch: mean
// cross-entropy + ‖W‖² / (2 C n)), rows reshuffled every epoch, early stopping on the validation
// cross-entropy when a validation set is given (the best epoch's weights are kept) and on the
// training objective otherwise (dense_train.h: the CPU trainer, or LibTorch autograd on CUDA).
// Logistic regression is the
// no-hidden-layer case of the MLP (models/dense/mlp.h).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/model/classifier.h"
#include "core/model/params.h"
#include "core/util/lbfgs.h"
#include "models/dense/train.h"

namespace deferbench {
namespace dense {
class DenseInference;
struct WarmStart;
}  // namespace dense

enum class LogRegSolver { kLbfgs, kAdam };

struct LogRegParams {
  double C = 1.0;  // inverse regularization strength, as in scikit-learn
  LogRegSolver solver = LogRegSolver::kLbfgs;
  int max_iter = 100;       // lbfgs: iterations
  double tol = 1e-4;        // lbfgs: stop when the gradient's max-norm (scaled by 1/n) falls
                            // below; adam: the improvement an epoch needs to count
  bool standardize = true;  // learn mean / std on train
  int batch_rows = 65536;   // chunk size for gradients (lbfgs), validation loss and inference
  double lr = 1e-2;         // adam: learning rate
  int batch_size = 200;     // adam: rows per minibatch (capped at the training set's size)
  int max_epochs = 100;     // adam: epochs at most
  int patience = 10;        // adam: stop after more than this many epochs without improvement
  std::string precision = "fp32";  // inference arithmetic: fp32 or bf16 (training stays fp32)
  double warm_tol = 1e-3;          // lbfgs: tol of a fit that starts warm (see warm_start_from)

  // The keys, their ranges and docs (core/model/params.h); `name` is allowed besides.
  static const ParamTable<LogRegParams>& table();
  static LogRegParams from_yaml(const YAML::Node& node, const std::string& path);
};

class LogReg final : public Classifier {
 public:
  using Params = LogRegParams;
  explicit LogReg(LogRegParams params);
  ~LogReg() override;

  void fit(const Dataset& train, const Dataset* val, const Context& ctx) override;

  // Warm start (issue 17): true when `previous` is a fitted LogReg with the same parameters (every
  // one of the table, precision included) and, when this model is fitted too, the same input width
  // and label space size; it then keeps a copy of previous's weights and standardization for the
  // next fit, which starts from them instead of from zeros (both solvers, CPU and CUDA). False
  // changes nothing. previous may be this model (a refit in place) or one loaded from a file.
  //
  // The next fit standardizes with its own training data's statistics, as a cold fit does, and
  // starts from previous's weights re-expressed under them (dense::warm_weights: W' = W ⊙ s / s',
  // b' = b + W (s ⊙ (μ' − μ))), so its first iterate is previous's function of the raw features
  // (up to float rounding). Keeping previous's standardization instead would change the problem:
  // the penalty ½‖W‖² is on the standardized weights, so the fit would converge to another model
  // than a cold fit on the same data (and stale statistics drift as rows arrive). Re-expressed,
  // the warm fit minimizes the same convex objective as a cold one and only its starting point
  // differs. Classes follow their global ids: one new in the training set starts at zero
  // weights, one absent from it is dropped.
  //
  // What it saves (benchmarks/bench_warm_start.cpp): L-BFGS's descent from zeros, and with
  // warm_tol its slow approach to tol. At the same tol, on 100,000 rows × 64, 10 classes, a cold
  // fit takes 32 iterations and a warm one 23 after 50,000 new rows (18 after 10,000): from the
  // warm start's objective value the cold fit too needed 23 more, and carrying L-BFGS's
  // curvature pairs over did not help (measured: 25 and 13 iterations; on an ill-conditioned
  // quadratic it doubled them). So an L-BFGS fit that starts warm stops at warm_tol (default
  // 1e-3) instead of tol (1e-4): the gradient's max-norm of the mean loss has a standard error
  // of about 0.3/√n per coordinate (≈ 1e-3 at 100,000 rows, more on fewer), so a warm start
  // within warm_tol of stationarity is at the optimum up to the noise of the data — on the
  // benchmark 4 iterations after 50,000 new rows and none after 10,000, with held-out loss equal
  // to a cold fit's to 1e-4 (tests/models/dense/test_warm_start.cpp). Set warm_tol = tol for the
  // cold fit's stopping rule. warm_tol is the last parameter of the model file and may be absent
  // (files saved before it: the default). Adam keeps its patience (LogReg has no warm_patience).
  //
  // The next fit (or fit_cost_weighted, which always starts cold) consumes the warm start. When
  // its training set's width or label space size differs from previous's, that fit starts cold
  // (warm_started() false), as a fit without warm start would.
  bool warm_start_from(const Classifier& previous) override;
  // Whether the last fit started from a warm start, and the L-BFGS iterations it ran (0 for adam:
  // see epochs_run()).
  bool warm_started() const override { return warm_started_; }
  int iterations() const { return iterations_; }

  // Fits the rejector of multi-expert deferral (issue 16; core/experts/costs.h): every column of
  // `weights` (ω, n × k, k = weights.cols() choices) is a class, classes() = 0 … k − 1 and
  // n_classes() = k, and the model minimizes the cost-weighted (comp-sum) cross-entropy
  //   C · Σ_i Σ_j ω_ij · CE(W x_i + b, j) + ½‖W‖²,   CE(z, j) = ln Σ_c e^{z_c} − z_j
  // (dense::SoftmaxRegressionObjective with target weights ω, divided by C·n as fit does: the
  // mean weighted cross-entropy + ‖W‖² / (2 C n)). Without regularization its minimizer over all
  // functions is p_j(x) = E[ω_j | x] / E[Σ_l ω_l | x] (at constant features: p_j =
  // Σ_i ω_ij / Σ_ij ω_ij); with ω = comp_sum_weights(costs), i.e. ω_ij = Σ_{l≠j} c_il, the
  // argmax of p is the Bayes rejector argmin_j E[c_j | x] (ω_j = Σ_l c_l − c_j). One-hot
  // weights give fit on those labels (when every class occurs).
  //
  // Standardization per params().standardize (mean / std of x, on the host); L-BFGS with fit's
  // options, as fit runs it: on the CPU core/util/lbfgs.h (ctx.threads threads; the result does
  // not depend on their number), on CUDA LibTorch's (torch_util::fit_logreg_lbfgs_weighted; the
  // same objective in float, so the same optimum to float rounding and the tolerances).
  // Afterwards the model is an ordinary LogReg over k classes: predict_proba, save / load and
  // device_model work as after fit. Errors (deferbench::Error): solver adam (only lbfgs supports
  // cost weights), no rows or no columns, row counts that differ, a weight that is negative or
  // not finite, a row whose weights sum to 0 (each names the row).
  void fit_cost_weighted(MatrixView x, MatrixView weights, const Context& ctx);
  Matrix predict_proba(MatrixView x, const Context& ctx) const override;
  void save(const std::filesystem::path& path) const override;
  std::string_view name() const override { return "logreg"; }
  std::size_t n_classes() const override { return n_classes_; }

  // The fitted state in a model file (core/model/model_file.h).
  void save_state(BinaryWriter& w) const;
  void load_state(BinaryReader& r);

  const LogRegParams& params() const { return params_; }
  // adam: epochs run by the last fit, and the 1-based epoch whose weights were kept (0 for lbfgs).
  int epochs_run() const { return epochs_run_; }
  int best_epoch() const { return best_epoch_; }
  // The fitted model, for inspection: p = softmax(W ((x − mean) ⊙ scale) + b) over classes().
  const std::vector<std::int32_t>& classes() const { return classes_; }
  const Matrix& weight() const { return weight_; }
  const std::vector<float>& bias() const { return bias_; }
  const std::vector<float>& mean() const { return mean_; }
  const std::vector<float>& scale() const { return scale_; }

  std::shared_ptr<const DeviceModel> device_model() const override;
  // Two classes both seen in training, fp32 inference: (W_1 − W_0) ⊙ scale and
  // b_1 − b_0 − Σ (W_1 − W_0) ⊙ scale ⊙ mean.
  std::optional<AffineLogit> binary_logit() const override;

 private:
  LogRegParams params_;
  std::size_t n_classes_ = 0;          // global label space size
  std::vector<std::int32_t> classes_;  // global ids of the classes seen in training
  std::vector<float> mean_, scale_;    // standardization (scale = 1/std)
  Matrix weight_;                      // classes_.size() × d
  std::vector<float> bias_;            // classes_.size()
  int epochs_run_ = 0, best_epoch_ = 0, iterations_ = 0;
  bool warm_started_ = false;
  std::shared_ptr<const dense::WarmStart> warm_;  // set by warm_start_from until the next fit
  // Inference (standardization folded in), built after fit and load.
  std::shared_ptr<const dense::DenseInference> infer_;
  void make_inference();
  // The pending warm start when it suits `d` columns over `n_classes` classes, else null; in
  // either case there is none pending afterwards and warm_started_ says which.
  std::shared_ptr<const dense::WarmStart> take_warm_start(std::size_t d, std::size_t n_classes);
  // weight_ (k × d) and bias_ (k) from L-BFGS's parameters (W row-major, then b).
  void set_linear(const std::vector<double>& params, std::size_t k, std::size_t d);
  // L-BFGS's settings; warm: for a fit that starts warm (tol → warm_tol).
  LbfgsOptions lbfgs_options(bool warm = false) const;
  dense::AdamOptions adam_options(std::size_t n, const Context& ctx) const;
};

}  // namespace deferbench
