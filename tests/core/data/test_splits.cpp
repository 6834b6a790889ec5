#include "core/data/splits.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/util/error.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

using testing::error_of;

// A strata vector with classes of the given sizes, rows interleaved by a fixed pattern.
std::vector<LabelId> make_strata(const std::vector<std::size_t>& sizes) {
  std::vector<LabelId> strata;
  std::vector<std::size_t> left = sizes;
  bool any = true;
  while (any) {
    any = false;
    for (std::size_t c = 0; c < left.size(); ++c) {
      if (left[c] == 0) continue;
      strata.push_back(static_cast<LabelId>(c));
      --left[c];
      any = true;
    }
  }
  return strata;
}

// Which split (0 train, 1 val, 2 cal, 3 test) each row went to; -1 if none.
std::vector<int> split_of(const Splits& s, std::size_t n) {
  std::vector<int> out(n, -1);
  const std::vector<std::size_t>* lists[] = {&s.train, &s.val, &s.cal, &s.test};
  for (int k = 0; k < 4; ++k)
    for (std::size_t r : *lists[k]) out[r] = k;
  return out;
}

// Per class, how many rows went to each split.
std::map<LabelId, std::vector<std::size_t>> counts_by_class(const std::vector<LabelId>& strata,
                                                            const Splits& s) {
  std::map<LabelId, std::vector<std::size_t>> counts;
  std::vector<int> where = split_of(s, strata.size());
  for (std::size_t i = 0; i < strata.size(); ++i) {
    auto& c = counts[strata[i]];
    c.resize(4, 0);
    ++c[static_cast<std::size_t>(where[i])];
  }
  return counts;
}

TEST(Splits, SameSeedSameSplitOtherSeedOtherSplit) {
  const std::vector<LabelId> strata = make_strata({300, 200, 57, 9, 3});
  const Splits a = stratified_split(strata, {}, 7);
  const Splits b = stratified_split(strata, {}, 7);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.val, b.val);
  EXPECT_EQ(a.cal, b.cal);
  EXPECT_EQ(a.test, b.test);
  const Splits c = stratified_split(strata, {}, 8);
  EXPECT_NE(a.train, c.train);
  EXPECT_NE(a.test, c.test);
}

// Pins the exact output for one seed: the shuffle and the bounded draw are ours, so this must hold
// on every platform and standard library. A change here changes every published split. (Checked
// against an independent Python implementation of mt19937_64, mix_seed, Lemire's bounded draw and
// Fisher–Yates.)
TEST(Splits, PinnedOutputForOneSeed) {
  const std::vector<LabelId> strata(20, 0);
  const Splits s = stratified_split(strata, {0.5, 0.2, 0.1, 0.2}, 42);
  EXPECT_EQ(s.train, (std::vector<std::size_t>{0, 3, 7, 8, 10, 12, 13, 14, 16, 19}));
  EXPECT_EQ(s.val, (std::vector<std::size_t>{1, 5, 6, 15}));
  EXPECT_EQ(s.cal, (std::vector<std::size_t>{9, 11}));
  EXPECT_EQ(s.test, (std::vector<std::size_t>{2, 4, 17, 18}));
}

TEST(Splits, DisjointSortedAndCoveringEveryRow) {
  const std::vector<LabelId> strata = make_strata({1, 2, 3, 4, 5, 17, 250, 1000});
  const Splits s = stratified_split(strata, {}, 3);
  for (const auto* list : {&s.train, &s.val, &s.cal, &s.test})
    EXPECT_TRUE(std::is_sorted(list->begin(), list->end()));
  std::vector<std::size_t> all;
  for (const auto* list : {&s.train, &s.val, &s.cal, &s.test})
    all.insert(all.end(), list->begin(), list->end());
  std::sort(all.begin(), all.end());
  std::vector<std::size_t> expected(strata.size());
  std::iota(expected.begin(), expected.end(), std::size_t{0});
  EXPECT_EQ(all, expected);  // every row exactly once
}

