#include <cmath>
#include <set>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/util/atomic_file.h"
#include "core/util/error.h"
#include "core/util/random.h"
#include "models/registry.h"
#include "models/trees/forest.h"
#include "models/trees/tree.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

using ::testing::HasSubstr;

Context cpu(int threads = 1, std::uint64_t seed = 7) {
  return Context{Device::kCpu, seed, threads};
}

std::shared_ptr<LabelSpace> label_space(int k) {
  std::vector<std::string> names;
  for (int c = 0; c < k; ++c) names.push_back(std::to_string(c));
  return std::make_shared<LabelSpace>(names);
}

// Gaussian blobs: class c (of `used`, relabelled into a `k`-class space) centred at c·sep on
// coordinate c mod d_informative, plus `noise_dims` pure-noise features.
Dataset blobs(std::size_t n, std::uint64_t seed, double sep, const std::vector<LabelId>& used,
              int k, std::size_t informative, std::size_t noise_dims) {
  Rng rng(seed);
  Dataset d;
  d.labels = label_space(k);
  const std::size_t dim = informative + noise_dims;
  d.features = Matrix(n, dim);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t c = static_cast<std::size_t>(rng.below(used.size()));
    for (std::size_t j = 0; j < dim; ++j) d.features(i, j) = static_cast<float>(rng.normal());
    // Each class gets a distinct mean vector on the informative features.
    Rng centre(1000 + c);
    for (std::size_t j = 0; j < informative; ++j)
      d.features(i, j) += static_cast<float>(sep * centre.normal());
    d.teacher.push_back(used[c]);
  }
  return d;
}

ForestParams params_of(const std::string& model, const std::string& yaml) {
  return ForestParams::from_yaml(model, YAML::Load(yaml.empty() ? "{}" : yaml), "model");
}

double accuracy(const Classifier& m, const Dataset& d, const Context& ctx) {
  std::vector<LabelId> pred = m.predict(d.features, ctx);
  std::size_t ok = 0;
  for (std::size_t i = 0; i < d.size(); ++i) ok += pred[i] == d.teacher[i];
  return static_cast<double>(ok) / static_cast<double>(d.size());
}

void expect_same_trees(const TreeEnsemble& a, const TreeEnsemble& b) {
  ASSERT_EQ(a.trees().size(), b.trees().size());
  for (std::size_t t = 0; t < a.trees().size(); ++t) {
    const auto& na = a.trees()[t].nodes();
    const auto& nb = b.trees()[t].nodes();
    ASSERT_EQ(na.size(), nb.size()) << "tree " << t;
    for (std::size_t i = 0; i < na.size(); ++i) {
      EXPECT_EQ(na[i].feature, nb[i].feature);
      EXPECT_EQ(na[i].threshold, nb[i].threshold);
      EXPECT_EQ(na[i].left, nb[i].left);
      EXPECT_EQ(na[i].right, nb[i].right);
    }
  }
}

void expect_same_matrix(const Matrix& a, const Matrix& b) {
  ASSERT_EQ(a.rows(), b.rows());
  ASSERT_EQ(a.cols(), b.cols());
  EXPECT_EQ(a.values(), b.values());
}

// ---- decision tree -------------------------------------------------------------------------

TEST(DecisionTree, DepthOneFindsTheInformativeFeatureAndItsThreshold) {
  // Feature 2 takes integer values 0…9 and decides the class (x2 ≥ 5 → 1); four noise features
  // take the same values at random. The only pure split is x2 ≤ 4.5 (the midpoint cut).
  Rng rng(3);
  Dataset d;
  d.labels = label_space(2);
  d.features = Matrix(400, 5);
  for (std::size_t i = 0; i < 400; ++i) {
    for (std::size_t j = 0; j < 5; ++j) d.features(i, j) = static_cast<float>(rng.below(10));
    d.teacher.push_back(d.features(i, 2) >= 5 ? 1 : 0);
  }
  TreeEnsemble dt("dt", params_of("dt", "max_depth: 1"));
  dt.fit(d, nullptr, cpu());
  const auto& nodes = dt.trees()[0].nodes();
  ASSERT_EQ(nodes.size(), 3u);
  EXPECT_EQ(nodes[0].feature, 2);
  EXPECT_FLOAT_EQ(nodes[0].threshold, 4.5f);
  EXPECT_EQ(dt.trees()[0].node_impurity()[1], 0.0f);
  EXPECT_EQ(dt.trees()[0].node_impurity()[2], 0.0f);
  EXPECT_EQ(accuracy(dt, d, cpu()), 1.0);
}

