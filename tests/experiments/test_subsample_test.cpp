// dataset.subsample_test (experiments/prepare.cpp): the test split drawn from the rows outside a
// subsample, the subsample's own split unchanged, its test share calibrating or left unused.
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/config/compose.h"
#include "experiments/prepare.h"
#include "experiments/run_settings.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path kRoot = DEFERBENCH_ROOT;

PreparedData prepared(std::vector<std::string> overrides) {
  // The defaults first: an override given later wins.
  overrides.insert(overrides.begin(), {"dataset.synthetic.rows=3000", "dataset.subsample=1000",
                                       "pipeline.cross_fit.folds=0", "seed=3", "device=cpu"});
  const YAML::Node cfg = compose_config(kRoot / "experiments" / "configs", overrides).config;
  const RunSettings s = RunSettings::from_config(cfg, kRoot);
  return prepare_data(s, s.context());
}

std::set<std::string> ids(const Dataset& d) {
  return {d.ids.begin(), d.ids.end()};
}

TEST(SubsampleTest, TestRowsComeFromOutsideTheSubsampleWhoseSplitIsUnchanged) {
  const PreparedData plain = prepared({});
  const PreparedData cal = prepared({"dataset.subsample_test=1500"});
  const PreparedData unused =
      prepared({"dataset.subsample_test=1500", "dataset.subsample_own_test=unused"});
  ASSERT_EQ(plain.train.size() + plain.val.size() + plain.cal.size() + plain.test.size(), 1000u);
  std::set<std::string> subsample;
  for (const Dataset* d : {&plain.train, &plain.val, &plain.cal, &plain.test})
    subsample.insert(d->ids.begin(), d->ids.end());

  for (const PreparedData* p : {&cal, &unused}) {
    // The subsample and its train / val split are those of the plain run.
    EXPECT_EQ(ids(p->train), ids(plain.train));
    EXPECT_EQ(ids(p->val), ids(plain.val));
    // The test split: 1,500 rows, none of them in the subsample.
    ASSERT_EQ(p->test.size(), 1500u);
    for (const std::string& id : p->test.ids) EXPECT_EQ(subsample.count(id), 0u) << id;
    EXPECT_EQ(ids(p->test).size(), 1500u);  // no row twice
    EXPECT_EQ(p->external_test_rows, 1500u);
  }
  // The run's rows are its splits' (the unused share is not counted: featurize writes them all).
  EXPECT_EQ(cal.total_rows, 2500u);
  EXPECT_EQ(unused.total_rows, 2500u - plain.test.size());
  // own_test: cal — the subsample's test share calibrates; unused — it is nowhere.
  std::set<std::string> cal_and_test = ids(plain.cal);
  cal_and_test.insert(plain.test.ids.begin(), plain.test.ids.end());
  EXPECT_EQ(ids(cal.cal), cal_and_test);
  EXPECT_EQ(ids(unused.cal), ids(plain.cal));
  EXPECT_GT(plain.test.size(), 100u);  // the control: the share is not empty

  // The test rows are stratified by teacher label: each class's share of them is its share of
  // the 2,000 rows outside the subsample, up to rounding.
  const PreparedData all = prepared({"dataset.subsample=0"});
  std::map<LabelId, int> outside, drawn;
  for (std::size_t i = 0; i < all.train.size(); ++i)
    if (!subsample.count(all.train.ids[i])) ++outside[all.train.teacher[i]];
  for (const Dataset* d : {&all.val, &all.cal, &all.test})
    for (std::size_t i = 0; i < d->size(); ++i)
      if (!subsample.count(d->ids[i])) ++outside[d->teacher[i]];
  for (LabelId y : cal.test.teacher) ++drawn[y];
  int total = 0;
  for (const auto& [y, n] : outside) {
    total += n;
    EXPECT_NEAR(drawn[y], n * 1500.0 / 2000.0, 1.0) << "class " << y;
  }
  EXPECT_EQ(total, 2000);

  // With cross-fitting the val split's rows calibrate too: the pool is the subsample's train
  // split, the calibration split its val, cal and test shares, the test split the outside rows.
  const PreparedData crossed =
      prepared({"dataset.subsample_test=1500", "pipeline.cross_fit.folds=5"});
  ASSERT_EQ(crossed.cross_fit_folds, 5);
  EXPECT_EQ(ids(crossed.train), ids(plain.train));
  std::set<std::string> val_cal_test = cal_and_test;
  val_cal_test.insert(plain.val.ids.begin(), plain.val.ids.end());
  EXPECT_EQ(ids(crossed.cal), val_cal_test);
  EXPECT_EQ(crossed.test.ids, cal.test.ids);

  // Same config and seed, same rows.
  EXPECT_EQ(prepared({"dataset.subsample_test=1500"}).test.ids, cal.test.ids);
}

TEST(SubsampleTest, AskingMoreThanTheRestTakesTheRestAndBadValuesAreOneLineErrors) {
  EXPECT_EQ(prepared({"dataset.subsample_test=5000"}).test.size(), 2000u);
  const std::string whole = testing::error_of([] {
    prepared({"dataset.subsample=3000", "dataset.subsample_test=10"});
  });
  EXPECT_THAT(whole, HasSubstr("'dataset.subsample_test'"));
  EXPECT_THAT(whole, HasSubstr("no rows outside the 3000-row subsample"));
  const std::string bad = testing::error_of([] { prepared({"dataset.subsample_own_test=train"}); });
  EXPECT_THAT(bad, HasSubstr("'dataset.subsample_own_test'"));
  EXPECT_THAT(bad, HasSubstr("cal, unused"));
  const std::string without = testing::error_of([] {
    prepared({"dataset.subsample=0", "dataset.subsample_test=100"});
  });
  EXPECT_THAT(without, HasSubstr("'dataset.subsample_test': 100 rows outside the subsample asked, "
                                 "but dataset.subsample is 0"));
  for (const std::string& e : {whole, bad, without})
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

}  // namespace
}  // namespace deferbench