TEST(Splits, LargeClassesWithinOneRowOfTheFractions) {
  const SplitFractions f{0.55, 0.15, 0.15, 0.15};
  const double frac[] = {f.train, f.val, f.cal, f.test};
  const std::vector<std::size_t> sizes = {1000, 537, 101, 64, 40};
  const std::vector<LabelId> strata = make_strata(sizes);
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    auto counts = counts_by_class(strata, stratified_split(strata, f, seed));
    for (std::size_t c = 0; c < sizes.size(); ++c) {
      for (std::size_t k = 0; k < 4; ++k) {
        const double quota = static_cast<double>(sizes[c]) * frac[k];
        EXPECT_LT(std::fabs(static_cast<double>(counts[static_cast<LabelId>(c)][k]) - quota), 1.0)
            << "class " << c << " split " << k;
      }
    }
  }
}

TEST(Splits, LargestRemainderTiesGoToTheEarlierSplit) {
  // 10 rows at 0.25 each: quotas 2.5 each, floors 2 + 2 + 2 + 2 = 8, two rows left, all remainders
  // 0.5: train and val (the first two in split order) get them → 3, 3, 2, 2.
  const std::vector<LabelId> strata(10, 0);
  const Splits s = stratified_split(strata, {0.25, 0.25, 0.25, 0.25}, 5);
  EXPECT_EQ(s.train.size(), 3u);
  EXPECT_EQ(s.val.size(), 3u);
  EXPECT_EQ(s.cal.size(), 2u);
  EXPECT_EQ(s.test.size(), 2u);
}

TEST(Splits, SmallClassRule) {
  // Classes 0, 1, 2 have 1, 2 and 3 rows.
  const std::vector<LabelId> strata = make_strata({1, 2, 3});
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    auto counts = counts_by_class(strata, stratified_split(strata, {}, seed));
    EXPECT_EQ(counts[0], (std::vector<std::size_t>{1, 0, 0, 0}));
    EXPECT_EQ(counts[1], (std::vector<std::size_t>{1, 0, 0, 1}));
    EXPECT_EQ(counts[2], (std::vector<std::size_t>{1, 0, 1, 1}));
  }
  // Without a cal split, the third row goes to val; without val either, to train.
  auto no_cal = counts_by_class(strata, stratified_split(strata, {0.6, 0.2, 0.0, 0.2}, 1));
  EXPECT_EQ(no_cal[2], (std::vector<std::size_t>{1, 1, 0, 1}));
  auto train_test = counts_by_class(strata, stratified_split(strata, {0.7, 0.0, 0.0, 0.3}, 1));
  EXPECT_EQ(train_test[2], (std::vector<std::size_t>{2, 0, 0, 1}));
}

TEST(Splits, SmallClassRowsAreShuffledNotFixed) {
  // A 2-row class: which row lands in train must vary with the seed.
  const std::vector<LabelId> strata = {0, 0};
  std::size_t row0_in_train = 0;
  for (std::uint64_t seed = 0; seed < 200; ++seed)
    row0_in_train += stratified_split(strata, {}, seed).train.front() == 0 ? 1u : 0u;
  EXPECT_GT(row0_in_train, 60u);
  EXPECT_LT(row0_in_train, 140u);
}

