#include "core/features/hashed_ngrams.h"

#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <xxhash.h>

namespace deferbench {
namespace {

using Counts = std::map<std::uint32_t, float>;

std::uint32_t bucket(const std::string& gram, std::uint64_t seed, std::uint32_t buckets) {
  return static_cast<std::uint32_t>(XXH3_64bits_withSeed(gram.data(), gram.size(), seed) % buckets);
}

Counts row_counts(const SparseRows& x, std::size_t i) {
  Counts out;
  for (std::size_t p = x.indptr[i]; p < x.indptr[i + 1]; ++p) out[x.indices[p]] += x.values[p];
  return out;
}

Counts expected(const std::vector<std::string>& words, const std::vector<std::string>& chars,
                std::uint32_t buckets) {
  Counts out;
  for (const auto& w : words) out[bucket(w, kWordNgramSeed, buckets)] += 1.0f;
  for (const auto& c : chars) out[bucket(c, kCharNgramSeed, buckets)] += 1.0f;
  return out;
}

TEST(HashedNgrams, HandCheckedBucketsWordAndCharWb) {
  HashingOptions o;
  o.buckets = 1u << 20;
  o.word_min = 1;
  o.word_max = 2;
  o.char_min = 3;
  o.char_max = 5;
  SparseRows x = hash_ngrams({"Hi, BOB!"}, o, 1);
  ASSERT_EQ(x.rows(), 1u);
  EXPECT_EQ(x.cols, o.buckets);
  // Words "hi", "bob". Padded " hi " has 4 code points: 3-grams, then the whole word once (n=4)
  // and nothing for n=5. " bob " (5): 3-grams, 4-grams, then the whole word at n=5.
  Counts want =
      expected({"hi", "bob", "hi bob"},
               {" hi", "hi ", " hi ", " bo", "bob", "ob ", " bob", "bob ", " bob "}, o.buckets);
  EXPECT_EQ(row_counts(x, 0), want);
  for (std::size_t p = 1; p < x.nnz(); ++p) EXPECT_LT(x.indices[p - 1], x.indices[p]);
}

TEST(HashedNgrams, RepeatsAreCounted) {
  HashingOptions o;
  o.buckets = 1u << 20;
  o.char_min = o.char_max = 0;
  SparseRows x = hash_ngrams({"the cat the cat"}, o, 1);
  Counts want =
      expected({"the", "cat", "the", "cat", "the cat", "cat the", "the cat"}, {}, o.buckets);
  EXPECT_EQ(row_counts(x, 0), want);
  EXPECT_EQ(want[bucket("the cat", kWordNgramSeed, o.buckets)], 2.0f);
}

TEST(HashedNgrams, CharOnlyAndNonAsciiWords) {
  HashingOptions o;
  o.buckets = 1u << 20;
  o.word_min = o.word_max = 0;
  o.char_min = o.char_max = 3;
  // "Café-crème" → words "café" and "crème" (the hyphen separates); grams are code points.
  SparseRows x = hash_ngrams({"Caf\xC3\xA9-cr\xC3\xA8me"}, o, 1);
  Counts want = expected({},
                         {" ca", "caf", "af\xC3\xA9", "f\xC3\xA9 ", " cr", "cr\xC3\xA8",
                          "r\xC3\xA8m", "\xC3\xA8me", "me "},
                         o.buckets);
  EXPECT_EQ(row_counts(x, 0), want);
}

TEST(HashedNgrams, WordsAreLetterAndDigitRuns) {
  HashingOptions o;
  o.buckets = 1u << 20;
  o.word_max = 1;
  o.char_min = o.char_max = 0;
  // Punctuation and spaces separate; digits and non-Latin letters form words; NFKC folds "Ｐｉｎ".
  SparseRows x =
      hash_ngrams({"\xEF\xBC\xB0\xEF\xBD\x89\xEF\xBD\x8E: 1234...\xD0\x9F\xD0\x98\xD0\x9D"}, o, 1);
  Counts want = expected({"pin", "1234", "\xD0\xBF\xD0\xB8\xD0\xBD"}, {}, o.buckets);
  EXPECT_EQ(row_counts(x, 0), want);
}

TEST(HashedNgrams, EmptyTextsGiveEmptyRows) {
  SparseRows x = hash_ngrams({"", "?!", "ok"}, HashingOptions{}, 2);
  ASSERT_EQ(x.rows(), 3u);
  EXPECT_EQ(x.indptr[1], 0u);
  EXPECT_EQ(x.indptr[2], 0u);
  EXPECT_GT(x.indptr[3], 0u);
}

TEST(HashedNgrams, SameOutputForAnyThreadCount) {
  std::mt19937_64 gen(7);
  const std::vector<std::string> vocab = {"card",
                                          "pin",
                                          "reset",
                                          "euro",
                                          "transfer",
                                          "Stra\xC3\x9F"
                                          "e",
                                          "top-up",
                                          "why",
                                          "is",
                                          "my",
                                          "the",
                                          "a",
                                          "\xC3\xA9t\xC3\xA9"};
  std::vector<std::string> texts(777);
  for (auto& t : texts) {
    const std::size_t words = gen() % 20;
    for (std::size_t w = 0; w < words; ++w) t += vocab[gen() % vocab.size()] + " ";
  }
  HashingOptions o;
  o.buckets = 1u << 12;  // small, so that collisions add up counts
  SparseRows a = hash_ngrams(texts, o, 1);
  SparseRows b = hash_ngrams(texts, o, 2);
  SparseRows c = hash_ngrams(texts, o, 5);
  EXPECT_EQ(a.indptr, b.indptr);
  EXPECT_EQ(a.indices, b.indices);
  EXPECT_EQ(a.values, b.values);
  EXPECT_EQ(a.indices, c.indices);
  EXPECT_EQ(a.values, c.values);
  for (std::size_t i = 0; i < a.rows(); ++i)
    for (std::size_t p = a.indptr[i] + 1; p < a.indptr[i + 1]; ++p)
      ASSERT_LT(a.indices[p - 1], a.indices[p]);
}

}  // namespace
}  // namespace deferbench
