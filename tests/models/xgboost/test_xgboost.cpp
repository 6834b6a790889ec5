// The xgb model (XGBoost C API adapter); without XGBoost in the build, its explanatory error.
#include <algorithm>
#include <cmath>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/util/error.h"
#include "models/registry.h"
#include "tests/test_util.h"

#ifdef DEFERBENCH_HAVE_XGBOOST
#include "models/xgboost/xgb.h"
#endif

namespace deferbench {
namespace {

using testing::error_of;
using ::testing::HasSubstr;

std::unique_ptr<Classifier> make_xgb(const std::string& yaml) {
  return builtin_models().make(YAML::Load(yaml), "model");
}

#ifdef DEFERBENCH_HAVE_XGBOOST

using testing::blobs;

Context cpu(std::uint64_t seed = 7, int threads = 2) {
  return Context{Device::kCpu, seed, threads};
}

double accuracy(const Classifier& m, const Dataset& d) {
  auto pred = m.predict(d.features, cpu());
  std::size_t ok = 0;
  for (std::size_t i = 0; i < d.size(); ++i) ok += pred[i] == d.teacher[i];
  return static_cast<double>(ok) / static_cast<double>(d.size());
}

TEST(XgbModel, FitsSeparableData) {
  Dataset train = blobs(600, 1, 0.3), test = blobs(300, 2, 0.3);
  auto m = make_xgb("{name: xgb, n_rounds: 20}");
  m->fit(train, nullptr, cpu());
  EXPECT_EQ(m->name(), "xgb");
  EXPECT_EQ(m->n_classes(), 5u);
  EXPECT_GE(accuracy(*m, test), 0.99);
}

TEST(XgbModel, RowsSumToOneAndAbsentClassesGetExactlyZero) {
  Dataset train = blobs(300, 3, 1.5), test = blobs(100, 4, 1.5);
  auto m = make_xgb("{name: xgb, n_rounds: 10, max_depth: 3}");
  m->fit(train, nullptr, cpu());
  Matrix p = m->predict_proba(test.features, cpu());
  ASSERT_EQ(p.rows(), 100u);
  ASSERT_EQ(p.cols(), 5u);
  for (std::size_t i = 0; i < p.rows(); ++i) {
    double sum = 0;
    for (std::size_t c = 0; c < p.cols(); ++c) {
      EXPECT_GE(p(i, c), 0.0f);
      sum += p(i, c);
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
    EXPECT_EQ(p(i, 1), 0.0f);
    EXPECT_EQ(p(i, 4), 0.0f);
    EXPECT_GT(p(i, 0), 0.0f);
  }
}

TEST(XgbModel, SingleClassPredictsItWithCertainty) {
  Dataset d = blobs(30, 5, 1.0);
  for (auto& t : d.teacher) t = 2;
  auto m = make_xgb("{name: xgb}");
  m->fit(d, nullptr, cpu());
  Matrix p = m->predict_proba(d.features, cpu());
  for (std::size_t i = 0; i < p.rows(); ++i) EXPECT_EQ(p(i, 2), 1.0f);
}

TEST(XgbModel, EarlyStoppingKeepsTheBestRoundAndSaveLoadPredictsIdentically) {
  Dataset train = blobs(400, 6, 2.0), val = blobs(200, 7, 2.0), test = blobs(150, 8, 2.0);
  auto m = make_xgb("{name: xgb, n_rounds: 200, eta: 0.5, early_stopping_rounds: 5}");
  m->fit(train, &val, cpu());
  auto* xgb = dynamic_cast<XgbClassifier*>(m.get());
  ASSERT_NE(xgb, nullptr);
  EXPECT_LT(xgb->rounds(), 200);
  EXPECT_GE(xgb->rounds(), 1);

  testing::TempDir dir;
  m->save(dir / "m.bin");
  auto loaded = builtin_models().load(dir / "m.bin");
  EXPECT_EQ(loaded->name(), "xgb");
  EXPECT_EQ(loaded->n_classes(), 5u);
  EXPECT_EQ(dynamic_cast<XgbClassifier*>(loaded.get())->rounds(), xgb->rounds());
  Matrix a = m->predict_proba(test.features, cpu()),
         b = loaded->predict_proba(test.features, cpu(0, 1));
  EXPECT_EQ(a.values(), b.values());
}

TEST(XgbModel, SameSeedIsIdenticalAndAnotherSeedDiffers) {
  Dataset train = blobs(500, 9, 1.5), test = blobs(100, 10, 1.5);
  const std::string spec = "{name: xgb, n_rounds: 15, subsample: 0.6}";
  auto a = make_xgb(spec), b = make_xgb(spec), c = make_xgb(spec);
  a->fit(train, nullptr, cpu(11));
  b->fit(train, nullptr, cpu(11));
  c->fit(train, nullptr, cpu(12));
  Matrix pa = a->predict_proba(test.features, cpu());
  EXPECT_EQ(pa.values(), b->predict_proba(test.features, cpu()).values());
  EXPECT_NE(pa.values(), c->predict_proba(test.features, cpu()).values());
}

// The compiled trees against XGBoost's own predictor (which a batch holding a NaN goes
// through), on features of few distinct values: many rows sit exactly on a split value, where
// XGBoost's "x < c" and the compiled "x ≤ c⁻" must agree. Four classes of five (one absent),
// depth 6 and 4 (shallower trees pushed down), and a depth-10 booster walked node by node.
TEST(XgbModel, CompiledTreesPredictWhatXGBoostPredicts) {
  std::mt19937_64 rng(12);
  Dataset d;
  d.labels = std::make_shared<LabelSpace>(std::vector<std::string>{"a", "b", "c", "d", "e"});
  const std::size_t n = 1500, f = 6;
  d.features = Matrix(n, f);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < f; ++j)
      d.features(i, j) = static_cast<float>(rng() % 7) - 3.0f + (j == 0 ? 0.5f : 0.0f);
    const float s = d.features(i, 0) + d.features(i, 1) - 0.5f * d.features(i, 2);
    const int cls = s < -2 ? 0 : s < 0 ? 1 : s < 2 ? 3 : 4;  // class 2 never occurs
    d.teacher.push_back(rng() % 10 == 0 ? static_cast<LabelId>(rng() % 2) : cls);
  }
  for (const char* yaml :
       {"name: xgb\nn_rounds: 12\nmax_depth: 6", "name: xgb\nn_rounds: 9\nmax_depth: 4",
        "name: xgb\nn_rounds: 5\nmax_depth: 10"}) {
    auto m = make_xgb(yaml);
    m->fit(d, nullptr, cpu());
    ASSERT_TRUE(dynamic_cast<const XgbClassifier&>(*m).compiled()) << yaml;
    Matrix ours = m->predict_proba(d.features, cpu());
    Matrix with_nan(n + 1, f);
    std::copy(d.features.values().begin(), d.features.values().end(), with_nan.data());
    with_nan(n, 3) = std::nanf("");
    Matrix theirs = m->predict_proba(with_nan, cpu());
    double worst = 0;
    std::size_t argmax_differs = 0;
    const std::vector<LabelId> a = argmax_rows(ours), b = argmax_rows(theirs);
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t c = 0; c < 5; ++c)
        worst = std::max(worst, static_cast<double>(std::abs(ours(i, c) - theirs(i, c))));
      argmax_differs += a[i] != b[i];
      EXPECT_EQ(ours(i, 2), 0.0f);
    }
    EXPECT_LE(worst, 2e-6) << yaml;
    EXPECT_EQ(argmax_differs, 0u) << yaml;
  }
}