TEST(Splits, ClassesOfFourOrMoreRowsReachEveryPositiveSplit) {
  const std::vector<LabelId> strata = make_strata({4, 5, 6, 7, 8, 9, 10, 11, 12});
  for (std::uint64_t seed = 0; seed < 10; ++seed) {
    auto counts = counts_by_class(strata, stratified_split(strata, {0.7, 0.1, 0.1, 0.1}, seed));
    for (const auto& [c, n] : counts)
      for (std::size_t k = 0; k < 4; ++k) EXPECT_GE(n[k], 1u) << "class " << c << " split " << k;
    // 4 rows at (0.7, 0.1, 0.1, 0.1): quotas 2.8, 0.4, 0.4, 0.4 → floors 2, 0, 0, 0; two rows by
    // largest remainder: train (0.8), then val (0.4, first of the tie) → 3, 1, 0, 0; cal and test
    // each take a row from the largest split (train) → 1, 1, 1, 1.
    EXPECT_EQ(counts[0], (std::vector<std::size_t>{1, 1, 1, 1}));
  }
  // A split with fraction 0 gets nothing, even from a class that could spare a row.
  auto no_val = counts_by_class(strata, stratified_split(strata, {0.7, 0.0, 0.1, 0.2}, 1));
  for (const auto& [c, n] : no_val) {
    EXPECT_EQ(n[1], 0u) << "class " << c;
    EXPECT_GE(n[2], 1u) << "class " << c;
  }
}

TEST(Splits, ShuffleIsUniformAcrossSeeds) {
  // 4 rows at 0.25 each: one row per split. Over 4000 seeds row 0 should land in each split
  // ~1000 times; binomial σ = √(4000 · 0.25 · 0.75) ≈ 27.4, band 4σ ≈ 110.
  const std::vector<LabelId> strata(4, 0);
  std::vector<int> hits(4, 0);
  for (std::uint64_t seed = 0; seed < 4000; ++seed)
    ++hits[static_cast<std::size_t>(
        split_of(stratified_split(strata, {0.25, 0.25, 0.25, 0.25}, seed), 4)[0])];
  for (int k = 0; k < 4; ++k) EXPECT_NEAR(hits[static_cast<std::size_t>(k)], 1000, 110) << k;
}

TEST(Splits, ClassSplitDoesNotDependOnOtherClasses) {
  // Class 5 has 40 rows in both layouts; the other classes, their ids, sizes and positions differ.
  // The k-th row of class 5 (in row order) must land in the same split in both.
  std::vector<LabelId> a, b;
  for (int i = 0; i < 40; ++i) {
    a.push_back(5);
    a.push_back(static_cast<LabelId>(i % 3));
    b.push_back(static_cast<LabelId>(7 + i % 2));
    b.push_back(static_cast<LabelId>(1));
    b.push_back(5);
  }
  auto class_rows_splits = [](const std::vector<LabelId>& strata) {
    std::vector<int> where = split_of(stratified_split(strata, {}, 11), strata.size());
    std::vector<int> out;
    for (std::size_t i = 0; i < strata.size(); ++i)
      if (strata[i] == 5) out.push_back(where[i]);
    return out;
  };
  EXPECT_EQ(class_rows_splits(a), class_rows_splits(b));
}

TEST(Splits, EmptyInputGivesEmptySplits) {
  const Splits s = stratified_split({}, {}, 1);
  EXPECT_TRUE(s.train.empty() && s.val.empty() && s.cal.empty() && s.test.empty());
}

TEST(Splits, ManyRowsStayExact) {
  // 2·10^6 rows over 1000 classes: every row placed once and the totals add up.
  const std::size_t n = 2'000'000;
  std::vector<LabelId> strata(n);
  for (std::size_t i = 0; i < n; ++i) strata[i] = static_cast<LabelId>((i * 7919) % 1000);
  const Splits s = stratified_split(strata, {}, 9);
  EXPECT_EQ(s.train.size() + s.val.size() + s.cal.size() + s.test.size(), n);
  // Every class has 2000 rows: 1100 / 300 / 300 / 300 exactly.
  EXPECT_EQ(s.train.size(), 1000u * 1100u);
  EXPECT_EQ(s.test.size(), 1000u * 300u);
}

