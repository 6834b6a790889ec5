// Warm starts of the dense models (issue 17, Classifier::warm_start_from): an online cascade
// fits its surrogate on the labels it has, then refits on old + new rows starting from the
// previous model. Checked here: what warm_start_from accepts, that the refit is as good as a cold
// fit on the same rows in fewer optimizer steps, that it is deterministic, that a training set
// that does not suit the previous model gets a cold fit, and the re-expression of the previous
// parameters (dense::warm_weights) under a new standardization and class set.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "models/backend.h"
#include "models/dense/logreg.h"
#include "models/dense/mlp.h"
#include "models/dense/warm_start.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

// Held-out quality of the warm refit against the cold fit on the same rows, on 4,000 test rows.
// LogReg: both minimize the same strictly convex objective to the same gradient tolerance
// (max-norm 1e-4 of the 1/n-scaled gradient), so they stop near one optimum: their log-losses
// differ by about 1e-4 on this problem, their predictions by a few rows; 1e-3 and 0.0025 (10
// rows) leave room for the two stopping points and none for a worse model. Mlp (and LogReg by
// Adam): minibatch training stopped early, non-convex for the MLP; two good fits differ by their
// minibatch noise, up to about 0.005 in log-loss and 15 rows here, so 0.02 and 0.01 (40 rows):
// a refit from bad weights, or stopped before it has learned, costs more.
constexpr double kLogRegLossTolerance = 1e-3, kLogRegAccuracyTolerance = 0.0025;
constexpr double kMlpLossTolerance = 0.02, kMlpAccuracyTolerance = 0.01;
// warm_weights: the same function in float arithmetic.
constexpr double kReexpressTolerance = 1e-4;

constexpr std::size_t kDim = 16, kClasses = 10;

// The refit problem: 9,000 old rows, 1,000 new, 1,000 val, 4,000 test (tests/test_util.h).
using Problem = testing::WarmProblem;
using Quality = testing::HeldOutQuality;
using testing::rows_of;

Problem problem(std::size_t dim = kDim, std::size_t classes = kClasses) {
  return testing::warm_problem(dim, classes);
}

Quality quality(const Classifier& model, const Dataset& d, const Context& ctx) {
  return testing::held_out_quality(model, d, ctx, 1e-15);
}

MlpParams small_mlp() {
  MlpParams p;
  p.hidden = {32};
  return p;
}

Context cpu(std::uint64_t seed = 7) {
  return Context{Device::kCpu, seed, 1};
}

// The refit tests, once on the CPU and once on CUDA (skipped at run time without a usable GPU).
class WarmStartDevice : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override {
    if (GetParam() == Device::kCuda && !cuda_available())
      GTEST_SKIP() << "no usable CUDA device (the CPU instance of this test ran)";
  }
  Context ctx(std::uint64_t seed = 7) const { return Context{GetParam(), seed, 1}; }
};

TEST_P(WarmStartDevice, LogRegRefitIsAsGoodAsColdInFewerIterations) {
  const Problem p = problem();
  LogReg previous(LogRegParams{}), cold(LogRegParams{}), warm(LogRegParams{});
  previous.fit(p.old_rows, nullptr, ctx());
  cold.fit(p.all_rows, nullptr, ctx());
  ASSERT_TRUE(warm.warm_start_from(previous));
  warm.fit(p.all_rows, nullptr, ctx());
  EXPECT_TRUE(warm.warm_started());
  EXPECT_FALSE(cold.warm_started());

  const Quality qc = quality(cold, p.test, ctx()), qw = quality(warm, p.test, ctx());
  std::printf("logreg held out: cold %.5f / %.4f (%d iterations), warm %.5f / %.4f (%d)\n",
              qc.log_loss, qc.accuracy, cold.iterations(), qw.log_loss, qw.accuracy,
              warm.iterations());
  EXPECT_LE(qw.log_loss, qc.log_loss + kLogRegLossTolerance);
  EXPECT_GE(qw.accuracy, qc.accuracy - kLogRegAccuracyTolerance);
  EXPECT_GT(qc.accuracy, 0.5);  // a real problem, learned (10 classes: chance is 0.1)
  // Fewer L-BFGS iterations: the warm fit skips the descent from zeros (here 15 → 9). Both then
  // pay L-BFGS's slow approach to the gradient tolerance, so the saving is a part, not most.
  EXPECT_GT(cold.iterations(), 10);
  EXPECT_LT(warm.iterations(), cold.iterations());
}

