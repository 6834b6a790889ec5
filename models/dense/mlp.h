// Multi-layer perceptron surrogates with scikit-learn's MLPClassifier meaning:
// hidden layers with an activation (relu), softmax output, Adam (lr 1e-3, default betas) on
// minibatches of min(batch_size, n) rows reshuffled every epoch, minimizing per batch
//   mean cross-entropy + alpha / (2 · batch rows) · Σ‖W‖²
// (biases not penalized), Glorot-uniform initial weights. Features go in as they are, as in
// MLPClassifier (standardize: true learns a mean / std on train; on LSA features it cost 1.6
// points of accuracy on banking77: 0.870 vs 0.886 for mlp_1h). Early stopping as scikit-learn's
// n_iter_no_change / tol, on the validation cross-entropy when fit() gets a validation set (keeping
// the best epoch's weights), on the training loss otherwise. Classes absent from training get
// probability exactly 0.
//
// Registered as mlp_1h (hidden [256]) and mlp_2h (hidden [256, 96]); `hidden` overrides.
// On the CPU the fit runs the trainer of dense_train.h (fused forward / backward / Adam kernels,
// no LibTorch, the weights independent of the thread count); on CUDA it runs LibTorch autograd
// with the training data moved to the device once per fit. Both start from the same weights and
// draw the same minibatches. Inference: dense_inference.h (CUDA: chunks of batch_rows rows;
// precision: bf16 runs it in bfloat16, emulated on the CPU).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/model/classifier.h"
#include "core/model/params.h"

namespace deferbench {
namespace dense {
class DenseInference;
struct HostTrainingData;
struct WarmStart;
}  // namespace dense

struct MlpParams {
  std::vector<int> hidden = {256};  // hidden layer widths; [] is logistic regression
  std::string activation = "relu";  // relu, tanh or logistic
  double alpha = 1e-4;              // L2 penalty, as scikit-learn's
  double lr = 1e-3;                 // Adam learning rate
  int batch_size = 200;             // rows per minibatch (capped at the training set's size)
  int max_epochs = 200;             // scikit-learn's max_iter
  int patience = 10;                // scikit-learn's n_iter_no_change
  int warm_patience = 1;            // patience of a fit that starts warm (warm_start_from)
  double tol = 1e-4;                // the improvement an epoch needs to count
  bool standardize = false;         // true: learn mean / std on train
  int batch_rows = 65536;           // rows per chunk for the validation loss and inference
  std::string precision = "fp32";   // inference arithmetic: fp32 or bf16 (training stays fp32)

  // The keys, their ranges and docs (core/model/params.h); `name` is allowed besides.
  static const ParamTable<MlpParams>& table();
  // `defaults` supplies what is absent (the registered name's hidden sizes).
  static MlpParams from_yaml(const YAML::Node& node, const std::string& path,
                             const MlpParams& defaults);
  // The defaults with these hidden layer widths (a registered name's defaults).
  static MlpParams with_hidden(std::vector<int> hidden);
};

class Mlp final : public Classifier {
 public:
  using Params = MlpParams;
  // `name` is the registered name the model is saved under (mlp_1h, mlp_2h).
  Mlp(std::string name, MlpParams params);
  ~Mlp() override;

  void fit(const Dataset& train, const Dataset* val, const Context& ctx) override;

  // Warm start (issue 17): true when `previous` is a fitted Mlp with the same parameters (every
  // one of the table: hidden sizes, activation, Adam's settings, standardize, precision...) and,
  // when this model is fitted too, the same input width and label space size; it then keeps a
  // copy of previous's network for the next fit, which trains from those weights instead of
  // Glorot's (Adam's moments start at zero, the minibatches are drawn as in a cold fit). False
  // changes nothing. previous may be this model (a refit in place) or one loaded from a file.
  //
  // How long: the warm fit stops early as a cold one does (on the validation cross-entropy when
  // fit() gets a validation set, keeping the best epoch's weights; on the training loss
  // otherwise), with warm_patience (default 1) in place of patience (10): it starts from a model
  // that already fits most of the data, so it stops after warm_patience + 1 epochs in a row
  // without a gain of tol. A cold fit pays patience + 1 such epochs after its best one (on the
  // 100,000-row benchmark, 11 of its 14 epochs: it peaks at epoch 3, and so does the warm fit,
  // which runs 5 epochs after 50,000 new rows, 4 after 10,000; benchmarks/bench_warm_start.cpp).
  // An epoch cap instead would cut a warm fit short where the new rows move the optimum far
  // (tens of epochs to the best one on small data sets); with warm_patience 0 it stops at the
  // first epoch without a gain, which cost up to 0.01 of held-out log-loss against
  // warm_patience 1 in our runs on synthetic data.
  //
  // With standardize: true, the next fit standardizes with its own training statistics and the
  // first layer is re-expressed under them so that the network starts as previous's function
  // of the raw features, up to float rounding (dense::warm_weights; LogReg::warm_start_from
  // says why). Output rows follow the global class ids (a class new to the training set starts
  // at zero weights, one absent from it is dropped).
  //
  // The next fit (or fit_cost_weighted, which always starts cold) consumes the warm start. When
  // its training set's width or label space size differs from previous's, that fit starts cold
  // (warm_started() false), as a fit without warm start would.
  bool warm_start_from(const Classifier& previous) override;
  // Whether the last fit started from a warm start (its epochs: epochs_run()).
  bool warm_started() const override { return warm_started_; }

