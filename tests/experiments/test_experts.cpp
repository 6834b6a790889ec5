// Multi-expert deferral with costs (issue 16): the two-stage rejector against the known Bayes
// rejector of the synthetic experts, the experts run end to end, its guarantee over seeds, and
// bad expert configs.
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "core/config/compose.h"
#include "core/data/synthetic_experts.h"
#include "core/experts/choices.h"
#include "core/experts/costs.h"
#include "core/experts/expert_policy.h"
#include "core/util/error.h"
#include "experiments/expert_policy_io.h"
#include "experiments/experts_run.h"
#include "experiments/run.h"
#include "models/dense/logreg.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

const fs::path kRoot = DEFERBENCH_ROOT;

YAML::Node config_for(const std::vector<std::string>& overrides) {
  return compose_config(kRoot / "experiments" / "configs", overrides).config;
}

RunOptions quiet_options() {
  RunOptions o;
  o.project_root = kRoot;
  o.quiet = true;
  return o;
}

// Expected cost per query of a routing when the error rates are known: the mean over rows of
// α e_{route(i)}(r_i) + λ β_route(i).
double expected_cost(const std::vector<int>& route, const std::vector<int>& region,
                     const SyntheticExpertsOptions& o, const std::vector<double>& beta,
                     double lambda) {
  double s = 0;
  for (std::size_t i = 0; i < route.size(); ++i) {
    const auto j = static_cast<std::size_t>(route[i]);
    s += o.error_rates[j][static_cast<std::size_t>(region[i])] + lambda * beta[j];
  }
  return s / static_cast<double>(route.size());
}

TEST(TwoStageRejector, ApproachesTheBayesCostAsTrainingGrows) {
  // With the region indicators among the features the Bayes rejector and the comp-sum minimizer
  // are linear (synthetic_experts.h: region_features): what is left is estimation.
  SyntheticExpertsOptions o;
  o.region_features = true;
  const std::vector<double> beta = {1, 3, 10}, alpha = {1, 1, 1};
  const std::vector<ChoiceCost> choices = {{1, 1}, {1, 3}, {1, 10}};
  const double lambda = 0.01;  // the Bayes choice differs by region (synthetic_experts.h)
  o.base.rows = 20000;
  const Traces test_traces = generate_synthetic_experts(o, 999);
  const std::vector<int> test_region = synthetic_regions(test_traces.embeddings, o.cuts);
  const double bayes = bayes_expected_cost(test_region, o.error_rates, alpha, beta, lambda);
  Context ctx;
  ctx.threads = 2;
  std::vector<double> excess;
  for (std::size_t n : {1000u, 10000u, 100000u}) {
    o.base.rows = n;
    Traces tr = generate_synthetic_experts(o, 17);
    Correctness correct(3, std::vector<std::uint8_t>(n));
    for (std::size_t j = 0; j < 3; ++j)
      for (std::size_t i = 0; i < n; ++i)
        correct[j][i] = tr.fields.at("expert_" + std::to_string(j + 1))[i] == tr.gold[i];
    const Matrix w = comp_sum_weights(cost_matrix(correct, choices, lambda));
    LogRegParams p;
    p.C = 1;
    p.max_iter = 300;
    LogReg rejector(p);
    rejector.fit_cost_weighted(tr.embeddings, w, ctx);
    const std::vector<LabelId> r = rejector.predict(test_traces.embeddings, ctx);
    const std::vector<int> route(r.begin(), r.end());
    excess.push_back(expected_cost(route, test_region, o, beta, lambda) / bayes - 1.0);
  }
  std::printf("two-stage excess cost over Bayes at 1k / 10k / 100k rows: %.4f %.4f %.4f\n",
              excess[0], excess[1], excess[2]);
  // The excess cost falls with n and is within 3% at 100k rows.
  EXPECT_GE(excess[0], excess[2]) << excess[0] << " " << excess[1] << " " << excess[2];
  EXPECT_GE(excess[0] + 1e-9, excess[1]);
  EXPECT_LE(excess[2], 0.03);
  EXPECT_GE(excess[2], -1e-9);  // nobody beats the Bayes rejector in expectation
}