// Warm starts (issue 17): XGBoost's continued training, as gbt's
// (tests/models/trees/test_tree_warm_start.cpp). 600 old rows, then 200 new ones.
Dataset first_rows(const Dataset& d, std::size_t n) {
  std::vector<std::size_t> rows(n);
  for (std::size_t i = 0; i < n; ++i) rows[i] = i;
  return d.subset(rows);
}

TEST(XgbModel, WarmStartAcceptsTheSameModelOnlyAndAddsWarmRounds) {
  const Dataset all = blobs(800, 21, 1.5), old_rows = first_rows(all, 600),
                test = blobs(400, 22, 1.5);
  const std::string spec = "{name: xgb, n_rounds: 10, max_depth: 3, warm_rounds: 4}";
  auto previous = make_xgb(spec), warm = make_xgb(spec), again = make_xgb(spec);
  previous->fit(old_rows, nullptr, cpu());
  EXPECT_FALSE(make_xgb("{name: xgb, n_rounds: 10, max_depth: 3}")->warm_start_from(*previous));
  EXPECT_FALSE(make_xgb("{name: xgb, n_rounds: 10, max_depth: 3, warm_rounds: 4, eta: 0.2}")
                   ->warm_start_from(*previous));
  EXPECT_FALSE(warm->warm_start_from(*make_xgb(spec)));  // not fitted
  auto gbt = builtin_models().make(YAML::Load("{name: gbt, n_rounds: 3}"), "model");
  gbt->fit(old_rows, nullptr, cpu());
  EXPECT_FALSE(warm->warm_start_from(*gbt));
  EXPECT_FALSE(gbt->warm_start_from(*previous));

  ASSERT_TRUE(warm->warm_start_from(*previous));
  warm->fit(all, nullptr, cpu());
  EXPECT_TRUE(warm->warm_started());
  EXPECT_EQ(dynamic_cast<const XgbClassifier&>(*warm).rounds(), 14);
  EXPECT_GE(accuracy(*warm, test), accuracy(*previous, test) - 0.01);
  EXPECT_NE(warm->predict_proba(test.features, cpu()).values(),
            previous->predict_proba(test.features, cpu()).values());
  ASSERT_TRUE(again->warm_start_from(*warm));
  again->fit(all, nullptr, cpu());
  EXPECT_EQ(dynamic_cast<const XgbClassifier&>(*again).rounds(), 18);
  // warm_max_rounds 0: at most 2 × n_rounds = 20 rounds, so 18 + 4 is refused (a cold refit).
  EXPECT_FALSE(make_xgb(spec)->warm_start_from(*again));

  // Same seed, same refit; saved and loaded, the same predictions.
  auto twin = make_xgb(spec);
  ASSERT_TRUE(twin->warm_start_from(*previous));
  twin->fit(all, nullptr, cpu());
  const Matrix expected = warm->predict_proba(test.features, cpu());
  EXPECT_EQ(twin->predict_proba(test.features, cpu()).values(), expected.values());
  testing::TempDir dir;
  warm->save(dir / "warm.bin");
  EXPECT_EQ(builtin_models().load(dir / "warm.bin")->predict_proba(test.features, cpu()).values(),
            expected.values());

  // Another set of classes present: a cold fit.
  Dataset two_classes = all;
  for (LabelId& t : two_classes.teacher)
    if (t == 3) t = 2;
  auto changed = make_xgb(spec), cold = make_xgb(spec);
  ASSERT_TRUE(changed->warm_start_from(*previous));
  changed->fit(two_classes, nullptr, cpu());
  cold->fit(two_classes, nullptr, cpu());
  EXPECT_FALSE(changed->warm_started());
  EXPECT_EQ(dynamic_cast<const XgbClassifier&>(*changed).rounds(), 10);
  EXPECT_EQ(changed->predict_proba(test.features, cpu()).values(),
            cold->predict_proba(test.features, cpu()).values());
}

