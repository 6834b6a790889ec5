// Cross-fitting (fit_cascade_cross) and the start of the fixed sequence by pass probability
// (start_where_test_can_pass): issue 19, certified coverage on small trace sets.
#include <cmath>
#include <cstdio>
#include <random>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "core/model/fold_average.h"
#include "core/routing/families.h"
#include "core/stats/binomial.h"
#include "models/registry.h"

namespace deferbench {
namespace {

ModelFactory factory() {
  return [](const YAML::Node& spec, const std::string& path) {
    return builtin_models().make(spec, path);
  };
}

std::shared_ptr<LabelSpace> five_labels() {
  return std::make_shared<LabelSpace>(std::vector<std::string>{"a", "b", "c", "d", "e"});
}

// Pure noise: 4-d Gaussian features, a teacher label drawn independently of them.
Dataset noise(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::uniform_int_distribution<int> label(0, 4);
  Dataset d;
  d.labels = five_labels();
  d.features = Matrix(n, 4);
  for (std::size_t i = 0; i < n; ++i) {
    for (int j = 0; j < 4; ++j) d.features(i, j) = g(rng);
    d.teacher.push_back(label(rng));
  }
  return d;
}

// Five classes in 4-d: 0, 1, 2 far apart, 3 and 4 overlapping. The teacher answers the true
// class with probability `easy` on classes 0–2 and `hard` on 3–4, else a uniformly random
// other class: agreement with the teacher depends on the region of feature space.
Dataset mixture(std::size_t n, std::uint64_t seed, double easy = 1.0, double hard = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::uniform_int_distribution<int> other(1, 4);
  const float centres[5][4] = {
      {8, 0, 0, 0}, {0, 8, 0, 0}, {0, 0, 8, 0}, {0, 0, 0, 2}, {0, 0, 0, 3}};
  Dataset d;
  d.labels = five_labels();
  d.features = Matrix(n, 4);
  for (std::size_t i = 0; i < n; ++i) {
    const int c = static_cast<int>(rng() % 5);
    for (int j = 0; j < 4; ++j) d.features(i, j) = centres[c][j] + g(rng);
    const bool right = u(rng) < (c < 3 ? easy : hard);
    d.teacher.push_back(right ? c : (c + other(rng)) % 5);
  }
  return d;
}

// A decision tree memorizes its training rows: on pure noise it agrees with the teacher on the
// rows it was trained on, and at chance (1/5) elsewhere. Out-of-fold predictions must be at
// chance — a prediction from a model that saw the row would agree.
TEST(CrossFit, OutOfFoldPredictionsComeFromModelsThatNeverSawTheRow) {
  const Dataset pool = noise(600, 1), cal = noise(200, 2);
  FamilyOptions opt;
  opt.acceptor.knn = 0;
  const Context ctx{Device::kCpu, 7, 1};
  const YAML::Node tree = YAML::Load("{name: dt, max_depth: 30}");
  const auto stages = fit_cascade_cross(tree, 1, pool, cal, 5, opt, factory(), ctx, ctx.seed);
  ASSERT_EQ(stages.size(), 1u);
  const FittedStage& f = stages[0];
  ASSERT_EQ(f.val.pred.size(), pool.size());
  ASSERT_EQ(f.val.score.size(), pool.size());
  EXPECT_EQ(f.val_rows.size(), pool.size());
  EXPECT_EQ(f.cal.pred.size(), cal.size());
  std::size_t oof_agree = 0;
  for (std::size_t i = 0; i < pool.size(); ++i) oof_agree += f.val.pred[i] == pool.teacher[i];
  EXPECT_LT(static_cast<double>(oof_agree) / pool.size(), 0.32);  // chance 0.2, 600 rows
  // The control: the same tree trained on the pool agrees with it almost everywhere.
  auto whole = builtin_models().make(tree, "model");
  whole->fit(pool, nullptr, ctx);
  const std::vector<LabelId> in_sample = whole->predict(pool.features, ctx);
  std::size_t in_agree = 0;
  for (std::size_t i = 0; i < pool.size(); ++i) in_agree += in_sample[i] == pool.teacher[i];
  EXPECT_GT(static_cast<double>(in_agree) / pool.size(), 0.9);

  // Deployed: the average of 5 fold trees. Each member memorized 4/5 of the pool, so on a pool
  // row the average puts ≥ 4/5 of its mass on the teacher's label where the members agree.
  const auto* avg = dynamic_cast<const FoldAverage*>(f.stage.surrogate.get());
  ASSERT_NE(avg, nullptr);
  EXPECT_EQ(avg->members().size(), 5u);
}

TEST(CrossFit, TheDeployedSurrogateIsTheMeanOfTheFoldSurrogates) {
  const Dataset pool = mixture(500, 3, 0.9, 0.7), cal = mixture(300, 4, 0.9, 0.7);
  FamilyOptions opt;
  opt.cross_fit_knn = 10;
  const Context ctx{Device::kCpu, 9, 1};
  const auto stages =
      fit_cascade_cross(YAML::Load("{name: logreg}"), 1, pool, cal, 4, opt, factory(), ctx, 9);
  const auto* avg = dynamic_cast<const FoldAverage*>(stages[0].stage.surrogate.get());
  ASSERT_NE(avg, nullptr);
  ASSERT_EQ(avg->members().size(), 4u);
  const Matrix p = avg->predict_proba(cal.features, ctx);
  std::vector<Matrix> parts;
  for (const auto& m : avg->members()) parts.push_back(m->predict_proba(cal.features, ctx));
  for (std::size_t i = 0; i < p.rows(); ++i)
    for (std::size_t c = 0; c < p.cols(); ++c) {
      double mean = 0;
      for (const Matrix& q : parts) mean += q(i, c);
      EXPECT_NEAR(p(i, c), mean / 4.0, 1e-6);
    }
  // The members differ (each left out another fold).
  double diff = 0;
  for (std::size_t i = 0; i < parts[0].size(); ++i)
    diff += std::fabs(parts[0].data()[i] - parts[1].data()[i]);
  EXPECT_GT(diff, 0.0);
  // The kNN feature searches one fold's training rows: (K − 1)/K of the pool.
  ASSERT_NE(stages[0].stage.neighbours, nullptr);
  EXPECT_NEAR(static_cast<double>(stages[0].stage.neighbours->train().rows()), 500.0 * 3 / 4, 2.0);
  // The calibration outputs are the deployed stage's.
  const StageOutput again = evaluate_stage(stages[0].stage, cal.features, ctx);
  EXPECT_EQ(again.pred, stages[0].cal.pred);
  EXPECT_EQ(again.score, stages[0].cal.score);
}

// When cross-fitting, the acceptor's kNN feature follows cross_fit.knn (off by default), not
// acceptor.knn; without cross-fitting acceptor.knn applies as before.
TEST(CrossFit, TheKnnFeatureFollowsCrossFitKnn) {
  const Dataset pool = mixture(400, 21, 0.9, 0.7), cal = mixture(200, 22, 0.9, 0.7);
  const YAML::Node spec = YAML::Load("{name: logreg}");
  const Context ctx{Device::kCpu, 5, 1};
  FamilyOptions opt;
  opt.acceptor.knn = 10;
  ASSERT_EQ(opt.cross_fit_knn, 0);
  const auto off = fit_cascade_cross(spec, 1, pool, cal, 5, opt, factory(), ctx, 5);
  EXPECT_EQ(off[0].stage.knn, 0);
  EXPECT_EQ(off[0].stage.neighbours, nullptr);
  opt.cross_fit_knn = 3;
  const auto on = fit_cascade_cross(spec, 1, pool, cal, 5, opt, factory(), ctx, 5);
  EXPECT_EQ(on[0].stage.knn, 3);
  ASSERT_NE(on[0].stage.neighbours, nullptr);
  EXPECT_NEAR(static_cast<double>(on[0].stage.neighbours->train().rows()), 400.0 * 4 / 5, 2.0);
  EXPECT_NE(off[0].val.score, on[0].val.score);  // the feature reaches the acceptor
  EXPECT_EQ(off[0].val.pred, on[0].val.pred);    // and nothing else
  const auto plain = fit_cascade(spec, 1, pool, cal, cal, opt, factory(), ctx);
  EXPECT_EQ(plain[0].stage.knn, 10);

  auto parse = [](const char* yaml) {
    return FamilyOptions::from_yaml(YAML::Load(yaml), "pipeline").cross_fit_knn;
  };
  EXPECT_EQ(parse("{families: [l2d]}"), 0);
  EXPECT_EQ(parse("{cross_fit: {knn: 7}}"), 7);
  try {
    parse("{cross_fit: {knn: -1}}");
    FAIL() << "a negative k should throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'pipeline.cross_fit.knn'"), std::string::npos)
        << e.what();
  }
}