  // Fits the rejector of multi-expert deferral (issue 16; core/experts/costs.h) as
  // LogReg::fit_cost_weighted does, with this network: every column of `weights` (ω, n × k, k =
  // weights.cols() choices) is a class, classes() = 0 … k − 1 and n_classes() = k (a choice whose
  // column is all zero is still a class), and the training minimizes per minibatch the
  // cost-weighted (comp-sum) cross-entropy
  //   (1/rows) Σ_i Σ_j ω_ij · CE(r(x_i), j) + alpha / (2 · rows) · Σ‖W‖²,   CE(z, j) = lse(z) − z_j
  // (dense::RowTargets with target weights in train_adam_cpu). Its minimizer over all functions is
  // p_j(x) = E[ω_j | x] / E[Σ_l ω_l | x] (at constant features: p_j = Σ_i ω_ij / Σ_ij ω_ij); with
  // ω = comp_sum_weights(costs) the argmax of p is the Bayes rejector argmin_j E[c_j | x], which
  // a network can represent where a linear model cannot (e.g. a choice per interval of one
  // feature). One-hot weights train exactly as fit on those (compact) labels: the same network bit
  // for bit on the CPU, to float rounding on CUDA (same ctx.seed, every class present, no
  // validation set).
  //
  // Everything as fit (standardization per params().standardize, the initial weights, the
  // minibatches, Adam and its options), except: there is no validation set, so early stopping
  // watches the training objective and the last epoch's weights are kept. As fit, it runs the CPU
  // trainer (ctx.threads threads; the weights do not depend on their number) on the CPU and
  // LibTorch autograd (torch_util::train_adam_libtorch with the weights as targets) on CUDA.
  // Afterwards the model is an ordinary Mlp over k classes: predict_proba, save / load and
  // device_model work as after fit. Errors (deferbench::Error, the message naming the model): no
  // rows or no weight columns, row counts that differ, a weight that is negative or not finite
  // (naming its row and choice), a row whose weights sum to 0 (naming the row).
  void fit_cost_weighted(MatrixView x, MatrixView weights, const Context& ctx);
  Matrix predict_proba(MatrixView x, const Context& ctx) const override;
  void save(const std::filesystem::path& path) const override;
  std::string_view name() const override { return name_; }
  std::size_t n_classes() const override { return n_classes_; }

  // The fitted state in a model file (core/model/model_file.h).
  void save_state(BinaryWriter& w) const;
  void load_state(BinaryReader& r);

  const MlpParams& params() const { return params_; }
  const std::vector<std::int32_t>& classes() const { return classes_; }
  // The last fit: epochs run, the 1-based epoch whose weights were kept, whether it stopped
  // before max_epochs, and the per-epoch losses (validation empty without a validation set).
  int epochs_run() const { return epochs_run_; }
  int best_epoch() const { return best_epoch_; }
  bool stopped_early() const { return stopped_early_; }
  const std::vector<double>& train_loss() const { return train_loss_; }
  const std::vector<double>& val_loss() const { return val_loss_; }
  // Layer weights (out × in) and biases, input layer first.
  const std::vector<Matrix>& weights() const { return weights_; }
  const std::vector<std::vector<float>>& biases() const { return biases_; }

  std::shared_ptr<const DeviceModel> device_model() const override;

 private:
  std::string name_;
  MlpParams params_;
  std::size_t n_classes_ = 0;
  std::vector<std::int32_t> classes_;  // global ids of the classes seen in training
  std::vector<float> mean_, scale_;    // standardization (scale = 1/std)
  std::vector<Matrix> weights_;
  std::vector<std::vector<float>> biases_;
  int epochs_run_ = 0, best_epoch_ = 0;
  bool stopped_early_ = false, warm_started_ = false;
  std::shared_ptr<const dense::WarmStart> warm_;  // set by warm_start_from until the next fit
  std::vector<double> train_loss_, val_loss_;
  // Inference (standardization folded in), built after fit and load.
  std::shared_ptr<const dense::DenseInference> infer_;
  void make_inference();
  // What fit and fit_cost_weighted share: from data's classes, standardization and features, the
  // initial weights (warm_weights of `warm` when not null, else Glorot's), the training (targets
  // data.y, or `weights` when it has rows: then without validation; on the CPU trainer or, on
  // CUDA, LibTorch's) and the report; then make_inference.
  // n_classes_ and warm_started_ are set by the caller.
  void train_network(const dense::HostTrainingData& data, MatrixView weights,
                     const dense::WarmStart* warm, const Context& ctx);
};

}  // namespace deferbench
