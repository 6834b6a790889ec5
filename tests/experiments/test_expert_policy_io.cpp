// Multi-expert policy artifacts (experiments/expert_policy_io.h): real small models fitted on
// synthetic rows, saved, loaded and routed identically; damaged, missing and foreign folders
// refused with one-line errors naming the file.
#include "experiments/expert_policy_io.h"

#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/data/npy.h"
#include "core/model/fold_average.h"
#include "models/dense/logreg.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

const Context kCtx{};

// A 2-class dataset over {"right", "wrong"} ("wrong" = 1) from per-row correctness.
Dataset right_wrong(const Dataset& d, const std::vector<std::uint8_t>& correct,
                    const std::vector<std::size_t>& rows) {
  Dataset out = d.subset(rows);
  out.labels = std::make_shared<LabelSpace>(std::vector<std::string>{"right", "wrong"});
  out.teacher.clear();
  for (std::size_t i : rows) out.teacher.push_back(correct[i] ? 0 : kWrongClass);
  return out;
}

std::shared_ptr<LogReg> fitted(const Dataset& d) {
  auto m = std::make_shared<LogReg>(LogRegParams{});
  m->fit(d, nullptr, kCtx);
  return m;
}

// The synthetic problem: 3-blob rows (4-d, labels "0".."4"); choices: the surrogate (a LogReg on
// the blobs, free), "cheap" (β 0.1, wrong on most rows of class 0) and "strong" (β 0.5, always
// right: its estimate is the constant 0).
struct Problem {
  Dataset data;
  std::vector<ChoiceCost> choices = {{1.0, 0.0}, {1.0, 0.1}, {1.0, 0.5}};
  std::vector<std::string> names = {"surrogate", "cheap", "strong"};
  std::shared_ptr<LogReg> surrogate;
  Correctness correct;
};

Problem problem() {
  Problem p;
  p.data = testing::blobs(360, 7, 1.6);
  p.surrogate = fitted(p.data);
  const std::vector<LabelId> pred = p.surrogate->predict(p.data.features, kCtx);
  const std::size_t n = p.data.size();
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> coin(0, 1);
  p.correct.assign(3, std::vector<std::uint8_t>(n));
  for (std::size_t i = 0; i < n; ++i) {
    p.correct[0][i] = pred[i] == p.data.teacher[i];
    p.correct[1][i] = coin(rng) < (p.data.teacher[i] == 0 ? 0.2 : 0.9);
    p.correct[2][i] = 1;
  }
  return p;
}

// bayes_plugin: LogReg estimators for the surrogate and "cheap" ("cheap" cross-fitted: the mean
// of two LogRegs fitted on halves), a constant for "strong".
ExpertPolicy plugin(const Problem& pr) {
  ExpertPolicy p;
  p.method = "bayes_plugin";
  p.names = pr.names;
  p.choices = pr.choices;
  p.lambda = 1.0;
  p.surrogate = pr.surrogate;
  std::vector<std::size_t> all, even, odd;
  for (std::size_t i = 0; i < pr.data.size(); ++i) {
    all.push_back(i);
    (i % 2 ? odd : even).push_back(i);
  }
  p.estimators.push_back(fitted(right_wrong(pr.data, pr.correct[0], all)));
  p.estimators.push_back(
      std::make_shared<FoldAverage>(std::vector<std::shared_ptr<const Classifier>>{
          fitted(right_wrong(pr.data, pr.correct[1], even)),
          fitted(right_wrong(pr.data, pr.correct[1], odd))}));
  p.estimators.push_back(nullptr);
  p.constant_wrong = {0.0, 0.0, 0.0};
  return p;
}

// two_stage: a LogReg rejector fitted on the comp-sum weights of the realized costs.
ExpertPolicy two_stage(const Problem& pr) {
  ExpertPolicy p;
  p.method = "two_stage";
  p.names = pr.names;
  p.choices = pr.choices;
  p.lambda = 1.0;
  p.surrogate = pr.surrogate;
  auto r = std::make_shared<LogReg>(LogRegParams{});
  r->fit_cost_weighted(pr.data.features, comp_sum_weights(cost_matrix(pr.correct, pr.choices, 1.0)),
                       kCtx);
  p.rejector = r;
  return p;
}

