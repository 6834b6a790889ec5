#include "core/data/synthetic_experts.h"

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/util/error.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

using testing::error_of;

std::vector<int> as_ints(const std::vector<std::string>& labels) {
  std::vector<int> out;
  out.reserve(labels.size());
  for (const std::string& s : labels) out.push_back(std::stoi(s));
  return out;
}

SyntheticExpertsOptions with_rows(std::size_t rows) {
  SyntheticExpertsOptions o;
  o.base.rows = rows;
  return o;
}

const std::vector<double> kAlpha = {1, 1, 1};
const std::vector<double> kBeta = {1, 3, 10};

TEST(SyntheticExperts, FieldsTeacherAndBaseFeatures) {
  const SyntheticExpertsOptions o = with_rows(300);
  const Traces t = generate_synthetic_experts(o, 5);
  ASSERT_EQ(t.size(), 300u);
  EXPECT_EQ(t.teacher, t.gold);  // the teacher is gold; the experts carry the errors
  ASSERT_EQ(t.fields.size(), 4u);
  for (const char* name : {"expert_1", "expert_2", "expert_3", "region"}) {
    ASSERT_EQ(t.fields.count(name), 1u) << name;
    EXPECT_EQ(t.fields.at(name).size(), 300u) << name;
  }
  // Features and gold are the base generator's (with its teacher error rate 0 by default).
  const Traces base = generate_synthetic(o.base, 5);
  EXPECT_EQ(base.gold, t.gold);
  EXPECT_EQ(base.teacher, t.teacher);
  ASSERT_EQ(base.embeddings.cols(), t.embeddings.cols());
  for (std::size_t i = 0; i < t.size(); ++i)
    for (std::size_t j = 0; j < t.embeddings.cols(); ++j)
      ASSERT_EQ(base.embeddings(i, j), t.embeddings(i, j));
  // A base teacher that errs is still replaced by gold.
  SyntheticExpertsOptions noisy = o;
  noisy.base.teacher_error_rate = 0.5;
  const Traces u = generate_synthetic_experts(noisy, 5);
  EXPECT_EQ(u.teacher, u.gold);
}

TEST(SyntheticExperts, ErrorRatesPerRegionWithinFourSigma) {
  const SyntheticExpertsOptions o = with_rows(50000);
  const Traces t = generate_synthetic_experts(o, 7);
  const std::vector<int> region = as_ints(t.fields.at("region"));
  for (std::size_t j = 0; j < o.error_rates.size(); ++j) {
    const std::vector<std::string>& answers = t.fields.at("expert_" + std::to_string(j + 1));
    std::vector<double> rows(3, 0), wrong(3, 0);
    for (std::size_t i = 0; i < t.size(); ++i) {
      const auto r = static_cast<std::size_t>(region[i]);
      rows[r] += 1;
      if (answers[i] != t.gold[i]) wrong[r] += 1;
    }
    for (std::size_t r = 0; r < 3; ++r) {
      ASSERT_GT(rows[r], 5000) << "region " << r;  // every region well populated
      const double p = o.error_rates[j][r];
      const double se = std::sqrt(p * (1 - p) / rows[r]);
      EXPECT_NEAR(wrong[r] / rows[r], p, 4 * se) << "expert " << j + 1 << " region " << r;
    }
  }
}

TEST(SyntheticExperts, WrongAnswersAreUniformOverTheOtherClasses) {
  SyntheticExpertsOptions o = with_rows(45000);
  o.error_rates = {{1, 1, 1}, {0, 0, 0}};  // always wrong, never wrong
  const Traces t = generate_synthetic_experts(o, 3);
  const std::vector<int> gold = as_ints(t.gold);
  const std::vector<int> wrong = as_ints(t.fields.at("expert_1"));
  EXPECT_EQ(t.fields.at("expert_2"), t.gold);
  const int k = 10;
  std::vector<double> by_offset(k, 0);  // (answer − gold) mod k
  std::vector<std::vector<int>> pair(k, std::vector<int>(k, 0));
  for (std::size_t i = 0; i < t.size(); ++i) {
    ASSERT_GE(wrong[i], 0);
    ASSERT_LT(wrong[i], k);
    ++pair[gold[i]][wrong[i]];
    by_offset[((wrong[i] - gold[i]) % k + k) % k] += 1;
  }
  EXPECT_EQ(by_offset[0], 0);  // never the gold label
  const double n = static_cast<double>(t.size()), p = 1.0 / (k - 1);
  for (int d = 1; d < k; ++d)
    EXPECT_NEAR(by_offset[d] / n, p, 4 * std::sqrt(p * (1 - p) / n)) << "offset " << d;
  for (int g = 0; g < k; ++g) {
    for (int a = 0; a < k; ++a) {
      if (a == g) continue;
      EXPECT_GT(pair[g][a], 0) << g << " -> " << a;  // ~500 expected each
    }
  }

  // Two classes: a wrong answer is the other one.
  o.base.classes = 2;
  o.base.confusable_pairs = 1;
  o.base.rows = 200;
  const Traces two = generate_synthetic_experts(o, 3);
  const std::vector<int> g2 = as_ints(two.gold);
  const std::vector<int> w2 = as_ints(two.fields.at("expert_1"));
  for (std::size_t i = 0; i < two.size(); ++i) EXPECT_EQ(w2[i], 1 - g2[i]);
}

