// The tensor form of the tree ensembles (models/torch/tree_tensors.h) against the CPU walkers:
// the same probabilities bit for bit, for every tree model, on random rows, rows sitting on
// split thresholds and (except xgb, whose NaN rows XGBoost predicts) NaN. One body, run with the
// tensors on the CPU and on CUDA (skipped where no GPU is usable).
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "models/backend.h"
#include "models/registry.h"
#include "models/trees/forest.h"
#include "models/trees/gbt.h"
#include "tests/test_util.h"

#ifdef DEFERBENCH_HAVE_XGBOOST
#include "models/xgboost/xgb.h"
#endif

namespace deferbench {
namespace {

class TreeTensors : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override {
    if (GetParam() == Device::kCuda && !cuda_available())
      GTEST_SKIP() << "no usable CUDA device (the CPU instance of this test ran)";
  }
};

// The split thresholds of a forest's or gbt's trees, per feature (empty for xgb).
std::vector<std::vector<float>> thresholds_of(const Classifier& model, std::size_t d) {
  std::vector<std::vector<float>> out(d);
  if (const auto* f = dynamic_cast<const TreeEnsemble*>(&model))
    for (const DecisionTree& t : f->trees())
      for (const DecisionTree::Node& node : t.nodes())
        if (node.feature >= 0)
          out[static_cast<std::size_t>(node.feature)].push_back(node.threshold);
  if (const auto* b = dynamic_cast<const GbtClassifier*>(&model))
    for (std::size_t r = 0; r < b->n_rounds(); ++r)
      for (std::size_t c = 0; c < b->classes().size(); ++c)
        for (const GbtNode& node : b->tree(r, c))
          if (node.feature >= 0)
            out[static_cast<std::size_t>(node.feature)].push_back(node.threshold);
  return out;
}

// Rows to predict: Gaussian rows, rows whose values are the trees' own thresholds (where "≤"
// and "<" part), and one row of NaN.
Matrix probe_rows(const Classifier& model, std::size_t d, bool with_nan) {
  std::mt19937_64 rng(3);
  std::normal_distribution<float> g(0.0f, 1.5f);
  const std::vector<std::vector<float>> cuts = thresholds_of(model, d);
  const std::size_t n = 150;
  Matrix x(n + (with_nan ? 1 : 0), d);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < d; ++j)
      x(i, j) = i % 2 == 1 && !cuts[j].empty() ? cuts[j][rng() % cuts[j].size()] : g(rng);
  if (with_nan)
    for (std::size_t j = 0; j < d; ++j) x(n, j) = std::nanf("");
  return x;
}

TEST_P(TreeTensors, EveryTreeModelPredictsWhatItsCpuWalkerPredicts) {
  const Dataset train = testing::blobs(400, 5, 1.2);
  const Context cpu{Device::kCpu, 7, 2}, here{GetParam(), 7, 2};
  std::vector<std::string> specs = {"name: dt", "name: rf\nn_trees: 23", "name: et\nn_trees: 17",
                                    "name: gbt\nn_rounds: 15\nmax_depth: 3",
                                    "name: gbt\nn_rounds: 6\nmax_depth: 10"};
#ifdef DEFERBENCH_HAVE_XGBOOST
  specs.push_back("name: xgb\nn_rounds: 8\nmax_depth: 5");
#endif
  for (const std::string& spec : specs) {
    auto model = builtin_models().make(YAML::Load(spec), "model");
    model->fit(train, nullptr, cpu);
    const bool xgb = model->name() == "xgb";
    const Matrix x = probe_rows(*model, train.features.cols(), !xgb);
    const Matrix want = model->predict_proba(x, cpu);
    Matrix got;
    for (std::int64_t chunk : {std::int64_t{1}, std::int64_t{64}, std::int64_t{1} << 20}) {
      if (const auto* f = dynamic_cast<const TreeEnsemble*>(model.get()))
        got = f->predict_proba_tensors(x, here, chunk);
      else if (const auto* b = dynamic_cast<const GbtClassifier*>(model.get()))
        got = b->predict_proba_tensors(x, here, chunk);
#ifdef DEFERBENCH_HAVE_XGBOOST
      else if (const auto* xb = dynamic_cast<const XgbClassifier*>(model.get()))
        got = xb->predict_proba_tensors(x, here, chunk);
#endif
      ASSERT_EQ(got.rows(), want.rows()) << spec;
      EXPECT_EQ(got.values(), want.values()) << spec << " (chunk " << chunk << ")";
    }
    // The CUDA tree kernel's per-row walk (tree_walk.h), run on the host over the same arrays,
    // gives the sums the gathers give, bit for bit.
    if (const auto* f = dynamic_cast<const TreeEnsemble*>(model.get())) {
      const auto tt = f->tensor_trees();
      EXPECT_EQ(tt->sum_leaves_walk(x), tt->sum_leaves(x, cpu, 1 << 20)) << spec;
    } else if (const auto* b = dynamic_cast<const GbtClassifier*>(model.get())) {
      const auto tt = b->scorer().tensor_trees(b->init_scores());
      EXPECT_EQ(tt->sum_leaves_walk(x), tt->sum_leaves(x, cpu, 1 << 20)) << spec;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(TreeTensors, TreeTensors, ::testing::Values(Device::kCpu, Device::kCuda),
                         [](const ::testing::TestParamInfo<Device>& info) {
                           return std::string(device_name(info.param));
                         });

}  // namespace
}  // namespace deferbench
