// Routing through a multi-expert policy (core/experts/expert_policy.h) on hand-made classifiers
// with fixed probabilities, against hand-computed tables.
#include "core/experts/expert_policy.h"

#include <map>
#include <memory>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/util/error.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A classifier that returns a fixed probability row per input row: the row's id is its first
// feature. It records the ids it saw and how many batches.
class FixedProba final : public Classifier {
 public:
  FixedProba(std::size_t classes, std::map<int, std::vector<float>> table)
      : classes_(classes), table_(std::move(table)) {}
  void fit(const Dataset&, const Dataset*, const Context&) override { DB_THROW("not fitted"); }
  Matrix predict_proba(MatrixView x, const Context&) const override {
    ++calls;
    Matrix out(x.rows(), classes_);
    for (std::size_t i = 0; i < x.rows(); ++i) {
      const int id = static_cast<int>(x(i, 0));
      seen.push_back(id);
      const std::vector<float>& p = table_.at(id);
      for (std::size_t c = 0; c < classes_; ++c) out(i, c) = p[c];
    }
    return out;
  }
  void save(const std::filesystem::path&) const override { DB_THROW("not saved"); }
  std::string_view name() const override { return "fixed"; }
  std::size_t n_classes() const override { return classes_; }

  mutable std::vector<int> seen;
  mutable int calls = 0;

 private:
  std::size_t classes_;
  std::map<int, std::vector<float>> table_;
};

// An estimator of P(wrong): the "wrong" column (1) per row id.
std::shared_ptr<FixedProba> estimator(const std::vector<float>& wrong) {
  std::map<int, std::vector<float>> t;
  for (std::size_t i = 0; i < wrong.size(); ++i)
    t[static_cast<int>(i)] = {1.0f - wrong[i], wrong[i]};
  return std::make_shared<FixedProba>(2, std::move(t));
}

// Rows 0 … n−1, their id in column 0.
Matrix rows(int n) {
  Matrix x(static_cast<std::size_t>(n), 2);
  for (int i = 0; i < n; ++i) x(static_cast<std::size_t>(i), 0) = static_cast<float>(i);
  return x;
}

// The surrogate answers class (id mod 4) of 4.
std::shared_ptr<FixedProba> surrogate(int n) {
  std::map<int, std::vector<float>> t;
  for (int i = 0; i < n; ++i) {
    std::vector<float> p(4, 0.1f);
    p[static_cast<std::size_t>(i % 4)] = 0.7f;
    t[i] = p;
  }
  return std::make_shared<FixedProba>(4, std::move(t));
}

// Three choices: the surrogate (α 1, β 0), "cheap" (α 1, β 0.25), "strong" (α 2, β 0.5); λ = 0.5,
// so λβ = 0, 0.125, 0.25. Estimated P(wrong) and the costs α P + λβ (binary fractions: exact):
//   row   P0     P1     P2      cost0  cost1  cost2   route
//    0    0.125  0.25   0       0.125  0.375  0.25    0
//    1    0.75   0.25   0       0.75   0.375  0.25    2
//    2    0.75   0.125  0.25    0.75   0.25   0.75    1
//    3    0.375  0.25   0.125   0.375  0.375  0.5     0  (tie 0/1: the cheaper β)
//    4    0.5    0.5    0.125   0.5    0.625  0.5     0  (tie 0/2: the cheaper β)
//    5    1      0.5    0.5     1      0.625  1.25    1
ExpertPolicy plugin_policy() {
  ExpertPolicy p;
  p.method = "bayes_plugin";
  p.names = {"surrogate", "cheap", "strong"};
  p.choices = {{1.0, 0.0}, {1.0, 0.25}, {2.0, 0.5}};
  p.lambda = 0.5;
  p.has_surrogate = true;
  p.surrogate = surrogate(6);
  p.estimators = {estimator({0.125f, 0.75f, 0.75f, 0.375f, 0.5f, 1.0f}),
                  estimator({0.25f, 0.25f, 0.125f, 0.25f, 0.5f, 0.5f}),
                  estimator({0.0f, 0.0f, 0.25f, 0.125f, 0.125f, 0.5f})};
  p.constant_wrong = {0, 0, 0};
  return p;
}