TEST(CrossFit, ReproducibleFromItsSeedAndFoldsDependOnIt) {
  const Dataset pool = mixture(400, 5, 0.9, 0.7), cal = mixture(200, 6, 0.9, 0.7);
  FamilyOptions opt;
  const YAML::Node spec = YAML::Load("{name: logreg}");
  const Context ctx{Device::kCpu, 11, 1};
  const auto a = fit_cascade_cross(spec, 1, pool, cal, 5, opt, factory(), ctx, 11);
  const auto b = fit_cascade_cross(spec, 1, pool, cal, 5, opt, factory(), ctx, 11);
  const auto c = fit_cascade_cross(spec, 1, pool, cal, 5, opt, factory(), ctx, 12);
  EXPECT_EQ(a[0].val.score, b[0].val.score);
  EXPECT_EQ(a[0].cal.score, b[0].cal.score);
  EXPECT_NE(a[0].val.score, c[0].val.score);  // other folds
}

TEST(CrossFit, ResidualStagesTrainOnTheLeastSureRowsOfThePool) {
  const Dataset pool = mixture(1000, 7), cal = mixture(400, 8);
  FamilyOptions opt;
  opt.acceptor.knn = 0;
  opt.residual_quantile = 0.2;
  const auto stages = fit_cascade_cross(YAML::Load("{name: logreg}"), 2, pool, cal, 5, opt,
                                        factory(), {Device::kCpu, 13, 1}, 13);
  ASSERT_EQ(stages.size(), 2u);
  EXPECT_EQ(stages[1].val_rows.size(), 200u);  // 20% of 1000, by out-of-fold score
  std::size_t hard = 0;
  for (std::size_t r : stages[1].val_rows) hard += pool.teacher[r] >= 3;
  EXPECT_GT(hard, 180u);  // the overlapping classes
  EXPECT_EQ(stages[1].val.pred.size(), pool.size());
  EXPECT_NE(dynamic_cast<const FoldAverage*>(stages[1].stage.surrogate.get()), nullptr);
}