// LogReg's adam solver keeps its patience in a warm fit (its table has no warm_patience), so the
// warm fit runs about as many epochs as a cold one where both peak within a few epochs, as here.
// What it must do is continue: one epoch from the previous weights (themselves one epoch of
// training) gets further than one epoch from zeros.
TEST_P(WarmStartDevice, LogRegAdamRefitIsAsGoodAsColdAndContinuesTraining) {
  const Problem p = problem();
  LogRegParams params;
  params.solver = LogRegSolver::kAdam;
  LogReg previous(params), cold(params), warm(params);
  previous.fit(p.old_rows, &p.val, ctx());
  cold.fit(p.all_rows, &p.val, ctx());
  ASSERT_TRUE(warm.warm_start_from(previous));
  warm.fit(p.all_rows, &p.val, ctx());
  const Quality qc = quality(cold, p.test, ctx()), qw = quality(warm, p.test, ctx());
  // Adam stopped early is not at the optimum: the MLP's tolerances.
  EXPECT_LE(qw.log_loss, qc.log_loss + kMlpLossTolerance);
  EXPECT_GE(qw.accuracy, qc.accuracy - kMlpAccuracyTolerance);
  EXPECT_EQ(warm.iterations(), 0);
  EXPECT_LE(warm.epochs_run(), cold.epochs_run());

  LogRegParams one_epoch = params;
  one_epoch.max_epochs = 1;
  one_epoch.lr = 1e-3;
  LogReg prev1(one_epoch), cold1(one_epoch), warm1(one_epoch);
  prev1.fit(p.old_rows, &p.val, ctx());
  cold1.fit(p.all_rows, &p.val, ctx());
  ASSERT_TRUE(warm1.warm_start_from(prev1));
  warm1.fit(p.all_rows, &p.val, ctx());
  const double loss_cold = quality(cold1, p.test, ctx()).log_loss,
               loss_warm = quality(warm1, p.test, ctx()).log_loss;
  EXPECT_LT(loss_warm, loss_cold - 0.05) << "cold " << loss_cold << ", warm " << loss_warm;
}

TEST_P(WarmStartDevice, MlpRefitIsAsGoodAsColdInFewerEpochs) {
  const Problem p = problem();
  for (bool standardize : {false, true}) {  // true: the first layer is re-expressed
    SCOPED_TRACE(standardize ? "standardize" : "raw features");
    MlpParams params = small_mlp();
    params.standardize = standardize;
    Mlp previous("mlp_1h", params), cold("mlp_1h", params), warm("mlp_1h", params);
    previous.fit(p.old_rows, &p.val, ctx());
    cold.fit(p.all_rows, &p.val, ctx());
    ASSERT_TRUE(warm.warm_start_from(previous));
    warm.fit(p.all_rows, &p.val, ctx());
    EXPECT_TRUE(warm.warm_started());
    EXPECT_FALSE(cold.warm_started());

    const Quality qc = quality(cold, p.test, ctx()), qw = quality(warm, p.test, ctx());
    EXPECT_LE(qw.log_loss, qc.log_loss + kMlpLossTolerance);
    EXPECT_GE(qw.accuracy, qc.accuracy - kMlpAccuracyTolerance);
    EXPECT_GT(qc.accuracy, 0.5);
    // The warm fit stops after warm_patience + 1 epochs without a gain (the cold one after
    // patience + 1): a few epochs where the cold fit runs tens.
    EXPECT_TRUE(warm.stopped_early());
    EXPECT_LE(warm.epochs_run() - warm.best_epoch(), params.warm_patience + 1);
    EXPECT_LT(warm.epochs_run(), cold.epochs_run() / 2);
  }
}