const Context kCtx{};

TEST(ExpertPolicy, BayesPluginRoutesToTheLeastEstimatedCost) {
  const ExpertPolicy p = plugin_policy();
  const Matrix x = rows(6);
  const ExpertRouting r = route_experts(p, x, kCtx);
  EXPECT_EQ(r.choice, (std::vector<int>{0, 2, 1, 0, 0, 1}));
  // The surrogate's answer (id mod 4) where it was chosen, else none.
  EXPECT_EQ(r.answer, (std::vector<LabelId>{0, kNoLabel, kNoLabel, 3, 0, kNoLabel}));
  const Matrix c = expected_costs(p, x, kCtx);
  const float want[6][3] = {{0.125f, 0.375f, 0.25f}, {0.75f, 0.375f, 0.25f}, {0.75f, 0.25f, 0.75f},
                            {0.375f, 0.375f, 0.5f},  {0.5f, 0.625f, 0.5f},   {1.0f, 0.625f, 1.25f}};
  for (std::size_t i = 0; i < 6; ++i)
    for (std::size_t j = 0; j < 3; ++j) EXPECT_FLOAT_EQ(c(i, j), want[i][j]) << i << "," << j;
}

TEST(ExpertPolicy, SurrogateSeesOnlyItsRowsInOneBatch) {
  const ExpertPolicy p = plugin_policy();
  const auto* s = static_cast<const FixedProba*>(p.surrogate.get());
  route_experts(p, rows(6), kCtx);
  EXPECT_EQ(s->seen, (std::vector<int>{0, 3, 4}));
  EXPECT_EQ(s->calls, 1);
  // Every estimator saw every row, in one batch.
  for (const auto& e : p.estimators) {
    const auto* f = static_cast<const FixedProba*>(e.get());
    EXPECT_EQ(f->seen, (std::vector<int>{0, 1, 2, 3, 4, 5}));
    EXPECT_EQ(f->calls, 1);
  }
  // No row routed to the surrogate: it is not called at all.
  ExpertPolicy q = plugin_policy();
  q.choices[0].beta = 10;  // the surrogate too expensive for any row
  const auto* t = static_cast<const FixedProba*>(q.surrogate.get());
  const ExpertRouting r = route_experts(q, rows(6), kCtx);
  for (int c : r.choice) EXPECT_NE(c, 0);
  for (LabelId a : r.answer) EXPECT_EQ(a, kNoLabel);
  EXPECT_EQ(t->calls, 0);
}

TEST(ExpertPolicy, ConstantEstimates) {
  // "strong" had all its training rows right or wrong alike: a constant P(wrong) = 0.125, cost
  // 2 · 0.125 + 0.25 = 0.5 on every row. Rows: costs (c0, c1, 0.5) from the table above.
  ExpertPolicy p = plugin_policy();
  p.estimators[2] = nullptr;
  p.constant_wrong = {0.9, 0.9, 0.125};  // the first two are ignored (they have estimators)
  const ExpertRouting r = route_experts(p, rows(6), kCtx);
  //   row 0: 0.125 0.375 0.5 → 0;  row 1: 0.75 0.375 0.5 → 1;  row 2: 0.75 0.25 0.5 → 1
  //   row 3: 0.375 0.375 0.5 → 0;  row 4: 0.5 0.625 0.5 → 0 (tie, cheaper β);  row 5 → 2 (0.5)
  EXPECT_EQ(r.choice, (std::vector<int>{0, 1, 1, 0, 0, 2}));
  // Every choice constant: one decision for every row (the least constant cost).
  p.estimators = {nullptr, nullptr, nullptr};
  p.constant_wrong = {0.5, 0.125, 0.0};  // costs 0.5, 0.25, 0.25 → 1 (tie 1/2: cheaper β)
  EXPECT_EQ(route_experts(p, rows(6), kCtx).choice, std::vector<int>(6, 1));
}