void expect_round_trip(const ExpertPolicy& policy, const Problem& pr) {
  testing::TempDir dir;
  const nlohmann::json info = {{"family", policy.method}, {"seed", 0}};
  save_expert_policy(dir / "policy", policy, nullptr, *pr.data.labels, 4, info);
  const SavedExpertPolicy loaded = load_expert_policy(dir / "policy");
  EXPECT_EQ(loaded.policy.method, policy.method);
  EXPECT_EQ(loaded.policy.names, policy.names);
  EXPECT_EQ(loaded.policy.lambda, policy.lambda);
  EXPECT_EQ(loaded.feature_dim, 4u);
  EXPECT_EQ(loaded.labels->names(), pr.data.labels->names());
  EXPECT_EQ(loaded.manifest["info"], info);
  EXPECT_EQ(loaded.manifest["kind"], "experts");

  const ExpertRouting a = route_experts(policy, pr.data.features, kCtx);
  const ExpertRouting b = route_experts(loaded.policy, pr.data.features, kCtx);
  EXPECT_EQ(a.choice, b.choice);
  EXPECT_EQ(a.answer, b.answer);
  // The routing is not trivial: at least two choices are used, the surrogate among them.
  const std::set<int> used(a.choice.begin(), a.choice.end());
  EXPECT_GE(used.size(), 2u);
  EXPECT_TRUE(used.count(0));

  // Through a file: one JSON line per row with the choice's name and the surrogate's answer.
  write_npy(dir / "x.npy", pr.data.features);
  const RoutedFile f = route_expert_file(loaded, dir / "x.npy", RouteOptions{}, kCtx);
  EXPECT_EQ(f.rows, pr.data.size());
  std::istringstream in(f.lines);
  std::string line;
  std::size_t i = 0, answered = 0;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    ASSERT_LT(i, a.choice.size());
    EXPECT_EQ(j["id"], std::to_string(i));
    EXPECT_EQ(j["choice"], policy.names[static_cast<std::size_t>(a.choice[i])]);
    if (a.choice[i] == 0) {
      EXPECT_EQ(j["label"], pr.data.labels->name(a.answer[i]));
      ++answered;
    } else {
      EXPECT_TRUE(j["label"].is_null());
    }
    ++i;
  }
  EXPECT_EQ(i, pr.data.size());
  EXPECT_EQ(f.handled, answered);
}

TEST(ExpertPolicyArtifact, BayesPluginSavesLoadsAndRoutesIdentically) {
  const Problem pr = problem();
  expect_round_trip(plugin(pr), pr);
}

TEST(ExpertPolicyArtifact, TwoStageSavesLoadsAndRoutesIdentically) {
  const Problem pr = problem();
  expect_round_trip(two_stage(pr), pr);
}

TEST(ExpertPolicyArtifact, WithoutSurrogateSavesLoadsAndRoutesIdentically) {
  const Problem pr = problem();
  ExpertPolicy p = plugin(pr);
  // The LLMs only: "cheap" and "strong".
  p.names.erase(p.names.begin());
  p.choices.erase(p.choices.begin());
  p.estimators.erase(p.estimators.begin());
  p.constant_wrong.erase(p.constant_wrong.begin());
  p.has_surrogate = false;
  p.surrogate = nullptr;
  testing::TempDir dir;
  save_expert_policy(dir / "policy", p, nullptr, *pr.data.labels, 4, {});
  const SavedExpertPolicy loaded = load_expert_policy(dir / "policy");
  EXPECT_FALSE(loaded.policy.has_surrogate);
  EXPECT_TRUE(loaded.manifest["surrogate"].is_null());
  const ExpertRouting a = route_experts(p, pr.data.features, kCtx);
  const ExpertRouting b = route_experts(loaded.policy, pr.data.features, kCtx);
  EXPECT_EQ(a.choice, b.choice);
  EXPECT_EQ(b.answer, std::vector<LabelId>(pr.data.size(), kNoLabel));
}

// A folder saved once per test, to damage.
struct Saved {
  testing::TempDir tmp;
  fs::path dir;
  explicit Saved(const ExpertPolicy& p, const Problem& pr) : dir(tmp / "policy") {
    save_expert_policy(dir, p, nullptr, *pr.data.labels, 4, {});
  }
  std::string load_error() const {
    const std::string m = testing::error_of([&] { load_expert_policy(dir); });
    EXPECT_THAT(m, Not(HasSubstr("\n")));
    return m;
  }
};