TEST(SyntheticExperts, RegionFollowsFirstFeatureAndCuts) {
  SyntheticExpertsOptions o = with_rows(2000);
  o.cuts = {-1.0, 0.0, 0.75};
  o.error_rates = {{0.1, 0.2, 0.3, 0.4}};
  const Traces t = generate_synthetic_experts(o, 11);
  const std::vector<int> region = as_ints(t.fields.at("region"));
  EXPECT_EQ(synthetic_regions(t.embeddings, o.cuts), region);
  std::vector<int> seen(4, 0);
  for (std::size_t i = 0; i < t.size(); ++i) {
    const double x0 = t.embeddings(i, 0);
    int expected = 0;
    for (double c : o.cuts) expected += c <= x0 ? 1 : 0;
    ASSERT_EQ(region[i], expected) << "row " << i << " x[0] " << x0;
    ++seen[expected];
  }
  for (int r = 0; r < 4; ++r) EXPECT_GT(seen[r], 100) << "region " << r;

  // Only x[0] counts; a value equal to a cut is in the region above it.
  Matrix x(5, 2);
  const float first[] = {-1.0F, -0.5F, 0.0F, 0.5F, 0.7F};
  for (std::size_t i = 0; i < 5; ++i) {
    x(i, 0) = first[i];
    x(i, 1) = 100.0F;  // would be the last region if it counted
  }
  EXPECT_EQ(synthetic_regions(x, {-0.5, 0.5}), (std::vector<int>{0, 1, 1, 2, 2}));
  EXPECT_EQ(synthetic_regions(x, {}), (std::vector<int>(5, 0)));
  x(3, 0) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(error_of([&] { synthetic_regions(x, {0.0}); }),
            "synthetic_experts: row 3 has NaN in x[0]");
  EXPECT_EQ(error_of([&] { synthetic_regions(Matrix(2, 0), {0.0}); }),
            "synthetic_experts: features have no columns; the region needs x[0]");
}

TEST(SyntheticExperts, DeterministicForASeedAndDifferentAcrossSeeds) {
  const SyntheticExpertsOptions o = with_rows(500);
  const Traces a = generate_synthetic_experts(o, 42);
  const Traces b = generate_synthetic_experts(o, 42);
  const Traces c = generate_synthetic_experts(o, 43);
  EXPECT_EQ(a.fields, b.fields);
  EXPECT_EQ(a.gold, b.gold);
  EXPECT_NE(a.fields.at("region"), c.fields.at("region"));
  for (const char* name : {"expert_1", "expert_2", "expert_3"}) {
    EXPECT_NE(a.fields.at(name), c.fields.at(name)) << name;
    // Which rows are wrong differs too (not only the features and gold).
    std::size_t same_pattern = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
      same_pattern += (a.fields.at(name)[i] == a.gold[i]) == (c.fields.at(name)[i] == c.gold[i]);
    EXPECT_LT(same_pattern, a.size()) << name;
  }
}