TEST(CrossFit, FoldAverageChecksItsMembers) {
  EXPECT_THROW(FoldAverage({}), Error);
}

// The guarantee with cross-fitting and the pass-probability start, end to end (fit, calibrate,
// route fresh traffic), over 200 seeds: a pool of 700 labelled rows, 300 calibration rows (the
// small-trace regime), 20,000 fresh rows to measure the deployed policy's true agreement. The
// teacher agrees 99% on classes 0–2 and 70% on the overlapping 3–4, so target 0.95 is met only
// by a threshold that keeps most hard rows out: a wrong one is a real risk.
TEST(CrossFitGuarantee, HoldsOverSeeds) {
  constexpr int kSeeds = 200;
  constexpr double kTarget = 0.95, kDelta = 0.1;
  const double bound = kDelta + 3.0 * std::sqrt(kDelta * (1.0 - kDelta) / kSeeds);
  const Dataset fresh = mixture(20000, 999, 0.99, 0.7);
  // Both tests (calibration.test): the randomized one through the whole policy builder, whose
  // start rule and candidate calibration must not depend on its draw u.
  for (const char* test : {"exact", "randomized"}) {
    CalibrationSettings settings;
    settings.guaranteed.delta = kDelta;
    settings.guaranteed.min_accepted = 30;
    settings.guaranteed.grid_points = 100;
    settings.test = test;
    ASSERT_EQ(settings.start, "pass_probability");
    const FamilyOptions opt;
    int violations = 0, deployed = 0;
    double coverage = 0;
    for (int seed = 0; seed < kSeeds; ++seed) {
      const auto s = static_cast<std::uint64_t>(seed);
      const Dataset pool = mixture(700, 1000 + 2 * s, 0.99, 0.7);
      const Dataset cal = mixture(300, 1001 + 2 * s, 0.99, 0.7);
      const Context ctx{Device::kCpu, s, 1};
      const auto fitted =
          fit_cascade_cross(YAML::Load("{name: logreg}"), 1, pool, cal, 5, opt, factory(), ctx, s);
      const BuiltPolicy p =
          build_policy("l2d", fitted, pool, cal, kTarget, settings, opt, CalibrateOn::kCal, s);
      const Routed r = route(p.stages, fresh.features, ctx);
      std::size_t handled = 0, agreed = 0;
      for (std::size_t i = 0; i < fresh.size(); ++i)
        if (r.stage[i] >= 0) {
          ++handled;
          agreed += r.label[i] == fresh.teacher[i];
        }
      if (handled == 0) continue;
      ++deployed;
      coverage += static_cast<double>(handled) / fresh.size();
      violations += static_cast<double>(agreed) < kTarget * static_cast<double>(handled);
    }
    std::printf(
        "[cross-fit guarantee] %s test, %d seeds: %d deployed, %d violations (bound %.3f), mean "
        "coverage %.3f\n",
        test, kSeeds, deployed, violations, bound, coverage / kSeeds);
    EXPECT_LE(static_cast<double>(violations) / kSeeds, bound) << test;
    // Not trivially safe: the easy classes are 60% of the traffic.
    EXPECT_GT(deployed, kSeeds * 3 / 4) << test;
    EXPECT_GT(coverage / kSeeds, 0.3) << test;
  }
}