// A classifier that forwards predictions but has no binary logit: the per-estimator path.
class Opaque final : public Classifier {
 public:
  explicit Opaque(std::shared_ptr<const Classifier> m) : m_(std::move(m)) {}
  void fit(const Dataset&, const Dataset*, const Context&) override {}
  Matrix predict_proba(MatrixView x, const Context& ctx) const override {
    return m_->predict_proba(x, ctx);
  }
  void save(const std::filesystem::path&) const override {}
  std::string_view name() const override { return "opaque"; }
  std::size_t n_classes() const override { return m_->n_classes(); }

 private:
  std::shared_ptr<const Classifier> m_;
};

TEST(ExpertPolicyFused, LogisticEstimatorsInOnePassMatchTheirProbabilities) {
  // Three logistic estimators (standardized, so the fold of mean and scale is exercised): the
  // fused pass of expected_costs gives the costs predict_proba gives, and the same routing.
  SyntheticExpertsOptions o;
  o.base.rows = 3000;
  const Traces t = generate_synthetic_experts(o, 5);
  auto space = std::make_shared<const LabelSpace>(std::vector<std::string>{"right", "wrong"});
  Context ctx;
  ExpertPolicy fused, plain;
  for (ExpertPolicy* p : {&fused, &plain}) {
    p->method = "bayes_plugin";
    p->names = {"a", "b", "c", "d"};
    p->choices = {{1, 1}, {1, 3}, {1, 10}, {1, 0}};
    p->lambda = 0.01;
    p->has_surrogate = false;
    p->constant_wrong.assign(4, 0.0);
    p->estimators.resize(4);
  }
  fused.constant_wrong[3] = plain.constant_wrong[3] = 0.7;  // a constant estimate
  for (std::size_t j = 0; j < 3; ++j) {
    Dataset d;
    d.features = t.embeddings;
    d.labels = space;
    for (std::size_t i = 0; i < t.size(); ++i)
      d.teacher.push_back(t.fields.at("expert_" + std::to_string(j + 1))[i] == t.gold[i] ? 0 : 1);
    auto m = std::make_shared<LogReg>(LogRegParams{});
    m->fit(d, nullptr, ctx);
    ASSERT_TRUE(m->binary_logit().has_value());
    fused.estimators[j] = m;
    plain.estimators[j] = std::make_shared<Opaque>(m);
  }
  const Matrix a = expected_costs(fused, t.embeddings, ctx);
  const Matrix b = expected_costs(plain, t.embeddings, ctx);
  for (std::size_t i = 0; i < t.size(); ++i)
    for (std::size_t j = 0; j < 4; ++j) ASSERT_NEAR(a(i, j), b(i, j), 1e-5) << i << " " << j;
  const ExpertRouting ra = route_experts(fused, t.embeddings, ctx);
  const ExpertRouting rb = route_experts(plain, t.embeddings, ctx);
  std::size_t same = 0;
  for (std::size_t i = 0; i < t.size(); ++i) same += ra.choice[i] == rb.choice[i];
  EXPECT_GE(same, t.size() - 2);  // only a cost tie within float rounding could differ
}

