// Multiclass gradient boosting ("gbt"): softmax loss over histogram regression trees.
//
// Each round fits one regression tree per class (K trees) to the softmax gradients
// g = p − y and hessians h = K/(K−1) · p(1 − p) (the factor makes K = 2 a full Newton step on the
// logit, as scikit-learn's binary loss does), with Newton leaves w = −η · G / (H + λ) and the
// split gain G_L²/(H_L + λ) + G_R²/(H_R + λ) − G²/(H + λ). Initial scores are the log class
// priors. Features are binned once (models/trees/binning.h, ≤ 256 quantile bins); a split learned
// as "bin ≤ b" is stored as the raw threshold "x ≤ c_b", so prediction reads raw floats.
//
// Speed: the K trees of a round share their root (all rows, or the round's subsample), so the
// root histograms of all classes are built in one pass over rows × features, bin-major
// (hist[f][bin][k], an inner loop over K contiguous floats). Below the root each tree builds the
// histogram of its smaller child only and gets the larger one by subtraction. Threads split the
// root pass by feature and the K trees by class, so the model does not depend on the thread
// count: same seed, same model, bit for bit.
//
// Only the classes present in training are boosted; the others get probability exactly zero.
//
// Warm starts (issue 17, online refits): a warm fit continues the previous model's boosting on
// its own training set for warm_rounds more rounds (GbtClassifier::warm_start_from).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/model/classifier.h"
#include "core/model/params.h"
#include "models/trees/tree_scorer.h"

namespace deferbench {

struct GbtParams {
  int n_rounds = 100;              // boosting rounds (K trees each)
  double learning_rate = 0.1;      // η, shrinks every leaf
  int max_depth = 3;               // a depth-d tree has at most 2^d leaves
  double subsample = 1.0;          // rows drawn (without replacement) per round, seeded
  int min_samples_leaf = 1;        // rows a child must keep
  double l2 = 1.0;                 // λ on the leaf weights (XGBoost's reg_lambda)
  double min_child_weight = 1e-3;  // hessian sum a child must keep (LightGBM's default)
  int max_bins = 256;              // quantile bins per feature
  int early_stopping_rounds = 0;   // 0: off; else stop when the val log-loss has not improved
                                   // for that many rounds, and keep the best round
  int warm_rounds = 25;            // rounds a warm fit adds (a quarter of the default n_rounds)
  int warm_max_rounds = 0;         // most rounds a warm fit may leave (0: 2 × n_rounds)

  // The keys, their ranges and docs (core/model/params.h); `name` is allowed besides.
  static const ParamTable<GbtParams>& table();
  static GbtParams from_yaml(const YAML::Node& node, const std::string& path);
};

class GbtClassifier final : public Classifier {
 public:
  using Params = GbtParams;
  explicit GbtClassifier(GbtParams params);

  // `val` (may be null) serves early stopping; rows of val whose class was not trained count
  // with probability 1e-15.
  void fit(const Dataset& train, const Dataset* val, const Context& ctx) override;
  Matrix predict_proba(MatrixView x, const Context& ctx) const override;
  // predict_proba through the trees' tensor form (models/torch/tree_tensors.h) on ctx's device,
  // in chunks of chunk_rows rows: bit for bit the CPU walker's probabilities. predict_proba takes
  // this path when ctx's device resolves to CUDA.
  Matrix predict_proba_tensors(MatrixView x, const Context& ctx, std::int64_t chunk_rows) const;
  // The same tensor form, ending on the device (core/model/device_model.h).
  std::shared_ptr<const DeviceModel> device_model() const override;
  void save(const std::filesystem::path& path) const override;
  std::string_view name() const override { return "gbt"; }
  std::size_t n_classes() const override { return n_classes_; }

