// XGBoost adapter: gradient-boosted trees through the XGBoost C API (multi:softprob, hist).
// Compiled only when CMake finds XGBoost (DEFERBENCH_HAVE_XGBOOST); otherwise
// xgb_unavailable.cpp registers "xgb" with a factory that explains how to enable it.
//
// The booster is trained over the classes present in train (compact ids 0…k−1) and predicts over
// the global label space: absent classes get probability exactly 0. With early stopping, the
// multi-class log-loss on val is evaluated after every round and the booster is cut back to the
// best round. The model file holds our header and metadata, then XGBoost's own model bytes
// (UBJSON), so a loaded model predicts bit-identically. Prediction runs the booster's trees
// compiled into deferbench's tree predictor (same leaves as XGBoost's walk; probabilities equal
// to XGBoost's up to float rounding in the sum and the softmax).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/model/classifier.h"
#include "core/model/params.h"
#include "models/trees/tree_scorer.h"

namespace deferbench {

struct XgbParams {
  int n_rounds = 100;             // boosting rounds (upper bound with early stopping)
  int max_depth = 6;              // XGBoost's default
  double eta = 0.3;               // learning rate, XGBoost's default
  double subsample = 1.0;         // row subsampling per round
  int max_bin = 256;              // histogram bins per feature
  int early_stopping_rounds = 0;  // 0: off; else stop after this many rounds without a val gain
  double lambda = 1.0;            // L2 penalty on leaf weights
  int warm_rounds = 25;           // rounds a warm fit adds (a quarter of the default n_rounds)
  int warm_max_rounds = 0;        // most rounds a warm fit may leave (0: 2 × n_rounds; gbt.h)
  // Further XGBoost parameters passed as-is (e.g. colsample_bytree: 0.5); XGBoost validates them.
  std::map<std::string, std::string> extra;

  // The keys, their ranges and docs (core/model/params.h); `name` is allowed besides. extra is a
  // mapping of scalars; the keys the adapter sets itself (objective, num_class, nthread, seed,
  // ...) are refused.
  static const ParamTable<XgbParams>& table();
  static XgbParams from_yaml(const YAML::Node& node, const std::string& path);
};

class XgbClassifier final : public Classifier {
 public:
  using Params = XgbParams;
  explicit XgbClassifier(XgbParams params);
  ~XgbClassifier() override;

  void fit(const Dataset& train, const Dataset* val, const Context& ctx) override;
  Matrix predict_proba(MatrixView x, const Context& ctx) const override;
  // predict_proba through the trees' tensor form (models/torch/tree_tensors.h) on ctx's device,
  // in chunks of chunk_rows rows: bit for bit the CPU walker's probabilities. predict_proba takes
  // this path when ctx's device resolves to CUDA.
  Matrix predict_proba_tensors(MatrixView x, const Context& ctx, std::int64_t chunk_rows) const;
  // The same tensor form, ending on the device (core/model/device_model.h); null when the booster
  // is not compiled. Rows with NaN features go right at every split there (XGBoost learns a
  // direction per split).
  std::shared_ptr<const DeviceModel> device_model() const override;
  void save(const std::filesystem::path& path) const override;
  std::string_view name() const override { return "xgb"; }
  std::size_t n_classes() const override { return n_classes_; }

  // Warm start (issue 17), as gbt's (models/trees/gbt.h): true when `previous` is a fitted
  // XgbClassifier of at least two classes with the same parameters (extra and warm_rounds
  // included) and, when this model is fitted too, the same input width and label space size. The
  // next fit then continues previous's booster (XGBoost's own continued training: the booster is
  // loaded from previous's bytes, its trees give the starting margin on the new rows) for
  // warm_rounds more rounds, numbered on from previous's, when its training set has previous's
  // width, label space size and exactly previous's classes present; otherwise that fit is cold
  // (warm_started() false). Early stopping as in a cold fit, previous as it is being the first
  // candidate: a warm fit may keep none of its rounds. rounds() counts previous's rounds too.
  // False changes nothing; the next fit consumes the warm start.
  bool warm_start_from(const Classifier& previous) override;
  bool warm_started() const override { return warm_started_; }

  // The fitted state in a model file (core/model/model_file.h): metadata, then XGBoost's bytes.
  void save_state(BinaryWriter& w) const;
  void load_state(BinaryReader& r);

  const XgbParams& params() const { return params_; }
  // Global ids of the classes seen in training (column c of the booster's output is classes()[c]).
  const std::vector<std::int32_t>& classes() const { return classes_; }
  // Rounds kept in the model (the best round + 1 with early stopping, else n_rounds).
  int rounds() const { return rounds_; }
  // Whether prediction runs the compiled trees (see compile() below).
  bool compiled() const { return compiled_; }

  struct BoosterDeleter {
    void operator()(void* handle) const;
  };

 private:
  // Sets the thread count on the booster when it differs from the last one set.
  void set_threads(int threads) const;

  XgbParams params_;
  std::size_t n_classes_ = 0;          // global label space size
  std::size_t n_features_ = 0;         // feature columns seen in training
  std::vector<std::int32_t> classes_;  // global ids of the classes seen in training
  int rounds_ = 0;
  // XGBoost's model (UBJSON): what save() writes, what compile() reads, and where the booster is
  // loaded from when needed (empty when a single class was seen).
  std::vector<char> model_bytes_;
  // The booster: kept only while prediction may need it (not compiled), else loaded on the
  // first batch holding a NaN. Null when a single class was seen.
  mutable std::unique_ptr<void, BoosterDeleter> booster_;
  mutable std::mutex mutex_;  // XGBoost's prediction buffer belongs to the booster
  mutable int threads_ = 0;   // nthread last set on the booster

  // The booster's trees compiled into our predictor (tree_scorer.h), built after fit and load:
  // XGBoost's split "x < c" becomes "x ≤ c⁻" (the largest float below c), so every row without a
  // NaN lands on the leaf XGBoost's walk reaches; batches holding a NaN (whose direction each
  // node stores) go through XGBoost's own predictor. Not compiled (XGBoost predicts everything)
  // for a booster other than a gbtree of numerical splits.
  bool compiled_ = false;
  TreeScorer scorer_;
  std::vector<double> init_;  // the base score, per class
  // An index array of the booster (tree_info, children, split indices or types) holding what
  // is not a whole number in int64's range is an Error naming `source` (the model file).
  void compile(const std::string& source);
  Matrix predict_with_xgboost(MatrixView x, const Context& ctx) const;

  // What warm_start_from keeps of the previous model for the next fit.
  struct WarmStart {
    std::size_t n_classes = 0, n_features = 0;
    std::vector<std::int32_t> classes;
    int rounds = 0;
    std::vector<char> model_bytes;
  };
  std::shared_ptr<const WarmStart> warm_;  // set by warm_start_from until the next fit
  bool warm_started_ = false;
};

}  // namespace deferbench
