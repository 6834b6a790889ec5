#include "models/dense/mlp.h"

#include <fstream>
#include <utility>

#include "core/config/fields.h"
#include "core/data/binary_io.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"
#include "models/dense/host_data.h"
#include "models/registry.h"
#include "models/torch/dense_device.h"

namespace deferbench {

namespace {

constexpr int kMaxWidth = 65536;

std::vector<int> parse_hidden(const std::vector<std::string>& items, const std::string& key) {
  std::vector<int> out;
  for (const std::string& s : items) {
    std::size_t used = 0;
    long v = 0;
    try {
      v = std::stol(s, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != s.size() || v < 1 || v > kMaxWidth)
      DB_THROW("config: '{}': expected a list of layer widths in [1, {}], got '{}'", key, kMaxWidth,
               s);
    out.push_back(static_cast<int>(v));
  }
  return out;
}

}  // namespace

MlpParams MlpParams::from_yaml(const YAML::Node& node, const std::string& path,
                               const MlpParams& defaults) {
  MlpParams p = defaults;
  FieldReader r(node, path);
  r.allow("name");
  std::vector<std::string> hidden;
  for (int h : p.hidden) hidden.push_back(std::to_string(h));
  // An explicit empty list means no hidden layer; get_string_list falls back only when absent.
  if (r.has("hidden") && node["hidden"].IsSequence() && node["hidden"].size() == 0) {
    r.allow("hidden");
    p.hidden.clear();
  } else {
    p.hidden = parse_hidden(r.get_string_list("hidden", hidden), r.key_path("hidden"));
  }
  p.activation = r.get_choice("activation", p.activation, {"relu", "tanh", "logistic"});
  p.alpha = r.get_double("alpha", p.alpha, 0.0, 1e3);
  p.lr = r.get_double("lr", p.lr, 1e-6, 10.0);
  p.batch_size = static_cast<int>(r.get_int("batch_size", p.batch_size, 1, 1 << 24));
  p.max_epochs = static_cast<int>(r.get_int("max_epochs", p.max_epochs, 1, 100000));
  p.patience = static_cast<int>(r.get_int("patience", p.patience, 0, 100000));
  p.tol = r.get_double("tol", p.tol, 0.0, 1.0);
  p.standardize = r.get_bool("standardize", p.standardize);
  p.batch_rows = static_cast<int>(r.get_int("batch_rows", p.batch_rows, 1, 1 << 24));
  p.precision = r.get_choice("precision", p.precision, {"fp32", "bf16"});
  r.finish();
  return p;
}

Mlp::Mlp(std::string name, MlpParams params) : name_(std::move(name)), params_(std::move(params)) {}
Mlp::~Mlp() = default;

void Mlp::fit(const Dataset& train, const Dataset* val, const Context& ctx) {
  const dense::Activation activation = dense::parse_activation(params_.activation);
  const std::size_t d = train.features.cols();
  std::vector<std::size_t> hidden(params_.hidden.begin(), params_.hidden.end());
  dense::AdamOptions o;
  o.lr = params_.lr;
  o.batch_size = params_.batch_size;
  o.max_epochs = params_.max_epochs;
  o.patience = params_.patience;
  o.tol = params_.tol;
  o.l2 = params_.alpha / 2.0;
  o.l2_per_batch = true;
  o.shuffle_seed = mix_seed(ctx.seed, 0x6d6c7073687566ULL);
  o.eval_chunk = params_.batch_rows;
  const std::uint64_t init_seed = mix_seed(ctx.seed, 0x6d6c70696e6974ULL);
  n_classes_ = train.n_classes();
  epochs_run_ = best_epoch_ = 0;
  stopped_early_ = false;
  train_loss_.clear();
  val_loss_.clear();
  dense::AdamReport report;
  dense::DenseWeights w;

  dense::HostTrainingData data = dense::host_training_data(train, val, params_.standardize, name_);
  classes_ = data.classes;
  mean_ = data.mean;
  scale_ = data.scale;
  w = dense::initial_weights(d, hidden, classes_.size(), activation, dense::Init::kGlorot,
                             init_seed);
  if (classes_.size() > 1) {
    // The CPU trainer (dense_train.h, no LibTorch in the loop), or LibTorch autograd on CUDA.
    report = ctx.is_cuda() ? torch_util::train_adam_libtorch(w, activation, data.x, data.y,
                                                             data.x_val, data.y_val, o, ctx)
                           : dense::train_adam_cpu(w, activation, data.x, data.y, data.x_val,
                                                   data.y_val, o, ctx.threads);
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
  AtomicFile file(path);
  BinaryWriter w(file.stream());
  w.header(kModelFileMagic, 1);
  w.string(name_);
  w.pod<std::uint32_t>(1);  // this model's format version
  w.vector(params_.hidden);
  w.string(params_.activation);
  w.pod(params_.alpha);
  w.pod(params_.lr);
  w.pod(params_.batch_size);
  w.pod(params_.max_epochs);
  w.pod(params_.patience);
  w.pod(params_.tol);
  w.pod(static_cast<std::uint8_t>(params_.standardize));
  w.pod(params_.batch_rows);
  w.pod<std::uint64_t>(n_classes_);
  w.vector(classes_);
  w.vector(mean_);
  w.vector(scale_);
  w.pod<std::uint64_t>(weights_.size());
  for (std::size_t i = 0; i < weights_.size(); ++i) {
    w.matrix(weights_[i]);
    w.vector(biases_[i]);
  }
  // Appended after the fitted model (files written before it end above: fp32).
  w.string(params_.precision);
  file.commit();
}

std::unique_ptr<Mlp> Mlp::load(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail({path.string(), 0, ""}, "cannot open model file");
  BinaryReader r(in, path.string());
  r.header(kModelFileMagic, 1);
  std::string name = r.string();
  if (name.rfind("mlp", 0) != 0)
    fail({path.string(), 0, "model"}, "expected an mlp model, got " + name);
  const auto version = r.pod<std::uint32_t>();
  if (version != 1)
    fail({path.string(), 0, "version"},
         fmt::format("{} model format version {} is not supported (this build reads 1)", name,
                     version));
  MlpParams p;
  p.hidden = r.vector<int>();
  p.activation = r.string();
  p.alpha = r.pod<double>();
  p.lr = r.pod<double>();
  p.batch_size = r.pod<int>();
  p.max_epochs = r.pod<int>();
  p.patience = r.pod<int>();
  p.tol = r.pod<double>();
  p.standardize = r.pod<std::uint8_t>() != 0;
  p.batch_rows = r.pod<int>();
  auto model = std::make_unique<Mlp>(name, p);
  model->n_classes_ = r.pod<std::uint64_t>();
  model->classes_ = r.vector<std::int32_t>();
  model->mean_ = r.vector<float>();
  model->scale_ = r.vector<float>();
  const auto layers = r.pod<std::uint64_t>();
  if (layers != p.hidden.size() + 1)
    fail({path.string(), 0, ""}, name + " model file is inconsistent (corrupt?)");
  for (std::uint64_t i = 0; i < layers; ++i) {
    model->weights_.push_back(r.matrix());
    model->biases_.push_back(r.vector<float>());
  }
  if (in.peek() != std::char_traits<char>::eof()) model->params_.precision = r.string();
  // Shapes chain: d → hidden... → classes.
  std::size_t prev = model->mean_.size();
  bool ok = model->scale_.size() == prev && !model->classes_.empty() &&
            model->classes_.back() >= 0 &&
            static_cast<std::size_t>(model->classes_.back()) < model->n_classes_;
  for (std::size_t i = 0; ok && i < model->weights_.size(); ++i) {
    const Matrix& wm = model->weights_[i];
    const std::size_t out = i + 1 < model->weights_.size() ? static_cast<std::size_t>(p.hidden[i])
                                                           : model->classes_.size();
    ok = wm.cols() == prev && wm.rows() == out && model->biases_[i].size() == out;
    prev = out;
  }
  if (!ok) fail({path.string(), 0, ""}, name + " model file is inconsistent (corrupt?)");
  dense::parse_activation(p.activation);
  if (model->params_.precision != "fp32" && model->params_.precision != "bf16")
    fail({path.string(), 0, "precision"}, "expected fp32 or bf16, got " + model->params_.precision);
  model->make_inference();
  return model;
}

}  // namespace deferbench