TEST(SyntheticExperts, ExpertStreamsAreIndependentOfTheOthers) {
  const SyntheticExpertsOptions three = with_rows(3000);
  SyntheticExpertsOptions four = three;
  four.error_rates.push_back({0.5, 0.5, 0.5});
  const Traces a = generate_synthetic_experts(three, 9);
  const Traces b = generate_synthetic_experts(four, 9);
  ASSERT_EQ(b.fields.count("expert_4"), 1u);
  for (const char* name : {"expert_1", "expert_2", "expert_3", "region"})
    EXPECT_EQ(a.fields.at(name), b.fields.at(name)) << name;
  EXPECT_EQ(a.gold, b.gold);

  // Changing expert 2's rates leaves experts 1 and 3 as they were.
  SyntheticExpertsOptions changed = three;
  changed.error_rates[1] = {0.9, 0.0, 0.3};
  const Traces c = generate_synthetic_experts(changed, 9);
  EXPECT_EQ(a.fields.at("expert_1"), c.fields.at("expert_1"));
  EXPECT_EQ(a.fields.at("expert_3"), c.fields.at("expert_3"));
  EXPECT_NE(a.fields.at("expert_2"), c.fields.at("expert_2"));

  // Experts with equal rates still err on different rows (separate streams).
  SyntheticExpertsOptions twins = three;
  twins.error_rates = {{0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}};
  const Traces d = generate_synthetic_experts(twins, 9);
  EXPECT_NE(d.fields.at("expert_1"), d.fields.at("expert_2"));

  // The first rows do not depend on the row count.
  const Traces small = generate_synthetic_experts(with_rows(1000), 9);
  for (const char* name : {"expert_1", "expert_2", "expert_3", "region"}) {
    const std::vector<std::string>& all = a.fields.at(name);
    EXPECT_EQ(small.fields.at(name), std::vector<std::string>(all.begin(), all.begin() + 1000))
        << name;
  }
}

TEST(SyntheticExperts, BayesAgainstAHandTable) {
  // Three experts, four regions, λ = 0.5, α = (1, 1, 2), β = (1, 1, 0): λβ = (0.5, 0.5, 0).
  // Expected costs α_j e_j(r) + λβ_j (all dyadic, so the sums and ties are exact):
  //   expert 0, e = (0.25, 0.5,  0.0,  0.5): 0.75, 1.0, 0.5, 1.0
  //   expert 1, e = (0.25, 0.0,  0.5,  0.0): 0.75, 0.5, 1.0, 0.5
  //   expert 2, e = (0.5,  0.25, 0.25, 0.5): 1.0,  0.5, 0.5, 1.0   (2 · e)
  // r0: experts 0 and 1 tie at 0.75 with equal β: the lower index, 0.
  // r1: experts 1 and 2 tie at 0.5: the lower β, 2.   r2: experts 0 and 2 tie at 0.5: 2.
  // r3: expert 1 alone at 0.5.
  // Rows of regions (0, 1, 2, 3, 3, 0): choices (0, 2, 2, 1, 1, 0), costs
  // 0.75 + 0.5 + 0.5 + 0.5 + 0.5 + 0.75 = 3.5, mean 3.5 / 6.
  const std::vector<std::vector<double>> rates = {
      {0.25, 0.5, 0.0, 0.5}, {0.25, 0.0, 0.5, 0.0}, {0.5, 0.25, 0.25, 0.5}};
  const std::vector<double> alpha = {1, 1, 2}, beta = {1, 1, 0};
  const std::vector<int> regions = {0, 1, 2, 3, 3, 0};
  EXPECT_EQ(bayes_choices(regions, rates, alpha, beta, 0.5), (std::vector<int>{0, 2, 2, 1, 1, 0}));
  EXPECT_DOUBLE_EQ(bayes_expected_cost(regions, rates, alpha, beta, 0.5), 3.5 / 6);
  // λ = 0: prices do not count; r0 0.25 / 0.25 / 1.0 → 0 (equal β), r1 0.5 / 0.0 / 0.5 → 1,
  // r2 0.0 / 0.5 / 0.5 → 0, r3 0.5 / 0.0 / 1.0 → 1. Costs 0.25 + 0 + 0 + 0 + 0 + 0.25 = 0.5.
  EXPECT_EQ(bayes_choices(regions, rates, alpha, beta, 0.0), (std::vector<int>{0, 1, 0, 1, 1, 0}));
  EXPECT_DOUBLE_EQ(bayes_expected_cost(regions, rates, alpha, beta, 0.0), 0.5 / 6);
  EXPECT_TRUE(bayes_choices({}, rates, alpha, beta, 0.5).empty());
}