// The start by pass probability on a hand-made val curve: 10 val rows, scores 10 … 1, the five
// highest agreeing; a calibration split of 100 rows accepts about 10 per val row.
TEST(StartByPassProbability, PicksTheThresholdLikeliestToPass) {
  const std::vector<float> scores = {10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
  const std::vector<std::uint8_t> agrees = {1, 1, 1, 1, 1, 0, 0, 0, 0, 0};
  const std::vector<double> grid = {9.5, 8.5, 7.5, 6.5, 5.5, 4.5, 3.5};  // accept 1 … 7 rows
  // By hand (target 0.9, δ 0.1): 1 or 2 val rows → m = 10, 20 < 22 rows: cannot pass. 3 rows →
  // m = 30 needs 30/30, a = 4/5: 0.8^30 = 0.0012. 4 rows → m = 40 needs 39 (P(X ≥ 39 | 40, 0.9) =
  // 0.080 ≤ 0.1, P(X ≥ 38) = 0.222), a = 5/6: 40·a^39·(1/6) + a^40 = 0.0061. 5 rows → m = 50
  // needs 49, a = 6/7: 0.0042. 6 or 7 rows: a ≤ 0.75, smaller. The start: 4 rows (grid[3]).
  EXPECT_EQ(min_passing_agreements(40, 0.9, 0.1), 39u);
  EXPECT_EQ(min_passing_agreements(50, 0.9, 0.1), 49u);
  EXPECT_NEAR(binomial_upper_tail(39, 40, 5.0 / 6.0), 0.0061, 0.0003);
  EXPECT_NEAR(binomial_upper_tail(49, 50, 6.0 / 7.0), 0.0042, 0.0003);
  const auto start = start_where_test_can_pass(grid, scores, agrees, 0.1, 0.9, 100, 0);
  ASSERT_EQ(start.size(), 4u);
  EXPECT_EQ(start.front(), 6.5);
  // A floor of 45 rows leaves 5 and more: grid[4].
  EXPECT_EQ(start_where_test_can_pass(grid, scores, agrees, 0.1, 0.9, 100, 45).front(), 5.5);
  // Nothing can pass (a calibration split of 15 rows): the whole grid.
  EXPECT_EQ(start_where_test_can_pass(grid, scores, agrees, 0.1, 0.9, 15, 0).size(), grid.size());
  // The randomized test, averaged over its u: one agreement fewer passes when u ≤ u* =
  // (δ − P(X ≥ k_min)) / P(X = k_min − 1) at the target. 3 rows: u* = (0.1 − 0.0424) / 0.1413 =
  // 0.408, + 0.408 · P(X = 29 | 30, 0.8) = 0.0038 → 0.0050; 4 rows: u* = 0.141, + 0.141 ·
  // P(X = 38 | 40, 5/6) = 0.0030 → 0.0091; 5 rows: P(X ≥ 49 | 50, 0.9) = 0.0338, P(X = 48) =
  // 0.0778, u* = 0.851, + 0.851 · P(X = 48 | 50, 6/7) = 0.0130 → 0.0172. The start: 5 rows.
  EXPECT_NEAR(binomial_upper_tail(49, 50, 0.9), 0.0338, 0.0003);
  EXPECT_NEAR(std::exp(binomial_log_pmf(48, 50, 6.0 / 7.0)), 0.0153, 0.0003);
  EXPECT_EQ(start_where_test_can_pass(grid, scores, agrees, 0.1, 0.9, 100, 0, 0.0, true).front(),
            5.5);
}

}  // namespace
}  // namespace deferbench