TEST(ExpertsRun, SyntheticEndToEnd) {
  TempDir out;
  const RunOptions opt = quiet_options();
  const std::vector<std::string> overrides = {
      "experiment=synthetic_experts", "dataset.synthetic.rows=8000",
      "results_dir=" + out.path().string(), "threads=2", "device=cpu"};
  const RunResult r = run_experiment(config_for(overrides), opt);
  ASSERT_TRUE(fs::exists(r.run_dir / "experts.csv"));
  ASSERT_TRUE(fs::exists(r.run_dir / "config.yaml"));
  const nlohmann::json& m = r.metrics;
  EXPECT_EQ(m["kind"], "experts");
  // The single experts: each one's accuracy lies between 1 − its largest and 1 − its smallest
  // regional error rate (the regions' shares vary with the seed), and they rank 3 > 2 > 1.
  const auto& c = m["experts"]["choices"];
  ASSERT_EQ(c.size(), 3u);
  const double a1 = c[0]["test_accuracy"].get<double>(), a2 = c[1]["test_accuracy"].get<double>(),
               a3 = c[2]["test_accuracy"].get<double>();
  EXPECT_GT(a1, 1 - 0.60);
  EXPECT_LT(a1, 1 - 0.03);
  EXPECT_GT(a3, 1 - 0.10 - 0.03);
  EXPECT_LT(a3, 1 - 0.02 + 0.01);
  EXPECT_LT(a1, a2);
  EXPECT_LT(a2, a3);
  // At a budget of 5 per 1k (between expert_2's price, 3, and expert_3's, 10) the learned routers
  // beat the best single choice affordable (expert_2) — they send region 0 to the cheap expert
  // and spend the saving on the dear one in region 2 — and the oracle beats everything.
  bool seen = false;
  for (const auto& b : m["budgets"]) {
    if (b["budget_per_1k"].get<double>() != 5.0) continue;
    seen = true;
    const double single = b["methods"]["single"]["test_accuracy"].get<double>();
    EXPECT_DOUBLE_EQ(single, a2);
    const double oracle = b["methods"]["oracle"]["test_accuracy"].get<double>();
    for (const char* method : {"bayes_plugin", "two_stage"}) {
      const auto& p = b["methods"][method];
      ASSERT_TRUE(p.is_object()) << method;
      EXPECT_GT(p["test_accuracy"].get<double>(), single + 0.015) << method;
      EXPECT_LE(p["test_accuracy"].get<double>(), oracle) << method;
      EXPECT_LE(p["val_price_per_1k"].get<double>(), 5.0 + 1e-9) << method;
    }
  }
  EXPECT_TRUE(seen);
  // experts.csv: the header, the singles, every method's points, the oracle frontier.
  std::ifstream in(r.run_dir / "experts.csv");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string csv = ss.str();
  EXPECT_EQ(csv.rfind("method,point,setting,val_price_per_1k,val_accuracy,cal_accuracy,", 0), 0u);
  for (const char* row : {"\nsingle:expert_1,", "\nbayes_plugin,15,", "\ntwo_stage,0,",
                          "\ncascade,0,", "\nrandom,0,", "\noracle,0,"})
    EXPECT_NE(csv.find(row), std::string::npos) << row;
  // The cascade's safest point sends every query through the whole chain (expert_1 → 2 → 3):
  // it pays 1 + 3 + 10 per 1k, and every query calls every expert.
  EXPECT_NE(csv.find("\ncascade,0,1,14,"), std::string::npos);
  EXPECT_NE(csv.find(",1,1,1\n", csv.find("\ncascade,0,")), std::string::npos);
  // The same config and seed give the same numbers.
  TempDir out2;
  std::vector<std::string> again = overrides;
  again[2] = "results_dir=" + out2.path().string();
  const RunResult r2 = run_experiment(config_for(again), opt);
  std::ifstream in2(r2.run_dir / "experts.csv");
  std::stringstream ss2;
  ss2 << in2.rdbuf();
  EXPECT_EQ(csv, ss2.str());
}