TEST(DecisionTree, GiniAndEntropyDecreaseMatchHandComputedValues) {
  // Free functions: parent [4, 4] into [3, 1] | [1, 3].
  EXPECT_NEAR(node_impurity(Criterion::kGini, {3, 1}), 0.375, 1e-12);
  EXPECT_NEAR(node_impurity(Criterion::kEntropy, {3, 1}), 0.8112781244591328, 1e-12);
  EXPECT_NEAR(impurity_decrease(Criterion::kGini, {3, 1}, {1, 3}), 0.125, 1e-12);
  EXPECT_NEAR(impurity_decrease(Criterion::kEntropy, {3, 1}, {1, 3}), 0.18872187554086717, 1e-12);

  // A tiny node: x = 1…9 with labels A A A B A B B B B. Candidate cuts after 3 rows
  // ([3,0] | [1,5]) and after 5 rows ([4,1] | [0,4]) are the good ones; by hand the second
  // wins for both criteria: gini 0.49383 − 5/9·0.32 = 0.31605, entropy 0.99108 − 5/9·0.72193
  // = 0.59000. The tree must choose x ≤ 5.5 and record these impurities.
  Dataset d;
  d.labels = label_space(2);
  d.features = Matrix(9, 1);
  const LabelId y[9] = {0, 0, 0, 1, 0, 1, 1, 1, 1};
  for (std::size_t i = 0; i < 9; ++i) {
    d.features(i, 0) = static_cast<float>(i + 1);
    d.teacher.push_back(y[i]);
  }
  const std::pair<const char*, std::pair<double, double>> cases[] = {
      {"gini", {0.49382716049382713, 0.31604938271604943}},
      {"entropy", {0.9910760598382222, 0.5900048960119098}}};
  for (const auto& [crit, expect] : cases) {
    TreeEnsemble dt("dt", params_of("dt", std::string("max_depth: 1\ncriterion: ") + crit));
    dt.fit(d, nullptr, cpu());
    const DecisionTree& t = dt.trees()[0];
    ASSERT_EQ(t.nodes().size(), 3u) << crit;
    EXPECT_FLOAT_EQ(t.nodes()[0].threshold, 5.5f) << crit;
    const auto& imp = t.node_impurity();
    const auto& w = t.node_weight();
    EXPECT_NEAR(imp[0], expect.first, 1e-6) << crit;
    const double decrease = imp[0] - w[1] / w[0] * imp[1] - w[2] / w[0] * imp[2];
    EXPECT_NEAR(decrease, expect.second, 1e-6) << crit;
  }
}

TEST(DecisionTree, SeparableDataFitsAndPredictsOverTheGlobalLabelSpace) {
  // 3 of 5 classes used: the absent classes 1 and 4 get exactly zero.
  Dataset d = blobs(600, 1, 6.0, {0, 2, 3}, 5, 4, 2);
  TreeEnsemble dt("dt", ForestParams::defaults("dt"));
  dt.fit(d, nullptr, cpu());
  EXPECT_EQ(dt.n_classes(), 5u);
  EXPECT_GE(accuracy(dt, d, cpu()), 0.99);
  Matrix p = dt.predict_proba(d.features, cpu());
  ASSERT_EQ(p.cols(), 5u);
  for (std::size_t i = 0; i < p.rows(); ++i) {
    double s = 0;
    for (std::size_t c = 0; c < 5; ++c) s += p(i, c);
    EXPECT_NEAR(s, 1.0, 1e-5);
    EXPECT_EQ(p(i, 1), 0.0f);
    EXPECT_EQ(p(i, 4), 0.0f);
  }
}

TEST(DecisionTree, LimitsDepthAndLeafSize) {
  Dataset d = blobs(1000, 2, 1.0, {0, 1, 2, 3}, 4, 6, 2);
  TreeEnsemble dt("dt", params_of("dt", "max_depth: 5\nmin_samples_leaf: 20"));
  dt.fit(d, nullptr, cpu());
  const DecisionTree& t = dt.trees()[0];
  EXPECT_LE(t.depth(), 5);
  for (std::size_t i = 0; i < t.nodes().size(); ++i) {
    if (t.nodes()[i].feature < 0) {
      EXPECT_GE(t.node_weight()[i], 20.0f);
    }
  }
}

