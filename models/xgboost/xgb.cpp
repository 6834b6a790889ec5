// XGBoost adapter: see xgb.h
#include "models/xgboost/xgb.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <set>

#include <xgboost/c_api.h>
#include <nlohmann/json.hpp>

#include "core/config/fields.h"
#include "core/data/binary_io.h"
#include "core/model/model_file.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"
#include "models/registry.h"
#include "models/xgboost/booster_reader.h"

namespace deferbench {

namespace {

// XGBoost's last error as one line: the first line, without the "[time] file:line: " prefix.
std::string last_error() {
  std::string msg = XGBGetLastError();
  msg = msg.substr(0, msg.find('\n'));
  if (!msg.empty() && msg.front() == '[') {
    std::size_t close = msg.find("] ");
    std::size_t colon = close == std::string::npos ? close : msg.find(": ", close + 2);
    if (colon != std::string::npos) msg = msg.substr(colon + 2);
  }
  while (!msg.empty() && std::isspace(static_cast<unsigned char>(msg.back()))) msg.pop_back();
  return msg;
}

// Turns an XGBoost return code into a deferbench::Error carrying XGBoost's message.
void check(int rc, const char* what) {
  if (rc != 0) DB_THROW("xgb: {} failed: {}", what, last_error());
}

struct DMatrixDeleter {
  void operator()(void* handle) const { XGDMatrixFree(handle); }
};
using DMatrix = std::unique_ptr<void, DMatrixDeleter>;
using Booster = std::unique_ptr<void, XgbClassifier::BoosterDeleter>;

// A DMatrix over a copy of x (float32, NaN = missing), with optional float labels.
DMatrix make_dmatrix(MatrixView x, int threads, const std::vector<float>* labels = nullptr) {
  DMatrixHandle raw = nullptr;
  check(XGDMatrixCreateFromMat_omp(x.data(), x.rows(), x.cols(),
                                   std::numeric_limits<float>::quiet_NaN(), &raw, threads),
        "creating a DMatrix");
  DMatrix m(raw);
  if (labels)
    check(XGDMatrixSetFloatInfo(raw, "label", labels->data(), labels->size()),
          "setting the labels");
  return m;
}

Booster make_booster(const std::vector<DMatrixHandle>& cache) {
  BoosterHandle raw = nullptr;
  check(XGBoosterCreate(cache.empty() ? nullptr : cache.data(), cache.size(), &raw),
        "creating a booster");
  return Booster(raw);
}

void set_param(BoosterHandle booster, const std::string& key, const std::string& value) {
  if (XGBoosterSetParam(booster, key.c_str(), value.c_str()) != 0)
    DB_THROW("xgb: parameter {}={}: {}", key, value, last_error());
}

// The value in "[3]\tval-mlogloss:1.234", or NaN.
double parse_eval(const char* result) {
  std::string s = result ? result : "";
  std::size_t colon = s.rfind(':');
  if (colon == std::string::npos) return std::numeric_limits<double>::quiet_NaN();
  return std::strtod(s.c_str() + colon + 1, nullptr);
}

// Keys the adapter sets itself (or models with a named parameter): refused under `extra`.
const std::set<std::string>& reserved_keys() {
  static const std::set<std::string> keys = {
      "objective",    "num_class",      "nthread", "n_jobs",        "seed",
      "random_state", "eval_metric",    "eta",     "learning_rate", "max_depth",
      "subsample",    "max_bin",        "lambda",  "reg_lambda",    "num_round",
      "n_estimators", "num_boost_round"};
  return keys;
}

}  // namespace

void XgbClassifier::BoosterDeleter::operator()(void* handle) const {
  XGBoosterFree(handle);
}

namespace {

// The `extra` mapping: scalars passed to XGBoost as they are.
ParamField<XgbParams> extra_field() {
  ParamField<XgbParams> f;
  f.name = "extra";
  f.kind = "mapping";
  f.accepts = "XGBoost parameters (scalars) the adapter does not set";
  f.doc = "further XGBoost parameters (e.g. colsample_bytree: 0.5); XGBoost validates them";
  f.from_yaml = [](FieldReader& r, XgbParams& p) {
    YAML::Node extra = r.get_map("extra");
    for (const auto& kv : extra) {
      std::string key = kv.first.as<std::string>();
      std::string where = r.key_path("extra") + "." + key;
      if (reserved_keys().count(key))
        DB_THROW("config: '{}': set by the adapter or by a named parameter of the xgb model",
                 where);
      if (!kv.second.IsScalar())
        DB_THROW("config: '{}': expected a scalar, got {}", where, yaml_type_name(kv.second));
      p.extra[key] = kv.second.Scalar();
    }
  };
  f.write = [](BinaryWriter& w, const XgbParams& p) {
    w.pod<std::uint64_t>(p.extra.size());
    for (const auto& [key, value] : p.extra) {
      w.string(key);
      w.string(value);
    }
  };
  f.read = [](BinaryReader& r, XgbParams& p) {
    const auto n = r.pod<std::uint64_t>();
    for (std::uint64_t i = 0; i < n; ++i) {
      std::string key = r.string();
      p.extra[key] = r.string();
    }
  };
  f.text = [](const XgbParams& p) {
    YAML::Emitter out;
    out << YAML::Flow << YAML::BeginMap;
    for (const auto& [key, value] : p.extra) out << YAML::Key << key << YAML::Value << value;
    out << YAML::EndMap;
    return std::string(out.c_str());
  };
  return f;
}

}  // namespace

const ParamTable<XgbParams>& XgbParams::table() {
  using P = XgbParams;
  static const ParamTable<P> t =
      ParamTable<P>()
          .integer("n_rounds", &P::n_rounds, 1, 100000,
                   "boosting rounds (upper bound with early stopping)")
          .integer("max_depth", &P::max_depth, 1, 64, "tree depth at most")
          .real("eta", &P::eta, 1e-6, 1.0, "learning rate")
          .real("subsample", &P::subsample, 1e-6, 1.0, "row subsampling per round")
          .integer("max_bin", &P::max_bin, 2, 65536, "histogram bins per feature")
          .integer("early_stopping_rounds", &P::early_stopping_rounds, 0, 100000,
                   "0: off; else stop after this many rounds without a val gain")
          .real("lambda", &P::lambda, 0.0, 1e6, "L2 penalty on leaf weights")
          .integer("warm_rounds", &P::warm_rounds, 1, 100000,
                   "rounds a warm refit adds to the previous booster (warm_start_from)")
          .custom(extra_field())
          .optional_in_files_from_here()
          .integer("warm_max_rounds", &P::warm_max_rounds, 0, 1000000,
                   "most rounds a warm refit may leave in the booster (0: 2 × n_rounds); past it "
                   "the refit is cold");
  return t;
}

XgbParams XgbParams::from_yaml(const YAML::Node& node, const std::string& path) {
  return read_params(table(), node, path);
}

XgbClassifier::XgbClassifier(XgbParams params) : params_(std::move(params)) {}
XgbClassifier::~XgbClassifier() = default;

void XgbClassifier::set_threads(int threads) const {
  if (threads_ == threads) return;
  set_param(booster_.get(), "nthread", std::to_string(threads));
  threads_ = threads;
}

namespace {

// The compact id of a global class among the sorted `classes`, −1 when absent.
long compact_class(const std::vector<std::int32_t>& classes, LabelId id) {
  auto it = std::lower_bound(classes.begin(), classes.end(), id);
  return it != classes.end() && *it == id ? it - classes.begin() : -1;
}

// The validation rows whose class the booster knows (mlogloss needs a compact label), as a
// DMatrix; null when none.
DMatrix validation_dmatrix(const Dataset& val, const std::vector<std::int32_t>& classes,
                           int threads) {
  std::vector<std::size_t> rows;
  std::vector<float> yv;
  for (std::size_t i = 0; i < val.size(); ++i) {
    long c = compact_class(classes, val.teacher[i]);
    if (c < 0) continue;
    rows.push_back(i);
    yv.push_back(static_cast<float>(c));
  }
  if (rows.empty()) return DMatrix();
  return make_dmatrix(gather_rows(val.features, rows), threads, &yv);
}

void configure_booster(BoosterHandle h, const XgbParams& p, std::size_t n_classes,
                       const Context& ctx) {
  set_param(h, "validate_parameters", "1");
  set_param(h, "objective", "multi:softprob");
  set_param(h, "num_class", std::to_string(n_classes));
  set_param(h, "eval_metric", "mlogloss");
  set_param(h, "tree_method", "hist");
  set_param(h, "max_depth", std::to_string(p.max_depth));
  set_param(h, "eta", fmt::format("{}", p.eta));
  set_param(h, "subsample", fmt::format("{}", p.subsample));
  set_param(h, "max_bin", std::to_string(p.max_bin));
  set_param(h, "lambda", fmt::format("{}", p.lambda));
  set_param(h, "nthread", std::to_string(ctx.threads));
  set_param(h, "seed", std::to_string(ctx.seed & 0x7fffffffffffffffULL));
  for (const auto& [key, value] : p.extra) set_param(h, key, value);
}

// The booster's multi-class log-loss on dval.
double val_loss(BoosterHandle h, int iteration, DMatrixHandle dval) {
  DMatrixHandle evals[] = {dval};
  const char* names[] = {"val"};
  const char* result = nullptr;
  check(XGBoosterEvalOneIter(h, iteration, evals, names, 1, &result), "evaluating on val");
  return parse_eval(result);
}

// Runs `rounds` boosting rounds numbered from `first` (a warm fit's continue the loaded
// booster's); with `dval`, evaluates after each and stops early. Returns how many of the rounds
// run to keep: all of them without dval, else up to the best one (warm: the loaded booster as it
// is is the first candidate, so possibly none).
int run_rounds(BoosterHandle h, DMatrixHandle dtrain, DMatrixHandle dval, const XgbParams& p,
               int first, int rounds, bool warm) {
  int kept = rounds;
  double best_loss = std::numeric_limits<double>::infinity();
  if (dval && warm) {
    best_loss = val_loss(h, first, dval);
    kept = 0;
  }
  for (int it = 0; it < rounds; ++it) {
    check(XGBoosterUpdateOneIter(h, first + it, dtrain), "a boosting round");
    if (!dval) continue;
    const double loss = val_loss(h, first + it, dval);
    if ((it == 0 && !warm) || loss < best_loss) {
      best_loss = loss;
      kept = it + 1;
    } else if (it + 1 - kept >= p.early_stopping_rounds) {
      break;
    }
  }
  return kept;
}

}  // namespace

bool XgbClassifier::warm_start_from(const Classifier& previous) {
  const auto* prev = dynamic_cast<const XgbClassifier*>(&previous);
  if (prev == nullptr || prev->model_bytes_.empty() ||
      !same_params(XgbParams::table(), params_, prev->params_))
    return false;
  if (!classes_.empty() && (n_features_ != prev->n_features_ || n_classes_ != prev->n_classes_))
    return false;
  const int cap = params_.warm_max_rounds > 0 ? params_.warm_max_rounds : 2 * params_.n_rounds;
  if (prev->rounds_ + params_.warm_rounds > cap) return false;
  warm_ = std::make_shared<const WarmStart>(WarmStart{
      prev->n_classes_, prev->n_features_, prev->classes_, prev->rounds_, prev->model_bytes_});
  return true;
}

void XgbClassifier::fit(const Dataset& train, const Dataset* val, const Context& ctx) {
  DB_CHECK(train.size() > 0, "xgb: cannot fit on an empty training set");
  DB_CHECK(train.features.rows() == train.size(), "xgb: the training set has no features");
  std::lock_guard<std::mutex> lock(mutex_);
  booster_.reset();
  model_bytes_.clear();
  threads_ = 0;
  n_classes_ = train.n_classes();
  n_features_ = train.features.cols();

  // Train over the classes present only; the others get probability zero at prediction.
  classes_ = train.teacher;
  std::sort(classes_.begin(), classes_.end());
  classes_.erase(std::unique(classes_.begin(), classes_.end()), classes_.end());
  rounds_ = 0;
  // The pending warm start, used when the training set suits it and consumed either way.
  std::shared_ptr<const WarmStart> warm = std::move(warm_);
  warm_.reset();
  if (warm && (warm->n_features != n_features_ || warm->n_classes != n_classes_ ||
               warm->classes != classes_))
    warm.reset();
  warm_started_ = warm != nullptr;
  if (classes_.size() < 2) return;  // one class: probability 1, no booster

  std::vector<float> y(train.size());
  for (std::size_t i = 0; i < train.size(); ++i)
    y[i] = static_cast<float>(compact_class(classes_, train.teacher[i]));
  DMatrix dtrain = make_dmatrix(train.features, ctx.threads, &y);
  DMatrix dval;
  if (params_.early_stopping_rounds > 0 && val && val->size() > 0) {
    DB_CHECK(val->features.cols() == n_features_, "xgb: val has {} feature columns, train {}",
             val->features.cols(), n_features_);
    dval = validation_dmatrix(*val, classes_, ctx.threads);
  }

  std::vector<DMatrixHandle> cache = {dtrain.get()};
  if (dval) cache.push_back(dval.get());
  Booster booster = make_booster(cache);
  if (warm)  // XGBoost's continued training: the loaded trees give the starting margin
    check(XGBoosterLoadModelFromBuffer(booster.get(), warm->model_bytes.data(),
                                       warm->model_bytes.size()),
          "loading the previous model");
  configure_booster(booster.get(), params_, classes_.size(), ctx);
  const int first = warm ? warm->rounds : 0;
  const int kept =
      first + run_rounds(booster.get(), dtrain.get(), dval.get(), params_, first,
                         warm ? params_.warm_rounds : params_.n_rounds, warm != nullptr);
  int boosted = 0;
  check(XGBoosterBoostedRounds(booster.get(), &boosted), "counting rounds");
  if (dval && kept < boosted) {
    BoosterHandle sliced = nullptr;
    check(XGBoosterSlice(booster.get(), 0, kept, 1, &sliced), "cutting back to the best round");
    booster.reset(sliced);
    boosted = kept;
  }
  booster_ = std::move(booster);
  rounds_ = boosted;
  threads_ = 0;  // set again at prediction (a sliced booster may not carry it)
  bst_ulong len = 0;
  const char* data = nullptr;
  check(XGBoosterSaveModelToBuffer(booster_.get(), R"({"format": "ubj"})", &len, &data),
        "serializing the booster");
  model_bytes_.assign(data, data + len);
  compile("xgb (the booster XGBoost just fitted)");
  if (compiled_) booster_.reset();  // reloaded from model_bytes_ if a NaN ever needs it
}

void XgbClassifier::compile(const std::string& source) {
  compiled_ = false;
  scorer_ = TreeScorer();
  init_.clear();
  if (model_bytes_.empty()) return;
  xgb_detail::BoosterReader reader(n_features_);
  const bool parsed = nlohmann::json::sax_parse(model_bytes_.begin(), model_bytes_.end(), &reader,
                                                nlohmann::json::input_format_t::ubjson);
  if (!reader.bad_array.empty())
    fail({source, 0, "booster"},
         fmt::format("xgb model: the booster's '{}' holds {}, expected whole numbers in int64's "
                     "range",
                     excerpt(reader.bad_array, kExcerptBytes / 2), excerpt(reader.bad_value)));
  const std::size_t K = classes_.size();
  if (!parsed || !reader.compilable || reader.nodes.size() != reader.tree_info.size() ||
      reader.nodes.empty())
    return;
  std::vector<std::uint32_t> columns;
  for (std::int64_t c : reader.tree_info) {
    if (c < 0 || static_cast<std::size_t>(c) >= K) return;
    columns.push_back(static_cast<std::uint32_t>(c));
  }
  std::vector<std::vector<GbtNode>> trees = std::move(reader.nodes);
  scorer_ = TreeScorer(trees, std::move(columns), K);
  init_.assign(K, reader.base_score);
  compiled_ = true;
}

Matrix XgbClassifier::predict_proba(MatrixView x, const Context& ctx) const {
  DB_CHECK(!classes_.empty(), "xgb: predict_proba called before fit or load");
  DB_CHECK(x.cols() == n_features_, "xgb: expected {} feature columns, got {}", n_features_,
           x.cols());
  if (compiled_) {
    const float* v = x.data();
    bool nan = false;
    for (std::size_t i = 0; i < x.size(); ++i) nan |= v[i] != v[i];
    if (!nan && ctx.is_cuda())
      return scorer_.predict_proba_tensors(x, init_, classes_, n_classes_, ctx, kTensorChunkRows);
    if (!nan)
      return scorer_.predict_proba(x, init_, classes_, n_classes_, std::max(1, ctx.threads));
  }
  return predict_with_xgboost(x, ctx);
}

Matrix XgbClassifier::predict_proba_tensors(MatrixView x, const Context& ctx,
                                            std::int64_t chunk_rows) const {
  DB_CHECK(compiled_,
           "xgb: this booster is not compiled into trees (single class, or not a "
           "gbtree of numerical splits)");
  DB_CHECK(x.cols() == n_features_, "xgb: expected {} feature columns, got {}", n_features_,
           x.cols());
  return scorer_.predict_proba_tensors(x, init_, classes_, n_classes_, ctx, chunk_rows);
}

std::shared_ptr<const DeviceModel> XgbClassifier::device_model() const {
  DB_CHECK(!classes_.empty(), "xgb: device_model called before fit or load");
  if (!compiled_) return nullptr;
  return torch_util::tree_device_model(scorer_.tensor_trees(init_), TreeLink::kSoftmax, classes_,
                                       n_classes_, n_features_);
}

Matrix XgbClassifier::predict_with_xgboost(MatrixView x, const Context& ctx) const {
  const std::size_t n = x.rows(), k = classes_.size();
  Matrix out(n, n_classes_, 0.0f);
  if (n == 0) return out;
  if (model_bytes_.empty()) {
    for (std::size_t i = 0; i < n; ++i) out(i, static_cast<std::size_t>(classes_[0])) = 1.0f;
    return out;
  }
  // In-place prediction over x itself (an __array_interface__ of our buffer): no DMatrix copy.
  const std::string values =
      fmt::format(R"({{"data": [{}, true], "shape": [{}, {}], "typestr": "<f4", "version": 3}})",
                  reinterpret_cast<std::uintptr_t>(x.data()), n, x.cols());
  std::lock_guard<std::mutex> lock(mutex_);
  if (!booster_) {
    Booster booster = make_booster({});
    check(XGBoosterLoadModelFromBuffer(booster.get(), model_bytes_.data(), model_bytes_.size()),
          "loading the model");
    booster_ = std::move(booster);
    threads_ = 0;
  }
  set_threads(ctx.threads);
  const char* config = R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0,)"
                       R"( "strict_shape": true, "missing": NaN, "cache_id": 0})";
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  check(XGBoosterPredictFromDense(booster_.get(), values.c_str(), config, nullptr, &shape, &dim,
                                  &result),
        "predicting");
  DB_ASSERT_MSG(dim == 2 && shape[0] == n && shape[1] == k, "xgb: unexpected prediction shape");
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t c = 0; c < k; ++c)
      out(i, static_cast<std::size_t>(classes_[c])) = result[i * k + c];
  return out;
}

