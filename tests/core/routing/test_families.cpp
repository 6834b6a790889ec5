#include "core/routing/families.h"

#include <limits>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "models/registry.h"

namespace deferbench {
namespace {

// Five classes in 4-d: 0, 1, 2 far apart (easy); 3 and 4 overlapping (hard).
Dataset mixture(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  const float centres[5][4] = {
      {8, 0, 0, 0}, {0, 8, 0, 0}, {0, 0, 8, 0}, {0, 0, 0, 2}, {0, 0, 0, 3}};
  Dataset d;
  d.labels = std::make_shared<LabelSpace>(std::vector<std::string>{"a", "b", "c", "d", "e"});
  d.features = Matrix(n, 4);
  for (std::size_t i = 0; i < n; ++i) {
    const int c = static_cast<int>(i % 5);
    for (int j = 0; j < 4; ++j) d.features(i, j) = centres[c][j] + g(rng);
    d.teacher.push_back(c);
  }
  return d;
}

ModelFactory factory() {
  return [](const YAML::Node& spec, const std::string& path) {
    return builtin_models().make(spec, path);
  };
}

TEST(Rsb, LaterStagesTrainOnTheResidualAndPredictGlobalLabels) {
  Dataset train = mixture(2000, 1), val = mixture(1000, 2), cal = mixture(1000, 3);
  FamilyOptions opt;
  opt.acceptor.knn = 0;
  opt.residual_quantile = 0.15;  // the 15% least sure rows: the overlapping classes 3 and 4
  Context ctx{Device::kCpu, 5, 1};
  auto stages = fit_cascade(YAML::Load("{name: logreg}"), 2, train, val, cal, opt, factory(), ctx);
  ASSERT_EQ(stages.size(), 2u);
  EXPECT_EQ(stages[1].train_rows.size(), 300u);  // 15% of 2000
  std::set<LabelId> seen;
  for (std::size_t r : stages[1].train_rows) seen.insert(train.teacher[r]);
  ASSERT_LT(seen.size(), 5u) << "the residual should miss some classes for this test";
  const Classifier& second = *stages[1].stage.surrogate;
  EXPECT_EQ(second.n_classes(), 5u);
  Matrix p = second.predict_proba(cal.features, ctx);
  ASSERT_EQ(p.cols(), 5u);
  // Trained on a subset of the classes, it answers in global ids, only ever a class it saw,
  // and gives the others probability exactly 0.
  for (std::size_t i = 0; i < p.rows(); ++i)
    for (LabelId c = 0; c < 5; ++c)
      if (!seen.count(c)) EXPECT_EQ(p(i, static_cast<std::size_t>(c)), 0.0f);
  std::size_t right_on_hard = 0, hard = 0;
  const std::vector<LabelId> pred = argmax_rows(p);
  for (std::size_t i = 0; i < cal.size(); ++i) {
    EXPECT_TRUE(seen.count(pred[i])) << pred[i];
    if (cal.teacher[i] >= 3) {
      ++hard;
      right_on_hard += pred[i] == 3 || pred[i] == 4;
    }
  }
  EXPECT_GT(right_on_hard, hard * 9 / 10);
}

TEST(Rsb, ACascadeNeverCoversLessThanItsFirstStage) {
  Dataset train = mixture(2000, 4), val = mixture(1000, 5), cal = mixture(1500, 6),
          test = mixture(1500, 7);
  FamilyOptions opt;
  CalibrationSettings calib;
  calib.mode = "empirical";
  Context ctx{Device::kCpu, 8, 1};
  auto stages = fit_cascade(YAML::Load("{name: logreg}"), 2, train, val, cal, opt, factory(), ctx);
  for (double target : {0.8, 0.9, 0.95}) {
    BuiltPolicy p = build_policy("rsb", stages, val, cal, target, calib, opt, CalibrateOn::kCal, 1);
    ASSERT_EQ(p.stages.size(), 2u);
    const Routed both = route(p.stages, test.features, ctx);
    const Routed first = route({p.stages[0]}, test.features, ctx);
    std::size_t n_both = 0, n_first = 0;
    for (std::size_t i = 0; i < test.size(); ++i) {
      n_both += both.stage[i] >= 0;
      n_first += first.stage[i] >= 0;
      if (first.stage[i] == 0) {  // stage 1 decides the same rows in both
        EXPECT_EQ(both.stage[i], 0);
        EXPECT_EQ(both.label[i], first.label[i]);
      }
    }
    EXPECT_GE(n_both, n_first) << "target " << target;
  }
}

TEST(Families, GlobalAcceptsAllOrNothingByTheBound) {
  Dataset train = mixture(1000, 9), val = mixture(500, 10), cal = mixture(1000, 11);
  FamilyOptions opt;
  opt.acceptor.knn = 0;
  CalibrationSettings calib;
  Context ctx{Device::kCpu, 1, 1};
  auto stages = fit_cascade(YAML::Load("{name: logreg}"), 1, train, val, cal, opt, factory(), ctx);
  // The surrogate's overall agreement is ~0.8 (classes 3/4 overlap): 0.7 passes, 0.95 fails.
  BuiltPolicy low = build_policy("global", stages, val, cal, 0.7, calib, opt, CalibrateOn::kCal, 1);
  BuiltPolicy high =
      build_policy("global", stages, val, cal, 0.95, calib, opt, CalibrateOn::kCal, 1);
  EXPECT_TRUE(low.feasible);
  EXPECT_FALSE(high.feasible);
  const Routed a = route(low.stages, cal.features, ctx), b = route(high.stages, cal.features, ctx);
  for (std::size_t i = 0; i < cal.size(); ++i) {
    EXPECT_EQ(a.stage[i], 0);
    EXPECT_EQ(b.stage[i], -1);
  }
  EXPECT_LE(low.stages[0].lower_bound, low.stages[0].cal_agreement);
}

TEST(Families, RoutingFromPrecomputedOutputsEqualsRouting) {
  // A 2-stage cascade with the kNN acceptor: route_outputs over every row's stage outputs
  // (what the runner computes once per fit) decides exactly what route() does, row by row.
  Dataset train = mixture(2000, 12), val = mixture(800, 13), cal = mixture(800, 14),
          test = mixture(900, 15);
  FamilyOptions opt;
  CalibrationSettings calib;
  calib.mode = "empirical";
  Context ctx{Device::kCpu, 16, 1};
  auto stages = fit_cascade(YAML::Load("{name: logreg}"), 2, train, val, cal, opt, factory(), ctx);
  std::vector<StageOutput> outputs;
  for (const FittedStage& f : stages)
    outputs.push_back(evaluate_stage(f.stage, test.features, ctx));
  std::size_t second = 0;  // rows stage 2 handles, over all targets
  for (double target : {0.6, 0.75, 0.85, 0.95}) {
    BuiltPolicy p = build_policy("rsb", stages, val, cal, target, calib, opt, CalibrateOn::kCal, 1);
    const Routed a = route(p.stages, test.features, ctx);
    const Routed b = route_outputs(p.stages, outputs);
    EXPECT_EQ(a.stage, b.stage) << target;
    EXPECT_EQ(a.label, b.label) << target;
    EXPECT_EQ(a.score, b.score) << target;
    EXPECT_EQ(a.first_prediction, b.first_prediction) << target;
    for (int s : a.stage) second += s == 1;
  }
  EXPECT_GT(second, 0u) << "stage 2 should handle some rows for this test to mean anything";
}

TEST(Families, EveryFamilyIsFoundByItsNameAndAnUnknownOneIsNamed) {
  ASSERT_EQ(routing_family_names(), "global, l2d, rsb");
  for (const RoutingFamily* f : routing_families())
    EXPECT_EQ(&routing_family(f->name()), f) << f->name();
  try {
    routing_family("cascade");
    FAIL() << "an unknown family should throw";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "pipeline: unknown family 'cascade'; valid families: global, l2d, rsb");
  }
  try {
    FamilyOptions::from_yaml(YAML::Load("{families: [l2d, knn]}"), "pipeline");
    FAIL() << "an unknown family in a config should throw";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "config: 'pipeline.families': unknown family 'knn'; valid families: global, "
                 "l2d, rsb");
  }
}