TEST(SyntheticExperts, DefaultsChooseADifferentExpertPerRegion) {
  const SyntheticExpertsOptions o;
  ASSERT_EQ(o.error_rates.size(), 3u);
  ASSERT_EQ(o.cuts.size(), 2u);
  const std::vector<int> regions = {0, 1, 2};
  // The header's table: at λ = 0.01 costs 0.04 / 0.13 / 0.20 for experts 1 / 2 / 3.
  EXPECT_EQ(bayes_choices(regions, o.error_rates, kAlpha, kBeta, 0.01),
            (std::vector<int>{0, 1, 2}));
  EXPECT_NEAR(bayes_expected_cost(regions, o.error_rates, kAlpha, kBeta, 0.01),
              (0.04 + 0.13 + 0.20) / 3, 1e-12);
  // Outside [1/350, 0.05) the regions no longer each have their own expert.
  EXPECT_EQ(bayes_choices(regions, o.error_rates, kAlpha, kBeta, 0.002),
            (std::vector<int>{0, 2, 2}));
  EXPECT_EQ(bayes_choices(regions, o.error_rates, kAlpha, kBeta, 0.06),
            (std::vector<int>{0, 1, 1}));
  // At λ = 1 a price gap (≥ 2) outweighs any error (≤ 1): the cheapest expert everywhere.
  EXPECT_EQ(bayes_choices(regions, o.error_rates, kAlpha, kBeta, 1.0), (std::vector<int>{0, 0, 0}));
}

TEST(SyntheticExperts, BayesCostMatchesTheRealizedCostOfItsChoices) {
  const SyntheticExpertsOptions o = with_rows(50000);
  const Traces t = generate_synthetic_experts(o, 21);
  const std::vector<int> region = as_ints(t.fields.at("region"));
  const double lambda = 0.01;
  const std::vector<int> choice = bayes_choices(region, o.error_rates, kAlpha, kBeta, lambda);
  double realized = 0, variance = 0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const auto j = static_cast<std::size_t>(choice[i]);
    const bool wrong = t.fields.at("expert_" + std::to_string(j + 1))[i] != t.gold[i];
    realized += kAlpha[j] * (wrong ? 1.0 : 0.0) + lambda * kBeta[j];
    const double p = o.error_rates[j][static_cast<std::size_t>(region[i])];
    variance += kAlpha[j] * kAlpha[j] * p * (1 - p);
  }
  const double n = static_cast<double>(t.size());
  const double expected = bayes_expected_cost(region, o.error_rates, kAlpha, kBeta, lambda);
  EXPECT_NEAR(realized / n, expected, 4 * std::sqrt(variance) / n);
  // Any single expert for every row costs more in expectation.
  for (int j = 0; j < 3; ++j) {
    const std::vector<std::vector<double>> one = {o.error_rates[static_cast<std::size_t>(j)]};
    const double alone =
        bayes_expected_cost(region, one, {1.0}, {kBeta[static_cast<std::size_t>(j)]}, lambda);
    EXPECT_GT(alone, expected + 0.01) << "expert " << j + 1;
  }
}