TEST(DecisionTree, SameSeedSameTreeAndThreadCountDoesNotMatter) {
  // Large enough (rows × drawn features ≥ 2^15) that the top nodes' features are evaluated in
  // parallel with 2 threads.
  Dataset d = blobs(5000, 3, 1.0, {0, 1, 2, 3, 4}, 5, 10, 10);
  TreeEnsemble a("dt", params_of("dt", "max_features: 0.5"));
  TreeEnsemble b("dt", params_of("dt", "max_features: 0.5"));
  TreeEnsemble c("dt", params_of("dt", "max_features: 0.5"));
  a.fit(d, nullptr, cpu(1));
  b.fit(d, nullptr, cpu(1));
  c.fit(d, nullptr, cpu(2));
  expect_same_trees(a, b);
  expect_same_trees(a, c);
  expect_same_matrix(a.predict_proba(d.features, cpu(1)), c.predict_proba(d.features, cpu(2)));
}

TEST(DecisionTree, SaveLoadPredictsIdentically) {
  testing::TempDir dir;
  Dataset d = blobs(800, 4, 1.5, {1, 2, 3}, 4, 5, 3);
  TreeEnsemble dt("dt", params_of("dt", "criterion: entropy"));
  dt.fit(d, nullptr, cpu());
  dt.save(dir / "dt.bin");
  std::unique_ptr<Classifier> back = builtin_models().load(dir / "dt.bin");
  EXPECT_EQ(back->name(), "dt");
  EXPECT_EQ(back->n_classes(), 4u);
  Dataset probe = blobs(300, 5, 1.5, {0, 1, 2, 3}, 4, 5, 3);
  expect_same_matrix(dt.predict_proba(probe.features, cpu()),
                     back->predict_proba(probe.features, cpu(2)));
}

TEST(DecisionTree, ParamsValidationNamesKeyValueAndRange) {
  using testing::error_of;
  EXPECT_EQ(params_of("dt", "").tree.max_depth, 16);
  EXPECT_EQ(params_of("dt", "").tree.max_features.kind, MaxFeatures::Kind::kAll);
  std::string e = error_of([] { params_of("dt", "max_depth: -1"); });
  EXPECT_THAT(e, HasSubstr("model.max_depth"));
  EXPECT_THAT(e, HasSubstr("-1"));
  EXPECT_THAT(e, HasSubstr("[0, 1000]"));
  e = error_of([] { params_of("dt", "max_features: 1.5"); });
  EXPECT_THAT(e, HasSubstr("model.max_features"));
  EXPECT_THAT(e, HasSubstr("'1.5'"));
  EXPECT_THAT(e, HasSubstr("(0, 1]"));
  e = error_of([] { params_of("dt", "max_features: cube"); });
  EXPECT_THAT(e, HasSubstr("sqrt"));
  e = error_of([] { params_of("dt", "criterion: mse"); });
  EXPECT_THAT(e, HasSubstr("model.criterion"));
  EXPECT_THAT(e, HasSubstr("gini, entropy"));
  e = error_of([] { params_of("dt", "min_samples_leaf: 0"); });
  EXPECT_THAT(e, HasSubstr("min_samples_leaf"));
  EXPECT_THAT(e, HasSubstr("[1, "));
  e = error_of([] { params_of("dt", "max_bins: 512"); });
  EXPECT_THAT(e, HasSubstr("[2, 256]"));
  // n_trees belongs to the forests only.
  e = error_of([] { params_of("dt", "n_trees: 3"); });
  EXPECT_THAT(e, HasSubstr("'model.n_trees' does not exist"));
  EXPECT_THAT(e, HasSubstr("max_depth"));
  // The config's `name` key is allowed.
  EXPECT_EQ(error_of([] { params_of("dt", "name: dt"); }), "");
  // An integer max_features above the number of features fails at fit.
  Dataset d = blobs(50, 1, 2.0, {0, 1}, 2, 2, 1);
  TreeEnsemble dt("dt", params_of("dt", "max_features: 4"));
  e = error_of([&] { dt.fit(d, nullptr, cpu()); });
  EXPECT_THAT(e, HasSubstr("max_features 4"));
  EXPECT_THAT(e, HasSubstr("(3)"));
}

TEST(DecisionTree, MaxFeaturesResolvesLikeScikitLearn) {
  EXPECT_EQ(MaxFeatures::parse("sqrt", "k").resolve(256), 16u);
  EXPECT_EQ(MaxFeatures::parse("sqrt", "k").resolve(3), 1u);
  EXPECT_EQ(MaxFeatures::parse("log2", "k").resolve(256), 8u);
  EXPECT_EQ(MaxFeatures::parse("all", "k").resolve(7), 7u);
  EXPECT_EQ(MaxFeatures::parse("0.5", "k").resolve(255), 127u);
  EXPECT_EQ(MaxFeatures::parse("1.0", "k").resolve(10), 10u);
  EXPECT_EQ(MaxFeatures::parse("0.01", "k").resolve(10), 1u);
  EXPECT_EQ(MaxFeatures::parse("3", "k").resolve(10), 3u);
}