TEST(Families, TheRunnerFitsTheMostStagesAnyRequestedFamilyUses) {
  FamilyOptions opt;
  opt.rsb_stages = 3;
  opt.families = {"global", "l2d"};
  EXPECT_EQ(stages_to_fit(opt), 1);
  opt.families = {"l2d", "rsb"};
  EXPECT_EQ(stages_to_fit(opt), 3);
  opt.families = {"rsb"};
  opt.rsb_stages = 2;
  EXPECT_EQ(stages_to_fit(opt), 2);
}

TEST(Families, GlobalSeesStageOneWithoutItsAcceptorAndKeepsTheOodGuard) {
  const float ood = -std::numeric_limits<float>::infinity();
  StageOutput first{{0, 1, 2, 1}, {0.2f, ood, 0.9f, -3.0f}};
  StageOutput second{{1, 1, 0, 0}, {0.5f, 0.6f, 0.7f, 0.8f}};
  const std::vector<const StageOutput*> fitted{&first, &second};
  const std::vector<StageOutput> global = routing_family("global").stage_outputs(1, fitted);
  ASSERT_EQ(global.size(), 1u);
  EXPECT_EQ(global[0].pred, first.pred);
  EXPECT_EQ(global[0].score, (std::vector<float>{1.0f, ood, 1.0f, 1.0f}));
  const std::vector<StageOutput> rsb = routing_family("rsb").stage_outputs(2, fitted);
  ASSERT_EQ(rsb.size(), 2u);
  EXPECT_EQ(rsb[0].score, first.score);
  EXPECT_EQ(rsb[1].score, second.score);
  EXPECT_EQ(routing_family("l2d").stage_outputs(1, fitted)[0].score, first.score);
}

}  // namespace
}  // namespace deferbench