TEST(Splits, InvalidFractionsAreRejectedWithFieldAndValue) {
  EXPECT_EQ(error_of([] {
              validate({0.55, -0.1, 0.4, 0.15});
            }),
            "split.val: -0.1 is out of range; expected a fraction in [0, 1]");
  EXPECT_EQ(error_of([] {
              validate({1.5, 0.0, 0.0, 0.15});
            }),
            "split.train: 1.5 is out of range; expected a fraction in [0, 1]");
  EXPECT_EQ(error_of([] {
              validate({0.55, 0.15, 0.15, 0.2});
            }),
            "split fractions sum to 1.05; expected 1");
  EXPECT_NE(error_of([] {
              validate({0.0, 0.5, 0.25, 0.25});
            }).find("split.train"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              validate({0.5, 0.25, 0.25, 0.0});
            }).find("split.test"),
            std::string::npos);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_NE(error_of([nan] {
              validate({0.55, 0.15, nan, 0.15});
            }).find("split.cal: nan"),
            std::string::npos);
  EXPECT_EQ(error_of([] { validate({0.55, 0.15, 0.15, 0.15}); }), "");
  EXPECT_EQ(error_of([] { validate({1.0, 0.0, 0.0, 1e-10}); }), "");  // within 1e-9 of 1
  // stratified_split validates too.
  EXPECT_THROW(stratified_split({0, 1}, {0.5, 0.5, 0.5, 0.5}, 1), Error);
}

TEST(Splits, NegativeClassIdIsRejected) {
  EXPECT_NE(error_of([] {
              stratified_split({0, 1, kNoLabel}, {}, 1);
            }).find("row 2"),
            std::string::npos);
}

// Quotas by largest remainder over all classes, worked by hand: 20 of 100 rows from classes of
// 50, 30, 13, 7 → shares 10, 6, 2.6, 1.4 → floors 10, 6, 2, 1 (19) and the leftover row to the
// largest remainder (class 2: .6 > .4) → 10, 6, 3, 1.
TEST(Subsample, ExactCountStratifiedByLargestRemainderSortedAndSeeded) {
  const std::vector<LabelId> strata = make_strata({50, 30, 13, 7});
  const std::vector<std::size_t> rows = stratified_subsample(strata, 20, 5);
  ASSERT_EQ(rows.size(), 20u);
  EXPECT_TRUE(std::is_sorted(rows.begin(), rows.end()));
  EXPECT_EQ(std::adjacent_find(rows.begin(), rows.end()), rows.end());  // no row twice
  std::map<LabelId, std::size_t> per_class;
  for (std::size_t r : rows) ++per_class[strata.at(r)];
  EXPECT_EQ(per_class[0], 10u);
  EXPECT_EQ(per_class[1], 6u);
  EXPECT_EQ(per_class[2], 3u);
  EXPECT_EQ(per_class[3], 1u);
  EXPECT_EQ(stratified_subsample(strata, 20, 5), rows);
  EXPECT_NE(stratified_subsample(strata, 20, 6), rows);
  // Every row, in order, when as many or more are asked for.
  std::vector<std::size_t> all(strata.size());
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(stratified_subsample(strata, 100, 5), all);
  EXPECT_EQ(stratified_subsample(strata, 1000, 5), all);
  EXPECT_TRUE(stratified_subsample(strata, 0, 5).empty());
}

// Each class's rows are drawn uniformly: over many seeds every row of a class is kept about
// equally often (quota / size of the time).
TEST(Subsample, EveryRowOfAClassIsEquallyLikely) {
  const std::vector<LabelId> strata = make_strata({40, 10});
  std::vector<int> kept(strata.size(), 0);
  const int seeds = 4000;
  for (int seed = 0; seed < seeds; ++seed)
    for (std::size_t r : stratified_subsample(strata, 10, static_cast<std::uint64_t>(seed)))
      ++kept[r];
  for (std::size_t r = 0; r < strata.size(); ++r) {
    // Quotas: 8 of 40 (p = 0.2) and 2 of 10 (p = 0.2); binomial sd sqrt(4000·0.2·0.8) ≈ 25.
    EXPECT_NEAR(kept[r], 800, 6 * 25.3) << "row " << r;
  }
}

}  // namespace
}  // namespace deferbench