TEST(ExpertPolicyArtifact, DamagedMissingAndForeignFoldersAreOneLineErrors) {
  const Problem pr = problem();
  const ExpertPolicy p = plugin(pr);
  {  // a flipped byte in a model file
    Saved s(p, pr);
    const fs::path f = s.dir / "choice0_estimator.bin";
    std::fstream io(f, std::ios::in | std::ios::out | std::ios::binary);
    io.seekg(40);
    char c = 0;
    io.get(c);
    io.seekp(40);
    io.put(static_cast<char>(c ^ 0x10));
    io.close();
    EXPECT_THAT(s.load_error(),
                AllOf(HasSubstr("manifest.json"), HasSubstr("files.choice0_estimator.bin"),
                      HasSubstr("checksum mismatch")));
  }
  {  // a missing file (a member of the cross-fitted estimator)
    Saved s(p, pr);
    fs::remove(s.dir / "choice1_estimator_fold2.bin");
    EXPECT_THAT(s.load_error(), AllOf(HasSubstr("files.choice1_estimator_fold2.bin"),
                                      HasSubstr("expected a file in the policy folder")));
  }
  {  // a single-surrogate policy folder: refused, naming its loader
    testing::TempDir tmp;
    Stage st;
    st.surrogate = pr.surrogate;
    st.thresholds = {0.5};
    save_policy(tmp / "single", {st}, nullptr, *pr.data.labels, 4, {});
    const std::string m = testing::error_of([&] { load_expert_policy(tmp / "single"); });
    EXPECT_THAT(
        m, AllOf(HasSubstr("manifest.json"), HasSubstr("field 'kind'"), HasSubstr("load_policy"),
                 HasSubstr("expected \"experts\""), Not(HasSubstr("\n"))));
    // ... and the single-surrogate loader refuses an experts folder, naming this one's.
    Saved s(p, pr);
    const std::string n = testing::error_of([&] { load_policy(s.dir); });
    EXPECT_THAT(n, AllOf(HasSubstr("manifest.json"), HasSubstr("field 'kind'"),
                         HasSubstr("load_expert_policy"), Not(HasSubstr("\n"))));
  }
  {  // a field of the wrong kind: the estimator of a 3-class model, a bad method, lambda
    Saved s(p, pr);
    std::ifstream in(s.dir / "manifest.json");
    nlohmann::json m = nlohmann::json::parse(in);
    in.close();
    auto rewrite = [&](const nlohmann::json& j) {
      std::ofstream(s.dir / "manifest.json") << j.dump(2);
    };
    nlohmann::json bad = m;
    bad["method"] = "oracle";
    rewrite(bad);
    EXPECT_THAT(s.load_error(),
                AllOf(HasSubstr("field 'method'"), HasSubstr("bayes_plugin\" or \"two_stage")));
    bad = m;
    bad["lambda"] = -1;
    rewrite(bad);
    EXPECT_THAT(s.load_error(), HasSubstr("field 'lambda': expected a number from 0"));
    bad = m;
    bad["choices"][2]["constant_wrong"] = 2;
    rewrite(bad);
    EXPECT_THAT(s.load_error(), HasSubstr("field 'choices[2].constant_wrong'"));
    bad = m;
    bad["choices"][0]["estimator"] = "surrogate.bin";  // a 5-class model where 2 are expected
    rewrite(bad);
    EXPECT_THAT(s.load_error(), AllOf(HasSubstr("field 'choices[0].estimator'"),
                                      HasSubstr("expected a 2-class model (right, wrong), got 5")));
    bad = m;
    bad["choices"][0]["estimator"] = "../outside.bin";
    rewrite(bad);
    EXPECT_THAT(s.load_error(), HasSubstr("is not listed in 'files'"));
  }
}

TEST(ExpertPolicyArtifact, SaveRefusesAnInvalidPolicyAndANonEmptyFolder) {
  const Problem pr = problem();
  testing::TempDir dir;
  ExpertPolicy p = plugin(pr);
  p.estimators.pop_back();
  EXPECT_THAT(
      testing::error_of([&] { save_expert_policy(dir / "a", p, nullptr, *pr.data.labels, 4, {}); }),
      HasSubstr("2 estimators and 3 constant estimates for 3 choices"));
  EXPECT_FALSE(fs::exists(dir / "a"));
  const LabelSpace two(std::vector<std::string>{"a", "b"});
  EXPECT_THAT(
      testing::error_of([&] { save_expert_policy(dir / "a", plugin(pr), nullptr, two, 4, {}); }),
      HasSubstr("the surrogate predicts 5 classes; the label space has 2"));
  dir.write("b/x.txt", "x");
  EXPECT_THAT(testing::error_of([&] {
                save_expert_policy(dir / "b", plugin(pr), nullptr, *pr.data.labels, 4, {});
              }),
              HasSubstr("save_expert_policy: "));
  EXPECT_EQ(testing::count_files(dir.path()), 1u);  // nothing left behind
}

}  // namespace
}  // namespace deferbench
