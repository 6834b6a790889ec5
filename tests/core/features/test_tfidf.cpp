#include "core/features/tfidf.h"

#include <cmath>
#include <sstream>

#include <gtest/gtest.h>

namespace deferbench {
namespace {

SparseRows make_rows(std::size_t cols,
                     const std::vector<std::vector<std::pair<std::uint32_t, float>>>& rows) {
  SparseRows x;
  x.cols = cols;
  for (const auto& r : rows) {
    for (const auto& [j, v] : r) {
      x.indices.push_back(j);
      x.values.push_back(v);
    }
    x.indptr.push_back(x.values.size());
  }
  return x;
}

// Three documents over 5 columns; column 4 never occurs.
SparseRows three_docs() {
  return make_rows(5, {{{0, 1}, {1, 2}}, {{1, 1}, {2, 3}}, {{0, 1}, {2, 1}, {3, 4}}});
}

TEST(Tfidf, SmoothIdfByHand) {
  Tfidf t;
  t.fit(three_docs());
  ASSERT_EQ(t.idf().size(), 5u);
  const double df2 = std::log(4.0 / 3.0) + 1.0;  // 1.28768…
  const double df1 = std::log(4.0 / 2.0) + 1.0;  // 1.69315…
  EXPECT_NEAR(t.idf()[0], df2, 1e-6);
  EXPECT_NEAR(t.idf()[1], df2, 1e-6);
  EXPECT_NEAR(t.idf()[2], df2, 1e-6);
  EXPECT_NEAR(t.idf()[3], df1, 1e-6);
  EXPECT_EQ(t.idf()[4], 0.0f);
}

TEST(Tfidf, SublinearRowValuesByHand) {
  Tfidf t;
  t.fit(three_docs());
  SparseRows x = t.transform(three_docs(), true);
  ASSERT_EQ(x.indptr, (std::vector<std::size_t>{0, 2, 4, 7}));
  // Row 1: tf = (1, 1 + ln 3), both idf ln(4/3) + 1, then L2.
  EXPECT_NEAR(x.values[2], 0.430165282498796, 1e-6);
  EXPECT_NEAR(x.values[3], 0.9027501480103624, 1e-6);
  // Row 2: tf = (1, 1, 1 + ln 4), idf (df 2, df 2, df 1).
  EXPECT_NEAR(x.values[4], 0.2905565195580348, 1e-6);
  EXPECT_NEAR(x.values[5], 0.2905565195580348, 1e-6);
  EXPECT_NEAR(x.values[6], 0.9116763778252911, 1e-6);
  for (std::size_t i = 0; i < x.rows(); ++i) {
    double sq = 0;
    for (std::size_t p = x.indptr[i]; p < x.indptr[i + 1]; ++p) sq += x.values[p] * x.values[p];
    EXPECT_NEAR(sq, 1.0, 1e-6) << "row " << i;
  }
}

TEST(Tfidf, RawTermFrequency) {
  Tfidf t;
  t.fit(three_docs());
  SparseRows x = t.transform(three_docs(), false);
  // Row 0: tf = (1, 2), same idf → (1, 2)/√5.
  EXPECT_NEAR(x.values[0], 0.4472135954999579, 1e-6);
  EXPECT_NEAR(x.values[1], 0.8944271909999159, 1e-6);
}

TEST(Tfidf, UnseenColumnsAreDropped) {
  Tfidf t;
  t.fit(three_docs());
  SparseRows x = t.transform(make_rows(5, {{{3, 1}, {4, 7}}, {{4, 2}}}), true);
  ASSERT_EQ(x.rows(), 2u);
  ASSERT_EQ(x.nnz(), 1u);  // only column 3 of row 0 survives; row 1 is empty
  EXPECT_EQ(x.indices[0], 3u);
  EXPECT_NEAR(x.values[0], 1.0, 1e-6);
  EXPECT_EQ(x.indptr[2] - x.indptr[1], 0u);
}

TEST(Tfidf, SaveLoadRoundTrip) {
  Tfidf t;
  t.fit(three_docs());
  std::stringstream buf;
  BinaryWriter w(buf);
  t.save(w);
  Tfidf u;
  BinaryReader r(buf, "memory");
  u.load(r);
  EXPECT_EQ(t.idf(), u.idf());
}

}  // namespace
}  // namespace deferbench