// experts.rejector_grid: at every λ the rejector kept is the grid's lowest cost on val (ties: the
// earlier), and that cost is the val cost of the curve's point at λ as experts.csv reports it.
TEST(ExpertsRun, RejectorGridIsJudgedOnValAtEveryLambda) {
  TempDir out;
  const RunOptions opt = quiet_options();
  const RunResult r =
      run_experiment(config_for({"experiment=synthetic_experts", "dataset.synthetic.rows=4000",
                                 "experts.methods=[two_stage]", "experts.lambda_points=6",
                                 "+experts.rejector_grid={C: [0.0001, 1]}",
                                 "results_dir=" + out.path().string(), "threads=2", "device=cpu"}),
                     opt);
  const auto& grid = r.metrics["experts"]["rejector_grid"];
  ASSERT_EQ(grid["specs"].size(), 2u);
  EXPECT_NE(grid["specs"][0].get<std::string>().find("C: 0.0001"), std::string::npos);
  EXPECT_EQ(r.metrics["experts"]["rejector"].get<std::string>().find("C:"), std::string::npos);
  // experts.csv's two_stage rows: point t's setting (λ), val price per 1k and val accuracy.
  std::ifstream in(r.run_dir / "experts.csv");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line.rfind("method,point,setting,val_price_per_1k,val_accuracy,", 0), 0u) << line;
  std::vector<std::array<double, 3>> points;
  while (std::getline(in, line)) {
    if (line.rfind("two_stage,", 0) != 0) continue;
    std::stringstream ls(line);
    std::string f[5];
    for (std::string& x : f) std::getline(ls, x, ',');
    points.push_back({std::stod(f[2]), std::stod(f[3]), std::stod(f[4])});
  }
  const auto& chosen = grid["chosen"];
  ASSERT_EQ(chosen.size(), points.size());
  int differ = 0;
  for (std::size_t t = 0; t < chosen.size(); ++t) {
    const auto& c = chosen[t];
    const double lambda = c["lambda"].get<double>();
    EXPECT_NEAR(lambda, points[t][0], 1e-5 * std::max(1.0, lambda));  // 6 digits
    ASSERT_FALSE(c["spec"].is_null()) << t;
    const double a = c["val_cost"][0].get<double>(), b = c["val_cost"][1].get<double>();
    EXPECT_EQ(c["spec"].get<std::size_t>(), b < a ? 1u : 0u) << t;
    differ += a != b;
    // Every expert weighs its errors 1: cost = (1 − accuracy) + λ · price per query.
    const double kept = std::min(a, b);
    EXPECT_NEAR(kept, (1 - points[t][2]) + lambda * points[t][1] / 1000.0, 1e-5) << t;
  }
  EXPECT_GT(differ, 0);  // the control: the two C's route differently somewhere
}

TEST(ExpertsRun, MlpRejectorRoutesLikeTheBayesRule) {
  // The two-stage rejector as a small MLP (experts.rejector.name: mlp) on the synthetic experts:
  // at a budget of 5 per 1k it beats the best single choice affordable, as the linear one does.
  const RunOptions opt = quiet_options();
  const RunOutput o = compute_run(
      config_for({"experiment=synthetic_experts", "dataset.synthetic.rows=8000",
                  "experts.methods=[two_stage]", "experts.lambda_points=10",
                  "experts.rejector={name: mlp, hidden: [16], max_epochs: 60, standardize: true}",
                  "threads=2", "device=cpu"}),
      opt);
  for (const auto& b : o.metrics["budgets"]) {
    if (b["budget_per_1k"].get<double>() != 5.0) continue;
    const double single = b["methods"]["single"]["test_accuracy"].get<double>();
    EXPECT_GT(b["methods"]["two_stage"]["test_accuracy"].get<double>(), single + 0.015);
  }
}

TEST(ExpertsRun, SavedPoliciesRouteAsTheRunDid) {
  // The surrogate on (its probability summary among the routers' inputs), every deployment
  // saved; each saved policy, loaded, routes the test split to the accuracy and price the run
  // reported for that deployment.
  TempDir out;
  const RunOptions opt = quiet_options();
  const RunOutput o =
      compute_run(config_for({"experiment=synthetic_experts", "dataset.synthetic.rows=6000",
                              "experts.surrogate=true", "experts.methods=[bayes_plugin, two_stage]",
                              "experts.lambda_points=8", "experts.budgets=[3, 6]",
                              "experts.targets=[0.85]", "threads=2", "device=cpu"}),
                  opt);
  ASSERT_FALSE(o.expert_policies.empty());
  save_run_policies(o, out.path() / "policy", out.path());
  const Dataset& test = o.prep->test;
  ExpertsSettings es = ExpertsSettings::from_yaml(o.config["experts"], "experts");
  const ExpertRows er = read_expert_rows(test, es.experts, "gold");
  std::size_t checked = 0;
  for (const auto& [name, policy] : o.expert_policies) {
    const SavedExpertPolicy saved = load_expert_policy(out.path() / "policy" / name);
    EXPECT_TRUE(saved.policy.surrogate_features);
    Context ctx;
    const ExpertRouting r = route_experts(saved.policy, test.features, ctx);
    const ExpertRouting mem = route_experts(policy, test.features, ctx);
    EXPECT_EQ(r.choice, mem.choice) << name;
    EXPECT_EQ(r.answer, mem.answer) << name;
    std::size_t right = 0;
    for (std::size_t i = 0; i < test.size(); ++i) {
      const int c = r.choice[i];
      right +=
          c == 0 ? (r.answer[i] == test.gold[i]) : er.correct[static_cast<std::size_t>(c - 1)][i];
    }
    const double acc = static_cast<double>(right) / static_cast<double>(test.size());
    // The run's number for this deployment.
    const bool budget = name.find("_budget_") != std::string::npos;
    const std::string method = name.substr(0, name.find(budget ? "_budget_" : "_target_"));
    const double at = std::stod(name.substr(name.rfind('_') + 1));
    for (const auto& e : o.metrics[budget ? "budgets" : "guarantee"]) {
      if (e[budget ? "budget_per_1k" : "target"].get<double>() != at) continue;
      EXPECT_DOUBLE_EQ(acc, e["methods"][method]["test_accuracy"].get<double>()) << name;
      ++checked;
    }
  }
  EXPECT_EQ(checked, o.expert_policies.size());
}

