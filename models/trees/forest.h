// dt, rf and et: one tree ensemble (models/trees/tree.h) under three policy settings, with
// scikit-learn's parameter meanings:
//   dt  one tree, all rows, best split, max_depth 16, max_features all
//   rf  n_trees 200, bootstrap, best split, max_depth unlimited, max_features sqrt
//   et  n_trees 200, no bootstrap, random thresholds, max_depth unlimited, max_features sqrt
// Features are binned once per fit (≤ max_bins quantile bins) and shared by all trees. Trees are
// grown in parallel, tree t seeded with ctx.derive(t), so a model does not depend on the thread
// count; prediction is parallel over rows. predict_proba is the mean over trees of the leaves'
// class frequencies, over the global label space (classes absent from training get exactly 0).
//
// Warm starts (issue 17, online refits; rf and et): a warm fit keeps the previous forest's newest
// n_trees − warm_trees trees and grows warm_trees new ones on its own training set, a sliding
// forest (TreeEnsemble::warm_start_from).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/model/classifier.h"
#include "core/model/params.h"
#include "models/trees/tree.h"

namespace deferbench {
namespace torch_util {
class TensorTrees;
}  // namespace torch_util

struct ForestParams {
  TreeParams tree;
  int n_trees = 1;
  bool bootstrap = false;  // the sampling policy: a bootstrap sample per tree, or all rows
  int max_bins = 256;
  // Trees a warm fit grows (rf and et): it keeps the previous forest's n_trees − warm_trees
  // newest trees. 50, a quarter of the default n_trees: a warm refit costs about a quarter of a
  // cold fit and a tree stays in the forest for 4 refits. warm_trees ≥ n_trees: no warm start.
  int warm_trees = 50;

  // The defaults of a model: "dt", "rf" or "et".
  static ForestParams defaults(std::string_view model);
  // The keys of a model (core/model/params.h): criterion, max_depth, min_samples_split,
  // min_samples_leaf, max_features, max_bins; rf and et also n_trees, bootstrap and warm_trees
  // (in that order, after max_bins). The split
  // policy is the model's (defaults(model)), not a key.
  static const ParamTable<ForestParams>& table(std::string_view model);
  static ForestParams from_yaml(std::string_view model, const YAML::Node& node,
                                const std::string& path);
};

class TreeEnsemble final : public Classifier {
 public:
  using Params = ForestParams;
  // `model` is "dt", "rf" or "et" (the file's model name).
  TreeEnsemble(std::string model, ForestParams params);
  ~TreeEnsemble() override;

  void fit(const Dataset& train, const Dataset* val, const Context& ctx) override;
  Matrix predict_proba(MatrixView x, const Context& ctx) const override;
  void save(const std::filesystem::path& path) const override;
  std::string_view name() const override { return model_; }
  std::size_t n_classes() const override { return n_classes_; }

  // Warm start (issue 17, rf and et; dt refuses): true when `previous` is a fitted TreeEnsemble
  // of the same model with the same parameters (every one of the table, warm_trees included),
  // warm_trees < n_trees and, when this model is fitted too, the same input width and label
  // space size. It then keeps a copy of previous's n_trees − warm_trees newest trees (the
  // oldest warm_trees are dropped) for the next fit, which grows only warm_trees new trees on
  // its training set and appends them: the forest keeps n_trees trees, ordered oldest first, and
  // a warm fit costs about warm_trees / n_trees of a cold one (binning the training set is paid
  // in full). The kept trees saw older rows: a sliding forest over the label pool's history.
  //
  // Classes: the warm fit's classes() are those of its training set and previous's (a kept
  // tree still predicts a class the new rows lack). The kept trees' leaves are re-expressed over
  // them: a class that appeared since gets probability 0 in every kept tree, and the new trees
  // are grown over the union (a class without rows is never predicted by them).
  //
  // Seeds: new tree t of a warm fit is seeded from ctx.derive(t) mixed with a warm-fit tag, so
  // that it differs from tree t of a cold fit under the same ctx (the stream derives a context
  // per refit); the same ctx and data give the same forest. False changes nothing. previous may
  // be this model (a refit in place) or one loaded from a file. The next fit consumes the warm
  // start; when its training set's width or label space size differs from previous's, that fit
  // is cold (warm_started() false).
  bool warm_start_from(const Classifier& previous) override;
  bool warm_started() const override { return warm_started_; }

  // The fitted state in a model file (core/model/model_file.h).
  void save_state(BinaryWriter& w) const;
  void load_state(BinaryReader& r);

  const ForestParams& params() const { return params_; }
  const std::vector<DecisionTree>& trees() const { return trees_; }
  // Global ids of the classes seen in training (a tree's compact class k is classes()[k]).
  const std::vector<std::int32_t>& classes() const { return classes_; }
  std::size_t n_features() const { return n_features_; }

  // predict_proba through the trees' tensor form (models/torch/tree_tensors.h) on ctx's device,
  // in chunks of chunk_rows rows: bit for bit the CPU walker's probabilities. predict_proba takes
  // this path when ctx's device resolves to CUDA.
  Matrix predict_proba_tensors(MatrixView x, const Context& ctx, std::int64_t chunk_rows) const;
  // The same tensor form, ending on the device (core/model/device_model.h).
  std::shared_ptr<const DeviceModel> device_model() const override;
  // The trees' tensor form itself, built on first use and shared.
  std::shared_ptr<const torch_util::TensorTrees> tensor_trees() const;

 private:
  std::string model_;
  ForestParams params_;
  std::size_t n_classes_ = 0;  // global label space size
  std::size_t n_features_ = 0;
  std::vector<std::int32_t> classes_;
  std::vector<DecisionTree> trees_;
  struct Tensors;  // the tensor form, built on first use
  std::shared_ptr<Tensors> tensors_;
  // What warm_start_from keeps for the next fit: previous's label space, width, classes and the
  // trees to keep (oldest first).
  struct WarmStart {
    std::size_t n_classes = 0, n_features = 0;
    std::vector<std::int32_t> classes;
    std::vector<DecisionTree> trees;
  };
  std::shared_ptr<WarmStart> warm_;  // set by warm_start_from until the next fit
  bool warm_started_ = false;
};

}  // namespace deferbench
