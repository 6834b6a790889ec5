// The contract every registered model keeps (the zoo issue's contract test): fits separable data,
// probabilities in [0, 1] summing to 1, a model trained on 3 of 5 classes returns 5 columns with
// zeros where it must, save/load gives identical predictions, same seed gives identical models.
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "core/util/error.h"
#include "models/registry.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

// Three well-separated Gaussian blobs in 6-d, labelled 0, 2, 3 of a 5-class label space.
Dataset blobs(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0.0f, 0.3f);
  const LabelId ids[3] = {0, 2, 3};
  Dataset d;
  d.labels = std::make_shared<LabelSpace>(std::vector<std::string>{"a", "b", "c", "d", "e"});
  d.features = Matrix(n, 6);
  for (std::size_t i = 0; i < n; ++i) {
    const int c = static_cast<int>(i % 3);
    for (std::size_t j = 0; j < 6; ++j)
      d.features(i, j) = noise(rng) + (static_cast<int>(j % 3) == c ? 3.0f : 0.0f);
    d.teacher.push_back(ids[c]);
  }
  return d;
}

class ZooContract : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<Classifier> make() {
    YAML::Node spec;
    spec["name"] = GetParam();
    try {
      return builtin_models().make(spec, "model");
    } catch (const Error& e) {
      return nullptr;  // a model this build lacks (xgb without XGBoost): checked below
    }
  }
  Context ctx_{Device::kCpu, 11, 2};
};

// argmax_rows against a plain scan keeping the first strictly greater entry, for widths below,
// at and above the vector width, with ties (values drawn from a handful of levels).
TEST(ArgmaxRows, FirstMaximumAsAScanFindsIt) {
  std::mt19937_64 rng(4);
  for (std::size_t k : {1u, 2u, 7u, 8u, 9u, 16u, 17u, 77u}) {
    Matrix p(300, k);
    for (std::size_t i = 0; i < p.size(); ++i) p.data()[i] = static_cast<float>(rng() % 5) * 0.25f;
    const std::vector<LabelId> got = argmax_rows(p);
    ASSERT_EQ(got.size(), p.rows());
    for (std::size_t i = 0; i < p.rows(); ++i) {
      std::size_t best = 0;
      for (std::size_t j = 1; j < k; ++j)
        if (p(i, j) > p(i, best)) best = j;
      EXPECT_EQ(got[i], static_cast<LabelId>(best)) << "k " << k << " row " << i;
    }
  }
}

TEST_P(ZooContract, FitsAndPredictsOverTheGlobalLabelSpace) {
  auto model = make();
  if (!model) GTEST_SKIP() << GetParam() << " is not available in this build";
  Dataset train = blobs(300, 1), val = blobs(90, 2), test = blobs(150, 3);
  model->fit(train, &val, ctx_);
  EXPECT_EQ(model->name(), GetParam());
  EXPECT_EQ(model->n_classes(), 5u);
  Matrix p = model->predict_proba(test.features, ctx_);
  ASSERT_EQ(p.rows(), test.size());
  ASSERT_EQ(p.cols(), 5u);
  std::size_t right = 0;
  for (std::size_t i = 0; i < p.rows(); ++i) {
    double sum = 0;
    for (std::size_t j = 0; j < 5; ++j) {
      EXPECT_GE(p(i, j), 0.0f);
      EXPECT_LE(p(i, j), 1.0f);
      sum += p(i, j);
    }
    EXPECT_NEAR(sum, 1.0, 1e-4) << "row " << i;
    EXPECT_EQ(p(i, 1), 0.0f) << "class b was never seen in training";
    EXPECT_EQ(p(i, 4), 0.0f) << "class e was never seen in training";
    right += argmax_rows(p.view().slice_rows(i, i + 1))[0] == test.teacher[i];
  }
  EXPECT_GE(static_cast<double>(right) / test.size(), 0.95);
}

TEST_P(ZooContract, SaveLoadPredictsIdentically) {
  auto model = make();
  if (!model) GTEST_SKIP() << GetParam() << " is not available in this build";
  Dataset train = blobs(200, 4), val = blobs(60, 5), test = blobs(90, 6);
  model->fit(train, &val, ctx_);
  testing::TempDir dir;
  model->save(dir / "model.bin");
  auto loaded = builtin_models().load(dir / "model.bin");
  EXPECT_EQ(loaded->name(), GetParam());
  EXPECT_EQ(loaded->predict_proba(test.features, ctx_).values(),
            model->predict_proba(test.features, ctx_).values());
}

TEST_P(ZooContract, SameSeedGivesIdenticalModels) {
  auto a = make(), b = make();
  if (!a) GTEST_SKIP() << GetParam() << " is not available in this build";
  Dataset train = blobs(200, 7), val = blobs(60, 8), test = blobs(90, 9);
  a->fit(train, &val, ctx_);
  b->fit(train, &val, ctx_);
  EXPECT_EQ(a->predict_proba(test.features, ctx_).values(),
            b->predict_proba(test.features, ctx_).values());
}

std::string param_name(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

INSTANTIATE_TEST_SUITE_P(EveryRegisteredModel, ZooContract,
                         ::testing::ValuesIn(builtin_models().names()), param_name);

}  // namespace
}  // namespace deferbench