void XgbClassifier::save(const std::filesystem::path& path) const {
  DB_CHECK(!classes_.empty(), "xgb: save called before fit or load");
  save_model_file(*this, path);
}

void XgbClassifier::save_state(BinaryWriter& w) const {
  w.pod<std::uint64_t>(n_classes_);
  w.pod<std::uint64_t>(n_features_);
  w.vector(classes_);
  w.pod(rounds_);
  w.vector(model_bytes_);
}

void XgbClassifier::load_state(BinaryReader& r) {
  n_classes_ = r.pod<std::uint64_t>();
  n_features_ = r.pod<std::uint64_t>();
  classes_ = r.vector<std::int32_t>();
  rounds_ = r.pod<int>();
  std::vector<char> bytes = r.vector<char>();
  check_model_classes(r, "xgb", n_classes_, classes_);
  if ((classes_.size() < 2) != bytes.empty())
    fail({r.source(), 0, ""}, "xgb model file is inconsistent (corrupt?)");
  model_bytes_ = std::move(bytes);
  compile(r.source());
  if (!compiled_ && !model_bytes_.empty()) {
    // XGBoost predicts everything: load it now (and check that it reads the model).
    Booster booster = make_booster({});
    if (XGBoosterLoadModelFromBuffer(booster.get(), model_bytes_.data(), model_bytes_.size()) != 0)
      fail({r.source(), 0, ""}, "XGBoost cannot read the model: " + last_error());
    booster_ = std::move(booster);
  }
}

void register_xgboost_model(ModelRegistry& registry) {
  registry.add<XgbClassifier>("xgb");
}

}  // namespace deferbench