// Early stopping as in a cold fit, the previous booster as it is the first candidate: on labels
// drawn at random the new rounds only undo what it learned, and none is kept.
TEST(XgbModel, WarmStartStopsEarlyAndMayKeepThePreviousBooster) {
  const Dataset all = blobs(800, 23, 1.5), old_rows = first_rows(all, 600),
                val = blobs(300, 24, 1.5), test = blobs(200, 25, 1.5);
  const std::string spec =
      "{name: xgb, n_rounds: 10, max_depth: 3, eta: 0.1, warm_rounds: 10, "
      "early_stopping_rounds: 2}";
  auto previous = make_xgb(spec), warm = make_xgb(spec);
  previous->fit(old_rows, &val, cpu());
  Dataset noisy = all;
  std::shuffle(noisy.teacher.begin(), noisy.teacher.end(), std::mt19937_64(3));
  ASSERT_TRUE(warm->warm_start_from(*previous));
  warm->fit(noisy, &val, cpu());
  EXPECT_TRUE(warm->warm_started());
  EXPECT_EQ(dynamic_cast<const XgbClassifier&>(*warm).rounds(),
            dynamic_cast<const XgbClassifier&>(*previous).rounds());
  EXPECT_EQ(warm->predict_proba(test.features, cpu()).values(),
            previous->predict_proba(test.features, cpu()).values());
}

TEST(XgbModel, XGBoostErrorsBecomeOurErrorWithItsMessage) {
  Dataset train = blobs(60, 13, 1.0);
  auto m = make_xgb("{name: xgb, n_rounds: 2, extra: {max_delta_step: abc}}");
  std::string msg = error_of([&] { m->fit(train, nullptr, cpu()); });
  EXPECT_THAT(msg, HasSubstr("xgb"));
  EXPECT_THAT(msg, HasSubstr("max_delta_step"));
  EXPECT_THAT(msg, HasSubstr("abc"));
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

TEST(XgbModel, ConfigIsValidated) {
  EXPECT_THAT(error_of([] { make_xgb("{name: xgb, rounds: 3}"); }),
              HasSubstr("valid keys under 'model'"));
  EXPECT_THAT(error_of([] { make_xgb("{name: xgb, eta: 2}"); }), HasSubstr("model.eta"));
  EXPECT_THAT(error_of([] { make_xgb("{name: xgb, extra: {nthread: 4}}"); }),
              HasSubstr("model.extra.nthread"));
}

#else  // !DEFERBENCH_HAVE_XGBOOST

TEST(XgbUnavailable, ExplainsHowToBuildIt) {
  std::string msg = error_of([] { make_xgb("{name: xgb}"); });
  EXPECT_THAT(msg, HasSubstr("lacks XGBoost"));
  EXPECT_THAT(msg, HasSubstr("-DDEFERBENCH_XGBOOST=on"));
  EXPECT_THAT(msg, HasSubstr("libxgboost-dev"));
}

#endif

}  // namespace
}  // namespace deferbench