// ---- random forest --------------------------------------------------------------------------

TEST(RandomForest, DefaultsMatchScikitLearn) {
  ForestParams p = params_of("rf", "");
  EXPECT_EQ(p.n_trees, 200);
  EXPECT_TRUE(p.bootstrap);
  EXPECT_EQ(p.tree.max_depth, 0);
  EXPECT_EQ(p.tree.max_features.kind, MaxFeatures::Kind::kSqrt);
  EXPECT_EQ(p.tree.split, SplitPolicy::kBest);
  EXPECT_EQ(p.tree.criterion, Criterion::kGini);
  EXPECT_THAT(testing::error_of([] { params_of("rf", "n_trees: 0"); }),
              HasSubstr("'model.n_trees': 0 is out of range; expected an integer in [1, 100000]"));
}

TEST(RandomForest, BeatsASingleTreeOnNoisyData) {
  Dataset train = blobs(2000, 11, 0.6, {0, 1, 2, 3, 4, 5, 6, 7}, 8, 12, 12);
  Dataset test = blobs(2000, 12, 0.6, {0, 1, 2, 3, 4, 5, 6, 7}, 8, 12, 12);
  TreeEnsemble dt("dt", ForestParams::defaults("dt"));
  TreeEnsemble rf("rf", params_of("rf", "n_trees: 60"));
  dt.fit(train, nullptr, cpu(2));
  rf.fit(train, nullptr, cpu(2));
  const double a_dt = accuracy(dt, test, cpu(2)), a_rf = accuracy(rf, test, cpu(2));
  EXPECT_GT(a_rf, a_dt + 0.05) << "dt " << a_dt << " rf " << a_rf;
}

TEST(RandomForest, SameSeedAndAnyThreadCountGiveIdenticalModels) {
  Dataset d = blobs(1000, 13, 1.0, {0, 1, 2, 3}, 4, 6, 6);
  auto fit = [&](int threads, std::uint64_t seed) {
    auto m = std::make_unique<TreeEnsemble>("rf", params_of("rf", "n_trees: 16"));
    m->fit(d, nullptr, cpu(threads, seed));
    return m;
  };
  auto a = fit(1, 5), b = fit(1, 5), c = fit(2, 5), other = fit(1, 6);
  expect_same_trees(*a, *b);
  expect_same_trees(*a, *c);
  expect_same_matrix(a->predict_proba(d.features, cpu(1)), c->predict_proba(d.features, cpu(2)));
  // Another seed: other bootstrap samples and features, other trees.
  EXPECT_NE(a->trees()[0].nodes().size() * 1000 + a->trees()[1].nodes().size(),
            other->trees()[0].nodes().size() * 1000 + other->trees()[1].nodes().size());
}

TEST(RandomForest, SaveLoadThroughTheRegistryPredictsIdentically) {
  testing::TempDir dir;
  Dataset d = blobs(700, 14, 1.0, {0, 2, 3}, 5, 6, 2);
  YAML::Node spec = YAML::Load("{name: rf, n_trees: 12, max_features: log2}");
  std::unique_ptr<Classifier> rf = builtin_models().make(spec, "model");
  rf->fit(d, nullptr, cpu(2));
  rf->save(dir / "rf.bin");
  std::unique_ptr<Classifier> back = builtin_models().load(dir / "rf.bin");
  EXPECT_EQ(back->name(), "rf");
  Dataset probe = blobs(400, 15, 1.0, {0, 1, 2, 3, 4}, 5, 6, 2);
  Matrix p = rf->predict_proba(probe.features, cpu(2));
  expect_same_matrix(p, back->predict_proba(probe.features, cpu(1)));
  for (std::size_t i = 0; i < p.rows(); ++i) {
    EXPECT_EQ(p(i, 1), 0.0f);
    EXPECT_EQ(p(i, 4), 0.0f);
    EXPECT_NEAR(p(i, 0) + p(i, 2) + p(i, 3), 1.0, 1e-5);
  }
  // A truncated file is an error naming it.
  const std::string bytes = read_file(dir / "rf.bin");
  auto cut = dir.write("cut.bin", bytes.substr(0, bytes.size() / 2));
  EXPECT_THAT(testing::error_of([&] { builtin_models().load(cut); }), HasSubstr("cut.bin"));
}