TEST_P(WarmStartDevice, SameSeedSameRefit) {
  const Problem p = problem();
  LogReg lr_prev(LogRegParams{}), lr_a(LogRegParams{}), lr_b(LogRegParams{});
  lr_prev.fit(p.old_rows, nullptr, ctx());
  for (LogReg* m : {&lr_a, &lr_b}) {
    ASSERT_TRUE(m->warm_start_from(lr_prev));
    m->fit(p.all_rows, nullptr, ctx());
  }
  EXPECT_EQ(lr_a.predict_proba(p.test.features, ctx()).values(),
            lr_b.predict_proba(p.test.features, ctx()).values());

  Mlp prev("mlp_1h", small_mlp()), a("mlp_1h", small_mlp()), b("mlp_1h", small_mlp()),
      c("mlp_1h", small_mlp());
  prev.fit(p.old_rows, &p.val, ctx());
  for (Mlp* m : {&a, &b, &c}) ASSERT_TRUE(m->warm_start_from(prev));
  a.fit(p.all_rows, &p.val, ctx(11));
  b.fit(p.all_rows, &p.val, ctx(11));
  c.fit(p.all_rows, &p.val, ctx(12));
  EXPECT_EQ(a.predict_proba(p.test.features, ctx()).values(),
            b.predict_proba(p.test.features, ctx()).values());
  // The seed still draws the minibatches: another seed, another refit.
  EXPECT_NE(a.predict_proba(p.test.features, ctx()).values(),
            c.predict_proba(p.test.features, ctx()).values());
}

INSTANTIATE_TEST_SUITE_P(WarmStart, WarmStartDevice, ::testing::Values(Device::kCpu, Device::kCuda),
                         [](const ::testing::TestParamInfo<Device>& info) {
                           return std::string(device_name(info.param));
                         });

TEST(WarmStart, LogRegAcceptsTheSameModelOnly) {
  const Problem p = problem();
  LogReg previous(LogRegParams{});
  previous.fit(p.old_rows, nullptr, cpu());

  LogReg same(LogRegParams{});
  EXPECT_TRUE(same.warm_start_from(previous));
  EXPECT_TRUE(previous.warm_start_from(previous));  // a refit in place

  LogRegParams other_c;
  other_c.C = 10.0;
  LogReg different_settings(other_c), unfitted_previous(LogRegParams{});
  EXPECT_FALSE(different_settings.warm_start_from(previous));
  EXPECT_FALSE(same.warm_start_from(unfitted_previous));

  // Another kind of model, even one computing the same kind of function.
  MlpParams linear;
  linear.hidden = {};
  Mlp mlp("mlp_1h", linear);
  mlp.fit(p.old_rows, nullptr, cpu());
  EXPECT_FALSE(mlp.warm_start_from(previous));
  EXPECT_FALSE(same.warm_start_from(mlp));

  // A fitted model of another width or label space.
  const Problem narrow = problem(kDim / 2), fewer = problem(kDim, kClasses / 2);
  LogReg fitted_narrow(LogRegParams{}), fitted_fewer(LogRegParams{});
  fitted_narrow.fit(narrow.old_rows, nullptr, cpu());
  fitted_fewer.fit(fewer.old_rows, nullptr, cpu());
  EXPECT_FALSE(fitted_narrow.warm_start_from(previous));
  EXPECT_FALSE(fitted_fewer.warm_start_from(previous));
  EXPECT_FALSE(previous.warm_start_from(fitted_narrow));
  EXPECT_FALSE(previous.warm_start_from(fitted_fewer));
}

TEST(WarmStart, MlpAcceptsTheSameModelOnly) {
  const Problem p = problem();
  Mlp previous("mlp_1h", small_mlp());
  previous.fit(p.old_rows, nullptr, cpu());

  Mlp same("mlp_1h", small_mlp());
  EXPECT_TRUE(same.warm_start_from(previous));
  MlpParams wider = small_mlp(), slower = small_mlp();
  wider.hidden = {64};
  slower.lr = 1e-4;
  Mlp other_hidden("mlp_1h", wider), other_lr("mlp_1h", slower);
  EXPECT_FALSE(other_hidden.warm_start_from(previous));
  EXPECT_FALSE(other_lr.warm_start_from(previous));
  LogReg logreg(LogRegParams{});
  EXPECT_FALSE(logreg.warm_start_from(previous));

  const Problem narrow = problem(kDim / 2), fewer = problem(kDim, kClasses / 2);
  Mlp fitted_narrow("mlp_1h", small_mlp()), fitted_fewer("mlp_1h", small_mlp());
  fitted_narrow.fit(narrow.old_rows, nullptr, cpu());
  fitted_fewer.fit(fewer.old_rows, nullptr, cpu());
  EXPECT_FALSE(fitted_narrow.warm_start_from(previous));
  EXPECT_FALSE(fitted_fewer.warm_start_from(previous));
}

