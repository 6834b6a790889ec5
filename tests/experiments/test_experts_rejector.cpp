// The two-stage rejector's specs and their choice on val (experiments/experts_rejector.h):
// the grid's expansion and errors, and the choice against each spec's own val cost.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/config/compose.h"
#include "core/data/synthetic_experts.h"
#include "core/experts/costs.h"
#include "core/util/error.h"
#include "experiments/experts_rejector.h"

namespace deferbench {
namespace {

std::string error_of(const YAML::Node& rejector, const std::string& grid_yaml) {
  try {
    rejector_specs(rejector, YAML::Load(grid_yaml), "experts");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(RejectorSpecs, ExpandTheGridLastKeyFastestKeepingTheOtherParameters) {
  const YAML::Node base = YAML::Load("{name: logreg, C: 1, standardize: false}");
  const auto specs =
      rejector_specs(base, YAML::Load("{C: [0.1, 10], max_iter: [50, 100, 200]}"), "experts");
  ASSERT_EQ(specs.size(), 6u);
  const double c[] = {0.1, 0.1, 0.1, 10, 10, 10};
  const int it[] = {50, 100, 200, 50, 100, 200};
  for (std::size_t s = 0; s < specs.size(); ++s) {
    EXPECT_EQ(specs[s]["name"].as<std::string>(), "logreg");
    EXPECT_DOUBLE_EQ(specs[s]["C"].as<double>(), c[s]) << s;
    EXPECT_EQ(specs[s]["max_iter"].as<int>(), it[s]) << s;
    EXPECT_FALSE(specs[s]["standardize"].as<bool>()) << s;
  }
  // The base is not modified, and no grid is the base alone.
  EXPECT_DOUBLE_EQ(base["C"].as<double>(), 1.0);
  EXPECT_FALSE(base["max_iter"]);
  const auto one = rejector_specs(base, YAML::Node(), "experts");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_DOUBLE_EQ(one[0]["C"].as<double>(), 1.0);
  // An MLP's list-valued parameter varies as a whole list.
  const auto mlp =
      rejector_specs(YAML::Load("{name: mlp}"), YAML::Load("{hidden: [[16], [32, 8]]}"), "experts");
  ASSERT_EQ(mlp.size(), 2u);
  EXPECT_EQ(mlp[1]["hidden"].size(), 2u);
}

TEST(RejectorSpecs, BadGridsAreOneLineErrorsNamingTheKey) {
  const YAML::Node base = YAML::Load("{name: logreg}");
  EXPECT_NE(error_of(base, "[1, 2]").find("'experts.rejector_grid': expected a mapping"),
            std::string::npos);
  EXPECT_NE(error_of(base, "{C: 3}").find("'experts.rejector_grid.C': expected a non-empty list"),
            std::string::npos);
  EXPECT_NE(error_of(base, "{C: []}").find("'experts.rejector_grid.C'"), std::string::npos);
  EXPECT_NE(error_of(base, "{name: [mlp]}").find("'experts.rejector_grid.name'"),
            std::string::npos);
  const std::string neg = error_of(base, "{C: [1, -1]}");
  EXPECT_NE(neg.find("experts.rejector_grid.C"), std::string::npos) << neg;
  EXPECT_NE(neg.find("-1"), std::string::npos) << neg;
  const std::string unknown = error_of(base, "{gamma: [1, 2]}");
  EXPECT_NE(unknown.find("experts.rejector_grid.gamma"), std::string::npos) << unknown;
  const std::string many = error_of(
      base, "{C: [1, 2, 3, 4, 5, 6, 7, 8, 9], max_iter: [10, 20, 30, 40, 50, 60, 70, 80]}");
  EXPECT_NE(many.find("72 rejectors"), std::string::npos) << many;
  EXPECT_EQ(error_of(base, "{C: [1, 2]}"), "");
  for (const std::string& e : {neg, unknown, many}) EXPECT_EQ(e.find('\n'), std::string::npos);
  // The base itself is checked under experts.rejector.
  const std::string bad_base = error_of(YAML::Load("{name: logreg, C: -2}"), "{}");
  EXPECT_NE(bad_base.find("'experts.rejector.C'"), std::string::npos) << bad_base;
  EXPECT_NE(error_of(YAML::Load("{name: rf}"), "{}").find("expected logreg or mlp"),
            std::string::npos);
}

struct Problem {
  Matrix train_x, val_x;
  Correctness train_correct, val_correct;
  std::vector<ChoiceCost> choices{{1, 1}, {1, 3}, {1, 10}};
};

Problem problem() {
  SyntheticExpertsOptions o;
  o.region_features = true;
  auto part = [&](std::size_t rows, std::uint64_t seed, Matrix& x, Correctness& c) {
    o.base.rows = rows;
    const Traces t = generate_synthetic_experts(o, seed);
    x = t.embeddings;
    c.assign(3, std::vector<std::uint8_t>(rows));
    for (std::size_t j = 0; j < 3; ++j)
      for (std::size_t i = 0; i < rows; ++i)
        c[j][i] = t.fields.at("expert_" + std::to_string(j + 1))[i] == t.gold[i];
  };
  Problem p;
  part(1500, 3, p.train_x, p.train_correct);
  part(1500, 4, p.val_x, p.val_correct);
  return p;
}

TEST(ChooseRejector, KeepsTheSpecWithTheLowestValCostTiesToTheEarlier) {
  const Problem p = problem();
  Context ctx;
  ctx.threads = 2;
  const double lambda = 0.01;
  // C = 1e-6 shrinks the rejector to its biases (one choice for every row): a worse routing than
  // C = 1 on regions with different Bayes choices. The third spec repeats the second.
  const auto specs = rejector_specs(YAML::Load("{name: logreg, max_iter: 200}"),
                                    YAML::Load("{C: [1e-6, 1, 1]}"), "experts");
  const ChosenRejector chosen = choose_rejector(specs, p.train_x, p.train_correct, p.val_x,
                                                p.val_correct, p.choices, lambda, ctx, 0x71);
  ASSERT_EQ(chosen.val_cost.size(), 3u);
  // Each val cost is that spec's own rejector's routing cost at λ, fitted independently.
  for (std::size_t s = 0; s < specs.size(); ++s) {
    const auto model =
        fit_rejector(specs[s], p.train_x, p.train_correct, p.choices, lambda, ctx.derive(0x71));
    ASSERT_NE(model, nullptr);
    const std::vector<LabelId> r = model->predict(p.val_x, ctx);
    const double cost =
        routing_outcome(std::vector<int>(r.begin(), r.end()), p.val_correct, p.choices, lambda)
            .cost_per_query;
    EXPECT_DOUBLE_EQ(chosen.val_cost[s], cost) << s;
  }
  EXPECT_GT(chosen.val_cost[0], chosen.val_cost[1] + 0.01);  // the control: the grid matters
  EXPECT_DOUBLE_EQ(chosen.val_cost[1], chosen.val_cost[2]);
  EXPECT_EQ(chosen.spec, 1u);  // lowest, and the earlier of two equal
  ASSERT_NE(chosen.model, nullptr);
  // The kept model is the chosen spec's: the same routing on val.
  const auto again =
      fit_rejector(specs[1], p.train_x, p.train_correct, p.choices, lambda, ctx.derive(0x71));
  EXPECT_EQ(chosen.model->predict(p.val_x, ctx), again->predict(p.val_x, ctx));

  // One spec: fitted, nothing judged on val.
  const ChosenRejector single = choose_rejector({specs[0]}, p.train_x, p.train_correct, p.val_x,
                                                p.val_correct, p.choices, lambda, ctx, 0x71);
  EXPECT_TRUE(single.val_cost.empty());
  EXPECT_EQ(single.spec, 0u);
  ASSERT_NE(single.model, nullptr);
}

TEST(ChooseRejector, NoRowWithACostFitsNothing) {
  // Every choice right on every row at λ = 0: all costs zero, no weights, no rejector.
  Problem p = problem();
  for (auto& c : p.train_correct) std::fill(c.begin(), c.end(), 1);
  Context ctx;
  const auto specs =
      rejector_specs(YAML::Load("{name: logreg}"), YAML::Load("{C: [1, 10]}"), "experts");
  const ChosenRejector chosen = choose_rejector(specs, p.train_x, p.train_correct, p.val_x,
                                                p.val_correct, p.choices, 0.0, ctx, 1);
  EXPECT_EQ(chosen.model, nullptr);
  ASSERT_EQ(chosen.val_cost.size(), 2u);
  EXPECT_TRUE(std::isnan(chosen.val_cost[0]));
}

}  // namespace
}  // namespace deferbench