  // Warm start (issue 17): true when `previous` is a fitted GbtClassifier of at least two classes
  // with the same parameters (every one of the table, warm_rounds included) and, when this model
  // is fitted too, the same input width and label space size; it then keeps a copy of previous's
  // model for the next fit. False changes nothing. previous may be this model (a refit in place)
  // or one loaded from a file.
  //
  // The next fit continues previous's boosting when its training set has previous's width,
  // label space size and exactly previous's classes present (their trees are per class: a class
  // new to the training set, or one gone from it, gets a cold fit, warm_started() false). It
  // starts from previous's raw scores on the training rows (init_scores() and every tree of
  // previous, kept as they are) and adds warm_rounds rounds fitted to the softmax gradients
  // there, numbered on from previous's rounds (the subsample draws differ from previous's): the
  // model has previous's rounds + warm_rounds, and a warm fit costs about warm_rounds / n_rounds
  // of a cold one plus one pass of previous's trees over the rows. Each warm refit adds rounds, so
  // the prediction cost grows by warm_rounds / n_rounds of a cold model's per refit — up to
  // warm_max_rounds (0: 2 × n_rounds): a previous model with more than warm_max_rounds −
  // warm_rounds rounds is refused (false), so that refit is cold and the model shrinks back to
  // n_rounds (with the defaults: four warm refits, then a cold one).
  //
  // Early stopping (early_stopping_rounds > 0 and a validation set) as in a cold fit: the warm
  // rounds stop once the val log-loss has not improved for that many rounds and the best round is
  // kept; previous as it is counts as a candidate (its val log-loss on the new rows is the one
  // to beat), so a warm fit may keep none of its rounds. train_loss() and val_loss() cover the
  // warm fit's own rounds. The next fit consumes the warm start.
  bool warm_start_from(const Classifier& previous) override;
  bool warm_started() const override { return warm_started_; }

  // The fitted state in a model file (core/model/model_file.h).
  void save_state(BinaryWriter& w) const;
  void load_state(BinaryReader& r);

  const GbtParams& params() const { return params_; }
  // The fitted model, for inspection. score_c(x) = init_scores()[c] + Σ_r leaf of tree(r, c)
  // at x; p = softmax(score) over classes() (global ids).
  const std::vector<std::int32_t>& classes() const { return classes_; }
  const std::vector<double>& init_scores() const { return init_; }
  const TreeScorer& scorer() const { return scorer_; }  // the compiled trees
  std::size_t n_rounds() const;                         // rounds kept (after early stopping)
  const std::vector<GbtNode>& tree(std::size_t round, std::size_t cls) const {
    return trees_[round * classes_.size() + cls];
  }
  // Multiclass log-loss after each round of the fit (train: on all training rows; val: empty
  // without a validation set). Both cover every round run, also those early stopping dropped.
  const std::vector<double>& train_loss() const { return train_loss_; }
  const std::vector<double>& val_loss() const { return val_loss_; }

 private:
  GbtParams params_;
  std::size_t n_classes_ = 0;  // global label space size
  std::size_t n_features_ = 0;
  std::vector<std::int32_t> classes_;        // global ids of the classes seen in training
  std::vector<double> init_;                 // log priors, one per trained class
  std::vector<std::vector<GbtNode>> trees_;  // round-major: trees_[r · K + c]
  std::vector<double> train_loss_, val_loss_;
  TreeScorer scorer_;  // the trees compiled for prediction: built after fit and load
  void flatten();

  // What warm_start_from keeps of the previous model for the next fit.
  struct WarmStart {
    std::size_t n_classes = 0, n_features = 0;
    std::vector<std::int32_t> classes;
    std::vector<double> init;
    std::vector<std::vector<GbtNode>> trees;  // round-major
    TreeScorer scorer;
    std::size_t rounds() const { return trees.size() / classes.size(); }
    // init + the trees' sums on every row of x (rows × classes, row-major).
    std::vector<double> scores(MatrixView x, int threads) const;
  };
  std::shared_ptr<const WarmStart> warm_;  // set by warm_start_from until the next fit
  bool warm_started_ = false;
  // The pending warm start when it suits the fit under way (n_features_, n_classes_ and classes_
  // set), else null; in either case none is pending afterwards and warm_started_ says which.
  std::shared_ptr<const WarmStart> take_warm_start();
};

}  // namespace deferbench