// A warm start whose previous model does not suit the training set the fit gets: that fit is
// exactly a cold fit (no error), and so is every later fit (the warm start was consumed).
TEST(WarmStart, UnsuitedTrainingSetGetsAColdFit) {
  const Problem p = problem(), narrow = problem(kDim / 2), fewer = problem(kDim, kClasses / 2);
  LogReg lr_prev(LogRegParams{});
  Mlp mlp_prev("mlp_1h", small_mlp());
  lr_prev.fit(p.old_rows, nullptr, cpu());
  mlp_prev.fit(p.old_rows, nullptr, cpu());
  for (const Problem* other : {&narrow, &fewer}) {
    LogReg lr_warm(LogRegParams{}), lr_cold(LogRegParams{});
    ASSERT_TRUE(lr_warm.warm_start_from(lr_prev));  // unfitted: fit() checks
    lr_warm.fit(other->all_rows, nullptr, cpu());
    lr_cold.fit(other->all_rows, nullptr, cpu());
    EXPECT_FALSE(lr_warm.warm_started());
    EXPECT_EQ(lr_warm.iterations(), lr_cold.iterations());
    EXPECT_EQ(lr_warm.predict_proba(other->test.features, cpu()).values(),
              lr_cold.predict_proba(other->test.features, cpu()).values());

    Mlp mlp_warm("mlp_1h", small_mlp()), mlp_cold("mlp_1h", small_mlp());
    ASSERT_TRUE(mlp_warm.warm_start_from(mlp_prev));
    mlp_warm.fit(other->all_rows, &other->val, cpu());
    mlp_cold.fit(other->all_rows, &other->val, cpu());
    EXPECT_FALSE(mlp_warm.warm_started());
    EXPECT_EQ(mlp_warm.predict_proba(other->test.features, cpu()).values(),
              mlp_cold.predict_proba(other->test.features, cpu()).values());
  }

  // Consumed by the fit that used it: the next fit is cold again.
  LogReg twice(LogRegParams{});
  ASSERT_TRUE(twice.warm_start_from(lr_prev));
  twice.fit(p.all_rows, nullptr, cpu());
  EXPECT_TRUE(twice.warm_started());
  twice.fit(p.all_rows, nullptr, cpu());
  EXPECT_FALSE(twice.warm_started());
  // And by a cost-weighted fit, which always starts cold.
  ASSERT_TRUE(twice.warm_start_from(lr_prev));
  Matrix one_hot(p.old_rows.size(), kClasses, 0.0f);
  for (std::size_t i = 0; i < p.old_rows.size(); ++i)
    one_hot(i, static_cast<std::size_t>(p.old_rows.teacher[i])) = 1.0f;
  twice.fit_cost_weighted(p.old_rows.features, one_hot, cpu());
  EXPECT_FALSE(twice.warm_started());
  twice.fit(p.all_rows, nullptr, cpu());
  EXPECT_FALSE(twice.warm_started());
}

// A class the previous model never saw arrives with the new rows: the refit learns it.
TEST(WarmStart, ClassNewInTheRefitIsLearned) {
  const Problem p = problem();
  std::vector<std::size_t> without_last;
  for (std::size_t i = 0; i < p.old_rows.size(); ++i)
    if (p.old_rows.teacher[i] != static_cast<LabelId>(kClasses - 1)) without_last.push_back(i);
  const Dataset old_rows = p.old_rows.subset(without_last);
  std::vector<std::size_t> last_rows;
  for (std::size_t i = 0; i < p.test.size(); ++i)
    if (p.test.teacher[i] == static_cast<LabelId>(kClasses - 1)) last_rows.push_back(i);
  const Dataset last = p.test.subset(last_rows);
  ASSERT_GT(last.size(), 50u);

  LogReg lr_prev(LogRegParams{}), lr(LogRegParams{});
  lr_prev.fit(old_rows, nullptr, cpu());
  ASSERT_EQ(lr_prev.classes().size(), kClasses - 1);
  ASSERT_TRUE(lr.warm_start_from(lr_prev));
  lr.fit(p.all_rows, nullptr, cpu());
  EXPECT_TRUE(lr.warm_started());
  EXPECT_EQ(lr.classes().size(), kClasses);
  EXPECT_GT(quality(lr, last, cpu()).accuracy, 0.5);

  Mlp mlp_prev("mlp_1h", small_mlp()), mlp("mlp_1h", small_mlp());
  mlp_prev.fit(old_rows, &p.val, cpu());
  ASSERT_TRUE(mlp.warm_start_from(mlp_prev));
  mlp.fit(p.all_rows, &p.val, cpu());
  EXPECT_TRUE(mlp.warm_started());
  EXPECT_GT(quality(mlp, last, cpu()).accuracy, 0.5);
}