TEST(ExpertsRun, GuaranteeHoldsOverSeeds) {
  // 200 seeds of the synthetic experts, calibration on 600 rows, the accuracy measured on
  // 18,000 test rows (close to the truth): a deployed point below the target must happen in at
  // most δ of the seeds plus binomial slack.
  const double target = 0.88, delta = 0.1;
  const int seeds = 200;
  int violations = 0, deployed = 0;
  const RunOptions opt = quiet_options();
  for (int seed = 0; seed < seeds; ++seed) {
    const YAML::Node cfg = config_for(
        {"experiment=synthetic_experts", "dataset.synthetic.rows=20000", "split.train=0.05",
         "split.val=0.02", "split.cal=0.03", "split.test=0.9", "experts.methods=[bayes_plugin]",
         "experts.targets=[" + std::to_string(target) + "]", "experts.budgets=[]",
         "experts.delta=" + std::to_string(delta), "seed=" + std::to_string(seed), "threads=1",
         "device=cpu"});
    const RunOutput o = compute_run(cfg, opt);
    const auto& g = o.metrics["guarantee"][0]["methods"]["bayes_plugin"];
    if (!g["deployed"].get<bool>()) continue;
    ++deployed;
    violations += g["test_accuracy"].get<double>() < target ? 1 : 0;
  }
  const double slack = 3 * std::sqrt(delta * (1 - delta) / seeds);
  std::printf("guarantee over %d seeds: %d deployed, %d violations\n", seeds, deployed, violations);
  EXPECT_LE(static_cast<double>(violations) / seeds, delta + slack)
      << violations << " violations, " << deployed << " deployed";
  EXPECT_GT(deployed, seeds / 2) << "the guarantee certifies something on most seeds";
}

std::string run_error(const std::vector<std::string>& overrides) {
  const RunOptions opt = quiet_options();
  try {
    compute_run(config_for(overrides), opt);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(ExpertsRun, BadExpertConfigsAreOneLineErrors) {
  const std::string unknown =
      run_error({"experiment=synthetic_experts", "dataset.synthetic.rows=2000",
                 "experts.models=[{name: x, column: nope}, {name: y, column: expert_2}]"});
  EXPECT_NE(unknown.find("'nope'"), std::string::npos) << unknown;
  const std::string negative =
      run_error({"experiment=synthetic_experts", "dataset.synthetic.rows=2000",
                 "experts.models=[{name: x, column: expert_1, cost: -1}, {name: y}]"});
  EXPECT_NE(negative.find("experts.models[0].cost"), std::string::npos) << negative;
  const std::string kind =
      run_error({"experiment=synthetic_experts", "dataset.synthetic.rows=2000",
                 "experts.models=[{name: x, column: expert_1, kind: correctness}, {name: y, "
                 "column: expert_2}]"});
  EXPECT_NE(kind.find("expected True, False, 1 or 0"), std::string::npos) << kind;
  const std::string method = run_error({"experiment=synthetic_experts", "experts.methods=[magic]"});
  EXPECT_NE(method.find("magic"), std::string::npos) << method;
  const std::string twice = run_error(
      {"experiment=synthetic_experts", "experts.methods=[two_stage, cascade, two_stage]"});
  EXPECT_NE(twice.find("'two_stage' is listed twice"), std::string::npos) << twice;
  for (const std::string& e : {unknown, negative, kind, method, twice})
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

}  // namespace
}  // namespace deferbench
