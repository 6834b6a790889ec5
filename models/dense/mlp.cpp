#include "models/dense/mlp.h"

#include <utility>

#include "core/data/binary_io.h"
#include "core/model/model_file.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"
#include "models/dense/host_data.h"
#include "models/dense/inference.h"
#include "models/dense/warm_start.h"
#include "models/torch/dense_device.h"

namespace deferbench {

const ParamTable<MlpParams>& MlpParams::table() {
  using P = MlpParams;
  static const ParamTable<P> t =
      ParamTable<P>()
          .int_list("hidden", &P::hidden, 1, 65536, "layer widths",
                    "hidden layer widths; [] is logistic regression")
          .choice("activation", &P::activation, {"relu", "tanh", "logistic"},
                  "hidden layers' activation")
          .real("alpha", &P::alpha, 0.0, 1e3, "L2 penalty, as scikit-learn's")
          .real("lr", &P::lr, 1e-6, 10.0, "Adam learning rate")
          .integer("batch_size", &P::batch_size, 1, 1 << 24, "rows per minibatch")
          .integer("max_epochs", &P::max_epochs, 1, 100000, "scikit-learn's max_iter")
          .integer("patience", &P::patience, 0, 100000, "scikit-learn's n_iter_no_change")
          .integer("warm_patience", &P::warm_patience, 0, 100000,
                   "patience of a fit that starts from another model (warm_start_from)")
          .real("tol", &P::tol, 0.0, 1.0, "the improvement an epoch needs to count")
          .boolean("standardize", &P::standardize, "learn mean / std on train")
          .integer("batch_rows", &P::batch_rows, 1, 1 << 24,
                   "rows per chunk for the validation loss and inference")
          .choice("precision", &P::precision, {"fp32", "bf16"},
                  "inference arithmetic (training stays fp32)");
  return t;
}

MlpParams MlpParams::from_yaml(const YAML::Node& node, const std::string& path,
                               const MlpParams& defaults) {
  return read_params(table(), node, path, defaults);
}

MlpParams MlpParams::with_hidden(std::vector<int> hidden) {
  MlpParams p;
  p.hidden = std::move(hidden);
  return p;
}

Mlp::Mlp(std::string name, MlpParams params) : name_(std::move(name)), params_(std::move(params)) {}
Mlp::~Mlp() = default;

bool Mlp::warm_start_from(const Classifier& previous) {
  const auto* prev = dynamic_cast<const Mlp*>(&previous);
  if (prev == nullptr || prev->classes_.empty() ||
      !same_params(MlpParams::table(), params_, prev->params_))
    return false;
  auto handed = dense::hand_over({prev->n_classes_,
                                  prev->classes_,
                                  prev->mean_,
                                  prev->scale_,
                                  {prev->weights_, prev->biases_}},
                                 !classes_.empty(), mean_.size(), n_classes_);
  if (!handed) return false;
  warm_ = std::move(handed);
  return true;
}

void Mlp::fit(const Dataset& train, const Dataset* val, const Context& ctx) {
  n_classes_ = train.n_classes();
  // The pending warm start is used when it suits the data, and consumed either way.
  std::shared_ptr<const dense::WarmStart> warm = std::move(warm_);
  warm_.reset();
  if (warm && !dense::warm_mismatch(*warm, train.features.cols(), n_classes_).empty()) warm.reset();
  warm_started_ = warm != nullptr;
  train_network(dense::host_training_data(train, val, params_.standardize, name_), MatrixView(),
                warm.get(), ctx);
}

void Mlp::fit_cost_weighted(MatrixView x, MatrixView weights, const Context& ctx) {
  // Checked, classes 0 … k − 1, standardized as fit does (dense::host_weighted_data).
  dense::HostTrainingData data = dense::host_weighted_data(x, weights, params_.standardize, name_);
  n_classes_ = weights.cols();
  warm_.reset();  // cost-weighted fits start cold
  warm_started_ = false;
  train_network(data, weights, nullptr, ctx);
}

void Mlp::train_network(const dense::HostTrainingData& data, MatrixView weights,
                        const dense::WarmStart* warm, const Context& ctx) {
  const dense::Activation activation = dense::parse_activation(params_.activation);
  const std::size_t d = data.x.cols();
  std::vector<std::size_t> hidden(params_.hidden.begin(), params_.hidden.end());
  dense::AdamOptions o;
  o.lr = params_.lr;
  o.batch_size = params_.batch_size;
  o.max_epochs = params_.max_epochs;
  o.patience = warm != nullptr ? params_.warm_patience : params_.patience;
  o.tol = params_.tol;
  o.l2 = params_.alpha / 2.0;
  o.l2_per_batch = true;
  o.shuffle_seed = mix_seed(ctx.seed, 0x6d6c7073687566ULL);
  o.eval_chunk = params_.batch_rows;
  const std::uint64_t init_seed = mix_seed(ctx.seed, 0x6d6c70696e6974ULL);
  epochs_run_ = best_epoch_ = 0;
  stopped_early_ = false;
  train_loss_.clear();
  val_loss_.clear();
  dense::AdamReport report;

  classes_ = data.classes;
  mean_ = data.mean;
  scale_ = data.scale;
  dense::DenseWeights w = warm != nullptr
                              ? dense::warm_weights(*warm, classes_, mean_, scale_)
                              : dense::initial_weights(d, hidden, classes_.size(), activation,
                                                       dense::Init::kGlorot, init_seed);
  // Cost weights (fit_cost_weighted: no validation rows) or class indices.
  const bool weighted = weights.rows() > 0;
  const dense::RowTargets y = weighted ? dense::RowTargets(weights) : dense::RowTargets(data.y);
  const dense::RowTargets y_val = weighted ? dense::RowTargets() : dense::RowTargets(data.y_val);
  if (classes_.size() > 1) {
    // The CPU trainer (dense_train.h, no LibTorch in the loop), or LibTorch autograd on CUDA,
    // with either kind of targets.
    report =
        ctx.is_cuda()
            ? torch_util::train_adam_libtorch(w, activation, data.x, y, data.x_val, y_val, o, ctx)
            : dense::train_adam_cpu(w, activation, data.x, y, data.x_val, y_val, o, ctx.threads);
  }
  epochs_run_ = report.epochs;
  best_epoch_ = report.best_epoch;
  stopped_early_ = report.stopped_early;
  train_loss_ = std::move(report.train_loss);
  val_loss_ = std::move(report.val_loss);
  weights_ = std::move(w.weights);
  biases_ = std::move(w.biases);
  make_inference();
}

void Mlp::make_inference() {
  infer_ = std::make_shared<const dense::DenseInference>(
      weights_, biases_, dense::parse_activation(params_.activation), mean_, scale_, classes_,
      n_classes_, dense::parse_precision(params_.precision));
}

std::shared_ptr<const DeviceModel> Mlp::device_model() const {
  DB_CHECK(infer_, "{}: device_model called before fit or load", name_);
  return torch_util::dense_device_model(infer_);
}

Matrix Mlp::predict_proba(MatrixView x, const Context& ctx) const {
  DB_CHECK(!classes_.empty(), "{}: predict_proba called before fit or load", name_);
  DB_CHECK(x.cols() == mean_.size(), "{}: expected {} feature columns, got {}", name_, mean_.size(),
           x.cols());
  return infer_->predict_proba(x, ctx, params_.batch_rows);
}

void Mlp::save(const std::filesystem::path& path) const {
  DB_CHECK(!classes_.empty(), "{}: save called before fit", name_);
  save_model_file(*this, path);
}

void Mlp::save_state(BinaryWriter& w) const {
  w.pod<std::uint64_t>(n_classes_);
  w.vector(classes_);
  w.vector(mean_);
  w.vector(scale_);
  w.pod<std::uint64_t>(weights_.size());
  for (std::size_t i = 0; i < weights_.size(); ++i) {
    w.matrix(weights_[i]);
    w.vector(biases_[i]);
  }
}

void Mlp::load_state(BinaryReader& r) {
  n_classes_ = r.pod<std::uint64_t>();
  classes_ = r.vector<std::int32_t>();
  mean_ = r.vector<float>();
  scale_ = r.vector<float>();
  const auto layers = r.pod<std::uint64_t>();
  if (layers != params_.hidden.size() + 1)
    fail({r.source(), 0, "layers"},
         fmt::format("{} model: expected {} layers ({} hidden, as its 'hidden' parameter says, and "
                     "the output layer), got {}",
                     name_, params_.hidden.size() + 1, params_.hidden.size(), layers));
  for (std::uint64_t i = 0; i < layers; ++i) {
    weights_.push_back(r.matrix());
    biases_.push_back(r.vector<float>());
  }
  // Shapes chain: d → hidden... → classes.
  check_model_classes(r, name_, n_classes_, classes_);
  dense::check_dense_shapes(r, name_, mean_, scale_, weights_, biases_, params_.hidden,
                            classes_.size(), "weights", "biases");
  make_inference();
}

}  // namespace deferbench