// Logits of a one-layer network on raw x: W ((x − mean) ⊙ scale) + b.
std::vector<double> logits(const Matrix& w, const std::vector<float>& b,
                           const std::vector<float>& mean, const std::vector<float>& scale,
                           const std::vector<double>& x) {
  std::vector<double> z(w.rows());
  for (std::size_t o = 0; o < w.rows(); ++o) {
    z[o] = b[o];
    for (std::size_t j = 0; j < x.size(); ++j) z[o] += w(o, j) * ((x[j] - mean[j]) * scale[j]);
  }
  return z;
}

TEST(WarmWeights, KeepThePreviousFunctionUnderTheNewStandardization) {
  dense::WarmStart start;
  start.n_classes = 3;
  start.classes = {0, 1, 2};
  start.mean = {1.0f, -2.0f};
  start.scale = {0.5f, 4.0f};
  start.net.weights = {Matrix(3, 2, {0.3f, -1.2f, 2.0f, 0.7f, -0.4f, 0.1f})};
  start.net.biases = {{0.2f, -0.5f, 1.0f}};
  const std::vector<float> mean = {3.0f, 0.5f}, scale = {0.25f, 1.5f};
  const dense::DenseWeights w = dense::warm_weights(start, start.classes, mean, scale);
  ASSERT_EQ(w.weights.size(), 1u);
  for (const std::vector<double>& x :
       {std::vector<double>{0, 0}, {1, -2}, {3, 0.5}, {-7.5, 12}, {100, -40}}) {
    const std::vector<double> before = logits(start.net.weights[0], start.net.biases[0], start.mean,
                                              start.scale, x),
                              after = logits(w.weights[0], w.biases[0], mean, scale, x);
    for (std::size_t o = 0; o < 3; ++o)
      EXPECT_NEAR(after[o], before[o], kReexpressTolerance * std::max(1.0, std::abs(before[o])))
          << "class " << o << " at x = (" << x[0] << ", " << x[1] << ")";
  }
  // Kept standardization: the same parameters.
  const dense::DenseWeights same =
      dense::warm_weights(start, start.classes, start.mean, start.scale);
  EXPECT_EQ(same.weights[0].values(), start.net.weights[0].values());
  EXPECT_EQ(same.biases[0], start.net.biases[0]);
}

TEST(WarmWeights, OnlyTheFirstLayerFollowsTheStandardizationAndOutputRowsFollowClassIds) {
  dense::WarmStart start;
  start.n_classes = 5;
  start.classes = {1, 3, 4};  // output rows of classes 1, 3 and 4
  start.mean = {0.0f};
  start.scale = {1.0f};
  start.net.weights = {Matrix(2, 1, {1.0f, -1.0f}), Matrix(3, 2, {1, 2, 3, 4, 5, 6})};
  start.net.biases = {{0.5f, 0.25f}, {-1.0f, -3.0f, 2.0f}};
  // New standardization (x' = (x − 2) · 0.5) and classes 0 (new), 3 and 4 (1 dropped).
  const dense::DenseWeights w = dense::warm_weights(start, {0, 3, 4}, {2.0f}, {0.5f});
  ASSERT_EQ(w.weights.size(), 2u);
  // First layer: W' = W · s / s' = 2 W, b' = b + W · s · (μ' − μ) = b + 2 W.
  EXPECT_EQ(w.weights[0].values(), (std::vector<float>{2.0f, -2.0f}));
  EXPECT_EQ(w.biases[0], (std::vector<float>{2.5f, -1.75f}));
  // Output layer: class 0 new (zero weights, the lowest previous bias), 3 and 4 kept.
  EXPECT_EQ(w.weights[1].values(), (std::vector<float>{0, 0, 3, 4, 5, 6}));
  EXPECT_EQ(w.biases[1], (std::vector<float>{-3.0f, -3.0f, 2.0f}));
}

TEST(WarmWeights, MismatchNamesWidthOrLabelSpace) {
  dense::WarmStart start;
  start.n_classes = 4;
  start.mean.assign(3, 0.0f);
  EXPECT_EQ(dense::warm_mismatch(start, 3, 4), "");
  EXPECT_NE(dense::warm_mismatch(start, 2, 4).find("3 feature columns"), std::string::npos);
  EXPECT_NE(dense::warm_mismatch(start, 3, 5).find("4 classes"), std::string::npos);
}

}  // namespace
}  // namespace deferbench