TEST(SyntheticExperts, ValidationNamesTheField) {
  auto message = [](auto change) {
    SyntheticExpertsOptions o;
    change(o);
    return error_of([&] { validate(o); });
  };
  EXPECT_EQ(message([](SyntheticExpertsOptions&) {}), "");
  EXPECT_EQ(message([](SyntheticExpertsOptions& o) { o.error_rates[1][2] = 1.5; }),
            "synthetic_experts.error_rates[1][2]: 1.5 is out of range; expected a probability in "
            "[0, 1]");
  EXPECT_NE(message([](SyntheticExpertsOptions& o) {
              o.error_rates[0][0] = -0.1;
            }).find("synthetic_experts.error_rates[0][0]"),
            std::string::npos);
  EXPECT_NE(message([](SyntheticExpertsOptions& o) {
              o.error_rates[2][1] = std::numeric_limits<double>::quiet_NaN();
            }).find("synthetic_experts.error_rates[2][1]"),
            std::string::npos);
  EXPECT_EQ(message([](SyntheticExpertsOptions& o) {
              o.error_rates[2] = {0.1, 0.2};
            }),
            "synthetic_experts.error_rates[2]: 2 rates for 3 regions; expected one per region");
  EXPECT_EQ(message([](SyntheticExpertsOptions& o) { o.cuts = {0.0}; }),
            "synthetic_experts.error_rates[0]: 3 rates for 2 regions; expected one per region");
  EXPECT_EQ(message([](SyntheticExpertsOptions& o) {
              o.cuts = {0.5, -0.5};
            }),
            "synthetic_experts.cuts[1]: -0.5 after 0.5; expected strictly increasing cuts");
  EXPECT_EQ(message([](SyntheticExpertsOptions& o) {
              o.cuts = {0.5, 0.5};
            }),
            "synthetic_experts.cuts[1]: 0.5 after 0.5; expected strictly increasing cuts");
  EXPECT_EQ(message([](SyntheticExpertsOptions& o) {
              o.cuts = {std::numeric_limits<double>::infinity(), 1.0};
            }),
            "synthetic_experts.cuts[0]: inf; expected a finite number");
  EXPECT_EQ(message([](SyntheticExpertsOptions& o) { o.error_rates.clear(); }),
            "synthetic_experts.error_rates: no experts; expected at least one");
  EXPECT_EQ(message([](SyntheticExpertsOptions& o) { o.base.classes = 1; }),
            "synthetic.classes: 1; expected at least 2");
  // generate_synthetic_experts validates too.
  SyntheticExpertsOptions bad;
  bad.cuts = {1.0, 0.0};
  EXPECT_THROW(generate_synthetic_experts(bad, 1), Error);

  // The Bayes functions check their input.
  const SyntheticExpertsOptions o;
  const std::vector<int> regions = {0, 1, 2};
  EXPECT_EQ(error_of([&] {
              bayes_choices(regions, o.error_rates, {1, 1}, kBeta, 1.0);
            }),
            "synthetic_experts: 2 alpha and 3 beta for 3 experts; expected one of each per expert");
  EXPECT_EQ(error_of([&] {
              bayes_choices({0, 3}, o.error_rates, kAlpha, kBeta, 1.0);
            }),
            "synthetic_experts: row 1 has region 3; expected 0..2");
  EXPECT_EQ(error_of([&] { bayes_choices({-1}, o.error_rates, kAlpha, kBeta, 1.0); }),
            "synthetic_experts: row 0 has region -1; expected 0..2");
  EXPECT_EQ(error_of([&] { bayes_expected_cost(regions, o.error_rates, kAlpha, kBeta, -1.0); }),
            "synthetic_experts: lambda is -1; expected a finite number >= 0");
  EXPECT_EQ(error_of([&] {
              bayes_expected_cost(regions, o.error_rates, kAlpha, {1, -3, 10}, 1);
            }),
            "synthetic_experts: beta[1] is -3; expected a finite number >= 0");
  EXPECT_EQ(error_of([&] { bayes_expected_cost({}, o.error_rates, kAlpha, kBeta, 1.0); }),
            "synthetic_experts: no rows; the expected cost needs at least one");
  EXPECT_EQ(error_of([&] {
              bayes_expected_cost(regions, {{0.1, 0.2, 0.3}, {0.1}}, {1, 1}, {1, 1}, 1.0);
            }),
            "synthetic_experts.error_rates[1]: 1 rates for 3 regions; expected one per region");
  EXPECT_EQ(error_of([&] { bayes_choices(regions, {}, {}, {}, 1.0); }),
            "synthetic_experts.error_rates: no experts; expected at least one");
}

}  // namespace
}  // namespace deferbench

namespace deferbench {
namespace {

TEST(SyntheticExperts, RegionFeaturesAreIndicatorsAfterTheBaseFeatures) {
  SyntheticExpertsOptions o;
  o.base.rows = 500;
  const Traces plain = generate_synthetic_experts(o, 4);
  o.region_features = true;
  const Traces with = generate_synthetic_experts(o, 4);
  const std::size_t d = plain.embeddings.cols(), r = o.cuts.size() + 1;
  ASSERT_EQ(with.embeddings.cols(), d + r);
  for (std::size_t i = 0; i < with.size(); ++i) {
    for (std::size_t c = 0; c < d; ++c) ASSERT_EQ(with.embeddings(i, c), plain.embeddings(i, c));
    const auto region = static_cast<std::size_t>(std::stoi(with.fields.at("region")[i]));
    for (std::size_t q = 0; q < r; ++q)
      EXPECT_EQ(with.embeddings(i, d + q), q == region ? 1.0f : 0.0f) << i << " " << q;
  }
  // The experts' answers do not depend on the option.
  EXPECT_EQ(with.fields.at("expert_1"), plain.fields.at("expert_1"));
}

}  // namespace
}  // namespace deferbench