// ---- extra trees ----------------------------------------------------------------------------

TEST(ExtraTrees, DefaultsMatchScikitLearn) {
  ForestParams p = params_of("et", "");
  EXPECT_EQ(p.n_trees, 200);
  EXPECT_FALSE(p.bootstrap);
  EXPECT_EQ(p.tree.max_depth, 0);
  EXPECT_EQ(p.tree.max_features.kind, MaxFeatures::Kind::kSqrt);
  EXPECT_EQ(p.tree.split, SplitPolicy::kRandom);
}

TEST(ExtraTrees, BeatsASingleTreeOnNoisyData) {
  Dataset train = blobs(2000, 11, 0.6, {0, 1, 2, 3, 4, 5, 6, 7}, 8, 12, 12);
  Dataset test = blobs(2000, 12, 0.6, {0, 1, 2, 3, 4, 5, 6, 7}, 8, 12, 12);
  TreeEnsemble dt("dt", ForestParams::defaults("dt"));
  TreeEnsemble et("et", params_of("et", "n_trees: 60"));
  dt.fit(train, nullptr, cpu(2));
  et.fit(train, nullptr, cpu(2));
  const double a_dt = accuracy(dt, test, cpu(2)), a_et = accuracy(et, test, cpu(2));
  EXPECT_GT(a_et, a_dt + 0.05) << "dt " << a_dt << " et " << a_et;
}

TEST(ExtraTrees, RandomThresholdsDifferFromTheBestSplit) {
  // Stumps on all rows with all features: rf's root is the best split, the same in every tree;
  // et's roots draw random cuts, so they vary and never beat the best split's impurity decrease.
  Dataset d = blobs(1000, 16, 1.0, {0, 1, 2}, 3, 3, 0);
  const char* stump = "n_trees: 20\nmax_depth: 1\nmax_features: all\nbootstrap: false";
  TreeEnsemble rf("rf", params_of("rf", stump));
  TreeEnsemble et("et", params_of("et", stump));
  rf.fit(d, nullptr, cpu());
  et.fit(d, nullptr, cpu());
  auto decrease = [](const DecisionTree& t) {
    const auto& imp = t.node_impurity();
    const auto& w = t.node_weight();
    return imp[0] - w[1] / w[0] * imp[1] - w[2] / w[0] * imp[2];
  };
  std::set<std::pair<int, float>> rf_roots, et_roots;
  const double best = decrease(rf.trees()[0]);
  std::size_t worse = 0;
  for (std::size_t t = 0; t < 20; ++t) {
    const auto& rn = rf.trees()[t].nodes()[0];
    const auto& en = et.trees()[t].nodes()[0];
    rf_roots.insert({rn.feature, rn.threshold});
    et_roots.insert({en.feature, en.threshold});
    const double e = decrease(et.trees()[t]);
    EXPECT_LE(e, best + 1e-6);
    worse += e < best - 1e-6;
  }
  EXPECT_EQ(rf_roots.size(), 1u);
  EXPECT_GE(et_roots.size(), 10u);
  EXPECT_GE(worse, 15u);
}

TEST(ExtraTrees, SameSeedAndAnyThreadCountGiveIdenticalModels) {
  Dataset d = blobs(1000, 17, 1.0, {0, 1, 2, 3}, 4, 6, 6);
  auto fit = [&](int threads) {
    auto m =
        std::make_unique<TreeEnsemble>("et", params_of("et", "n_trees: 16\ncriterion: entropy"));
    m->fit(d, nullptr, cpu(threads, 9));
    return m;
  };
  auto a = fit(1), b = fit(1), c = fit(2);
  expect_same_trees(*a, *b);
  expect_same_trees(*a, *c);
  EXPECT_GE(accuracy(*a, d, cpu()), 0.99);  // fully grown: fits its training rows
}

TEST(ExtraTrees, SaveLoadPredictsIdentically) {
  testing::TempDir dir;
  Dataset d = blobs(700, 18, 1.0, {0, 1, 2}, 3, 5, 2);
  TreeEnsemble et("et", params_of("et", "n_trees: 10\nmin_samples_leaf: 3"));
  et.fit(d, nullptr, cpu(2));
  et.save(dir / "et.bin");
  std::unique_ptr<Classifier> back = builtin_models().load(dir / "et.bin");
  EXPECT_EQ(back->name(), "et");
  expect_same_matrix(et.predict_proba(d.features, cpu(2)), back->predict_proba(d.features, cpu(1)));
}

}  // namespace
}  // namespace deferbench
