#include "models/dense/logreg.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "core/data/binary_io.h"
#include "core/model/model_file.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"
#include "core/util/lbfgs.h"
#include "models/dense/host_data.h"
#include "models/dense/inference.h"
#include "models/dense/warm_start.h"
#include "models/torch/dense_device.h"

namespace deferbench {

const ParamTable<LogRegParams>& LogRegParams::table() {
  using P = LogRegParams;
  static const ParamTable<P> t =
      ParamTable<P>()
          .real("C", &P::C, 1e-6, 1e6, "inverse regularization strength, as in scikit-learn")
          .enumeration("solver", &P::solver,
                       {{"lbfgs", LogRegSolver::kLbfgs}, {"adam", LogRegSolver::kAdam}},
                       "full-batch L-BFGS or minibatch Adam")
          .integer("max_iter", &P::max_iter, 1, 100000, "lbfgs: iterations at most")
          .real("tol", &P::tol, 0.0, 1.0,
                "lbfgs: gradient max-norm (scaled by 1/n) to stop at; adam: the improvement an "
                "epoch needs to count")
          .boolean("standardize", &P::standardize, "learn mean / std on train")
          .integer("batch_rows", &P::batch_rows, 1, 1 << 24,
                   "chunk size for gradients (lbfgs), validation loss and inference")
          .real("lr", &P::lr, 1e-6, 10.0, "adam: learning rate")
          .integer("batch_size", &P::batch_size, 1, 1 << 24, "adam: rows per minibatch")
          .integer("max_epochs", &P::max_epochs, 1, 100000, "adam: epochs at most")
          .integer("patience", &P::patience, 0, 100000,
                   "adam: epochs without improvement before stopping")
          .choice("precision", &P::precision, {"fp32", "bf16"},
                  "inference arithmetic (training stays fp32)")
          .optional_in_files_from_here()
          .real("warm_tol", &P::warm_tol, 0.0, 1.0,
                "lbfgs: the tol of a fit that starts warm (warm_start_from)");
  return t;
}

LogRegParams LogRegParams::from_yaml(const YAML::Node& node, const std::string& path) {
  return read_params(table(), node, path);
}

LogReg::LogReg(LogRegParams params) : params_(params) {}
LogReg::~LogReg() = default;

namespace {

// The L-BFGS parameters (W row-major, then b) of a network without hidden layer.
std::vector<double> linear_params(const dense::DenseWeights& net) {
  const Matrix& w = net.weights.front();
  std::vector<double> params(w.data(), w.data() + w.size());
  params.insert(params.end(), net.biases.front().begin(), net.biases.front().end());
  return params;
}

}  // namespace

bool LogReg::warm_start_from(const Classifier& previous) {
  const auto* prev = dynamic_cast<const LogReg*>(&previous);
  if (prev == nullptr || prev->classes_.empty() ||
      !same_params(LogRegParams::table(), params_, prev->params_))
    return false;
  dense::WarmStart start{prev->n_classes_, prev->classes_, prev->mean_, prev->scale_, {}};
  start.net.weights = {prev->weight_};
  start.net.biases = {prev->bias_};
  auto handed = dense::hand_over(std::move(start), !classes_.empty(), mean_.size(), n_classes_);
  if (!handed) return false;
  warm_ = std::move(handed);
  return true;
}

std::shared_ptr<const dense::WarmStart> LogReg::take_warm_start(std::size_t d,
                                                                std::size_t n_classes) {
  std::shared_ptr<const dense::WarmStart> start = std::move(warm_);
  warm_.reset();
  if (start && !dense::warm_mismatch(*start, d, n_classes).empty()) start.reset();
  warm_started_ = start != nullptr;
  return start;
}

void LogReg::fit(const Dataset& train, const Dataset* val, const Context& ctx) {
  n_classes_ = train.n_classes();
  epochs_run_ = best_epoch_ = iterations_ = 0;
  const std::shared_ptr<const dense::WarmStart> warm =
      take_warm_start(train.features.cols(), n_classes_);
  const bool adam = params_.solver == LogRegSolver::kAdam;
  if (!ctx.is_cuda() || adam) {
    // No LibTorch in the loop (dense_train.h, core/util/lbfgs.h), except Adam on CUDA.
    dense::HostTrainingData data =
        dense::host_training_data(train, adam ? val : nullptr, params_.standardize, "logreg");
    classes_ = data.classes;
    mean_ = data.mean;
    scale_ = data.scale;
    const std::size_t n = train.size(), d = train.features.cols(), k = classes_.size();
    if (adam) {
      dense::DenseWeights net = warm ? dense::warm_weights(*warm, classes_, mean_, scale_)
                                     : dense::initial_weights(d, {}, k, dense::Activation::kRelu,
                                                              dense::Init::kZeros, ctx.seed);
      if (k > 1) {
        const dense::Activation none = dense::Activation::kRelu;  // no hidden layer
        const dense::AdamReport report =
            ctx.is_cuda() ? torch_util::train_adam_libtorch(net, none, data.x, data.y, data.x_val,
                                                            data.y_val, adam_options(n, ctx), ctx)
                          : dense::train_adam_cpu(net, none, data.x, data.y, data.x_val, data.y_val,
                                                  adam_options(n, ctx), ctx.threads);
        epochs_run_ = report.epochs;
        best_epoch_ = report.best_epoch;
      }
      weight_ = std::move(net.weights.front());
      bias_ = std::move(net.biases.front());
    } else {
      // Objective scaled by 1/(C n): mean cross-entropy + ‖W‖² / (2 C n). Same minimizer.
      std::vector<double> params =
          warm ? linear_params(dense::warm_weights(*warm, classes_, mean_, scale_))
               : std::vector<double>(k * d + k, 0.0);
      if (k > 1) {
        dense::SoftmaxRegressionObjective objective(
            data.x, data.y, k, 1.0 / (2.0 * params_.C * static_cast<double>(n)),
            static_cast<std::size_t>(params_.batch_rows), ctx.threads);
        iterations_ =
            lbfgs_minimize(std::ref(objective), params, lbfgs_options(warm != nullptr)).iterations;
      }
      set_linear(params, k, d);
    }
    make_inference();
    return;
  }

  // L-BFGS on CUDA: LibTorch (models/torch/dense_device.h).
  torch_util::LogRegFit fit =
      torch_util::fit_logreg_lbfgs(train, params_.standardize, params_.C, params_.batch_rows,
                                   lbfgs_options(warm != nullptr), ctx, warm.get());
  classes_ = std::move(fit.classes);
  mean_ = std::move(fit.mean);
  scale_ = std::move(fit.scale);
  weight_ = std::move(fit.weight);
  bias_ = std::move(fit.bias);
  iterations_ = fit.iterations;
  make_inference();
}

void LogReg::fit_cost_weighted(MatrixView x, MatrixView weights, const Context& ctx) {
  DB_CHECK(params_.solver == LogRegSolver::kLbfgs,
           "logreg: only solver lbfgs supports cost weights (fit_cost_weighted), not adam");
  // Checked, and standardized as fit does (dense::host_weighted_data).
  dense::HostTrainingData data =
      dense::host_weighted_data(x, weights, params_.standardize, "logreg");
  const std::size_t n = x.rows(), d = x.cols(), k = weights.cols();
  n_classes_ = k;
  classes_ = std::move(data.classes);
  mean_ = std::move(data.mean);
  scale_ = std::move(data.scale);
  epochs_run_ = best_epoch_ = iterations_ = 0;
  warm_.reset();  // cost-weighted fits start cold
  warm_started_ = false;
  // The same scaling as fit: divided by C n, mean weighted cross-entropy + ‖W‖² / (2 C n).
  if (ctx.is_cuda()) {
    // L-BFGS on CUDA: LibTorch (models/torch/dense_device.h), as fit.
    torch_util::LogRegFit fit = torch_util::fit_logreg_lbfgs_weighted(
        data.x, weights, params_.C, params_.batch_rows, lbfgs_options(), ctx);
    weight_ = std::move(fit.weight);
    bias_ = std::move(fit.bias);
    iterations_ = fit.iterations;
    make_inference();
    return;
  }
  std::vector<double> params(k * d + k, 0.0);
  if (k > 1) {
    dense::SoftmaxRegressionObjective objective(
        data.x, weights, 1.0 / (2.0 * params_.C * static_cast<double>(n)),
        static_cast<std::size_t>(params_.batch_rows), ctx.threads);
    iterations_ = lbfgs_minimize(std::ref(objective), params, lbfgs_options()).iterations;
  }
  set_linear(params, k, d);
  make_inference();
}

void LogReg::set_linear(const std::vector<double>& params, std::size_t k, std::size_t d) {
  weight_ = Matrix(k, d);
  for (std::size_t i = 0; i < k * d; ++i) weight_.data()[i] = static_cast<float>(params[i]);
  bias_.resize(k);
  for (std::size_t o = 0; o < k; ++o) bias_[o] = static_cast<float>(params[k * d + o]);
}

LbfgsOptions LogReg::lbfgs_options(bool warm) const {
  LbfgsOptions o;
  o.max_iter = params_.max_iter;
  o.max_eval = params_.max_iter * 5 / 4 + 1;
  o.tolerance_grad = warm ? params_.warm_tol : params_.tol;
  o.tolerance_change = 1e-10;
  o.history = 10;
  o.lr = 1.0;
  return o;
}

dense::AdamOptions LogReg::adam_options(std::size_t n, const Context& ctx) const {
  dense::AdamOptions o;
  o.lr = params_.lr;
  o.batch_size = params_.batch_size;
  o.max_epochs = params_.max_epochs;
  o.patience = params_.patience;
  o.tol = params_.tol;
  o.l2 = 1.0 / (2.0 * params_.C * static_cast<double>(n));
  o.l2_per_batch = false;
  o.shuffle_seed = mix_seed(ctx.seed, 0x6c6f67726567ULL);
  o.eval_chunk = params_.batch_rows;
  return o;
}

void LogReg::make_inference() {
  infer_ = std::make_shared<const dense::DenseInference>(
      std::vector<Matrix>{weight_}, std::vector<std::vector<float>>{bias_},
      dense::Activation::kRelu, mean_, scale_, classes_, n_classes_,
      dense::parse_precision(params_.precision));
}

std::shared_ptr<const DeviceModel> LogReg::device_model() const {
  DB_CHECK(infer_, "logreg: device_model called before fit or load");
  return torch_util::dense_device_model(infer_);
}

std::optional<Classifier::AffineLogit> LogReg::binary_logit() const {
  if (n_classes_ != 2 || classes_.size() != 2 || params_.precision != "fp32") return std::nullopt;
  const std::size_t d = mean_.size();
  const std::size_t one = classes_[0] == 1 ? 0 : 1, zero = 1 - one;  // rows of weight_
  AffineLogit a;
  a.w.resize(d);
  double b = static_cast<double>(bias_[one]) - static_cast<double>(bias_[zero]);
  for (std::size_t j = 0; j < d; ++j) {
    const double v = (static_cast<double>(weight_(one, j)) - weight_(zero, j)) * scale_[j];
    a.w[j] = static_cast<float>(v);
    b -= v * mean_[j];
  }
  a.b = b;
  return a;
}

Matrix LogReg::predict_proba(MatrixView x, const Context& ctx) const {
  DB_CHECK(!classes_.empty(), "logreg: predict_proba called before fit or load");
  DB_CHECK(x.cols() == mean_.size(), "logreg: expected {} feature columns, got {}", mean_.size(),
           x.cols());
  return infer_->predict_proba(x, ctx, params_.batch_rows);
}

void LogReg::save(const std::filesystem::path& path) const {
  save_model_file(*this, path);
}

void LogReg::save_state(BinaryWriter& w) const {
  w.pod<std::uint64_t>(n_classes_);
  w.vector(classes_);
  w.vector(mean_);
  w.vector(scale_);
  w.matrix(weight_);
  w.vector(bias_);
}

void LogReg::load_state(BinaryReader& r) {
  n_classes_ = r.pod<std::uint64_t>();
  classes_ = r.vector<std::int32_t>();
  mean_ = r.vector<float>();
  scale_ = r.vector<float>();
  weight_ = r.matrix();
  bias_ = r.vector<float>();
  check_model_classes(r, "logreg", n_classes_, classes_);
  dense::check_dense_shapes(r, "logreg", mean_, scale_, {weight_}, {bias_}, {}, classes_.size(),
                            "weight", "bias");
  make_inference();
}

}  // namespace deferbench