TEST(ExpertPolicy, TwoStageRoutesToTheRejectorsArgmax) {
  ExpertPolicy p;
  p.method = "two_stage";
  p.names = {"surrogate", "cheap", "strong"};
  p.choices = {{1.0, 0.0}, {1.0, 0.25}, {2.0, 0.5}};
  p.has_surrogate = true;
  p.surrogate = surrogate(5);
  p.rejector = std::make_shared<FixedProba>(3, std::map<int, std::vector<float>>{
                                                   {0, {0.2f, 0.5f, 0.3f}},
                                                   {1, {0.6f, 0.2f, 0.2f}},
                                                   {2, {0.1f, 0.1f, 0.8f}},
                                                   {3, {0.4f, 0.4f, 0.2f}},  // tie: lower index
                                                   {4, {0.25f, 0.25f, 0.5f}},
                                               });
  const ExpertRouting r = route_experts(p, rows(5), kCtx);
  EXPECT_EQ(r.choice, (std::vector<int>{1, 0, 2, 0, 2}));
  EXPECT_EQ(r.answer, (std::vector<LabelId>{kNoLabel, 1, kNoLabel, 3, kNoLabel}));
  EXPECT_EQ(static_cast<const FixedProba*>(p.surrogate.get())->seen, (std::vector<int>{1, 3}));
}

TEST(ExpertPolicy, WithoutSurrogateEveryChoiceIsAnExpert) {
  ExpertPolicy p = plugin_policy();
  p.has_surrogate = false;
  p.surrogate = nullptr;
  const ExpertRouting r = route_experts(p, rows(6), kCtx);
  EXPECT_EQ(r.choice, (std::vector<int>{0, 2, 1, 0, 0, 1}));  // the same costs
  EXPECT_EQ(r.answer, std::vector<LabelId>(6, kNoLabel));     // nobody answers here
}

TEST(ExpertPolicy, BadPoliciesAreOneLineErrors) {
  const Matrix x = rows(6);
  auto err = [&](const ExpertPolicy& p) {
    const std::string m = testing::error_of([&] { route_experts(p, x, kCtx); });
    EXPECT_THAT(m, Not(HasSubstr("\n")));
    return m;
  };
  ExpertPolicy p = plugin_policy();
  p.method = "cascade";
  EXPECT_THAT(err(p), HasSubstr("method 'cascade' (expected bayes_plugin or two_stage)"));
  p = plugin_policy();
  p.names.pop_back();
  EXPECT_THAT(err(p), HasSubstr("2 names for 3 choices"));
  p = plugin_policy();
  p.names[2] = "cheap";
  EXPECT_THAT(err(p), HasSubstr("'cheap' appears twice"));
  p = plugin_policy();
  p.choices[1].beta = -1;
  EXPECT_THAT(err(p), HasSubstr("choice 'cheap' has alpha 1 and beta -1"));
  p = plugin_policy();
  p.lambda = -0.5;
  EXPECT_THAT(err(p), HasSubstr("lambda -0.5"));
  p = plugin_policy();
  p.surrogate = nullptr;
  EXPECT_THAT(err(p), HasSubstr("has_surrogate is set but there is no surrogate model"));
  p = plugin_policy();
  p.estimators[1] = std::make_shared<FixedProba>(3, std::map<int, std::vector<float>>{});
  EXPECT_THAT(err(p), HasSubstr("the estimator of choice 'cheap' predicts 3 classes (expected 2"));
  p = plugin_policy();
  p.estimators[1] = nullptr;
  p.constant_wrong[1] = 1.5;
  EXPECT_THAT(err(p), HasSubstr("constant estimate of 1.5 (expected a probability in [0, 1])"));
  p = plugin_policy();
  p.constant_wrong.pop_back();
  EXPECT_THAT(err(p), HasSubstr("3 estimators and 2 constant estimates for 3 choices"));
  p = plugin_policy();
  p.method = "two_stage";
  EXPECT_THAT(err(p), HasSubstr("two_stage without a rejector"));
  p.rejector = std::make_shared<FixedProba>(2, std::map<int, std::vector<float>>{});
  EXPECT_THAT(err(p), HasSubstr("the rejector predicts 2 classes (expected 3, one per choice)"));
  p = plugin_policy();
  p.names = {"surrogate"};
  p.choices = {{1.0, 0.0}};
  EXPECT_THAT(err(p), HasSubstr("1 choices (expected at least 2)"));
}

}  // namespace
}  // namespace deferbench
