#include "core/features/text_featurizer.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>

#include <gtest/gtest.h>

#include "core/data/csv_reader.h"
#include "core/util/error.h"
#include "models/torch/linalg.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

Context cpu(std::uint64_t seed = 0, int threads = 2) {
  return Context{Device::kCpu, seed, threads};
}

const std::vector<std::string>& corpus() {
  static const std::vector<std::string> texts = {
      "How do I reset the PIN on my card?",
      "I forgot my card PIN, how can I change it?",
      "Can I change my PIN at an ATM?",
      "My PIN is blocked after three wrong attempts",
      "Where can I unblock my PIN?",
      "I want to set a new PIN for my debit card",
      "What is the exchange rate for dollars?",
      "Which exchange rate do you use for euros?",
      "Why was I charged a bad exchange rate?",
      "How are currency exchange rates calculated?",
      "Can I exchange pounds to euros in the app?",
      "The exchange rate on my transfer looks wrong",
      "My card has not arrived yet",
      "When will my new card arrive?",
      "I ordered a card two weeks ago and it still has not come",
      "How long does card delivery take?",
      "Can I track the delivery of my card?",
      "My card was lost in the post",
      "How do I top up my account?",
      "My top-up failed, why?",
      "Can I top up with a bank transfer?",
      "The top up is still pending",
      "Is there a fee for topping up by card?",
      "What is the maximum top-up amount?",
      "I sent a transfer but it has not arrived",
      "How long does a bank transfer take?",
      "My transfer was declined",
      "Can I cancel a transfer I just made?",
      "Why is my transfer still pending?",
      "I transferred money to the wrong account",
      "My card payment was declined at the shop",
      "Why was my contactless payment refused?",
      "The card payment shows twice in my statement",
      "I see a payment I did not make",
      "Someone used my card without permission",
      "How do I freeze my card?",
      "How can I close my account?",
      "I want to delete my account and my data",
      "Can I open a second account?",
      "How do I verify my identity?",
      "Why do you need a photo of my ID?",
      "My identity verification failed",
      "Which countries do you support?",
      "Can I use the app abroad?",
      "Do you have a physical branch?",
      "How do I get a refund for an item I bought?",
      "The refund is not showing in my account",
      "How can I withdraw cash from an ATM?",
      "The ATM did not give me my cash",
      "Is there a limit on cash withdrawals?"};
  return texts;
}

double cosine(const float* a, const float* b, std::size_t k) {
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < k; ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb + 1e-30);
}

bool bitwise_equal(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

const std::vector<std::string> kProbes = {"how do I reset my card pin",
                                          "how can I reset my card PIN?",
                                          "what is the exchange rate for euros"};

void expect_near_duplicates_closer(const TextFeaturizer& f) {
  Matrix z = f.transform(kProbes, cpu());
  const double dup = cosine(z.row(0), z.row(1), z.cols());
  const double other0 = cosine(z.row(0), z.row(2), z.cols());
  const double other1 = cosine(z.row(1), z.row(2), z.cols());
  EXPECT_GT(dup, other0 + 0.2);
  EXPECT_GT(dup, other1 + 0.2);
  EXPECT_GT(dup, 0.6);
}

TextFeaturizerOptions small_options() {
  TextFeaturizerOptions o;
  o.lsa.dim = 20;
  return o;
}

TEST(TextFeaturizer, NearDuplicatesAreCloserThanUnrelatedTexts) {
  auto solver = make_torch_dense_solver(cpu());
  TextFeaturizer f(small_options());
  f.fit(corpus(), *solver, cpu(7));
  ASSERT_TRUE(f.fitted());
  EXPECT_EQ(f.dim(), 20);
  expect_near_duplicates_closer(f);
  Matrix z = f.transform(corpus(), cpu());
  ASSERT_EQ(z.rows(), corpus().size());
  for (std::size_t i = 0; i < z.rows(); ++i) {
    double sq = 0;
    for (std::size_t k = 0; k < z.cols(); ++k) sq += double(z(i, k)) * z(i, k);
    EXPECT_NEAR(sq, 1.0, 1e-4) << "row " << i;  // normalize_output
  }
}

TEST(TextFeaturizer, SameSeedGivesBitwiseIdenticalOutput) {
  auto solver = make_torch_dense_solver(cpu());
  TextFeaturizer a(small_options()), b(small_options()), c(small_options());
  a.fit(corpus(), *solver, cpu(7));
  b.fit(corpus(), *solver, cpu(7));
  c.fit(corpus(), *solver, cpu(8));
  Matrix za = a.transform(corpus(), cpu()), zb = b.transform(corpus(), cpu());
  EXPECT_TRUE(bitwise_equal(za, zb));
  EXPECT_TRUE(bitwise_equal(za, a.transform(corpus(), cpu(0, 1))));  // transform: any threads
  EXPECT_FALSE(bitwise_equal(za, c.transform(corpus(), cpu())));     // the seed matters
}

TEST(TextFeaturizer, SaveLoadRoundTrip) {
  testing::TempDir dir;
  auto solver = make_torch_dense_solver(cpu());
  TextFeaturizerOptions o = small_options();
  o.hashing.buckets = 1u << 14;
  o.hashing.char_min = 2;
  o.sublinear_tf = false;
  o.normalize_output = false;
  TextFeaturizer f(o);
  f.fit(corpus(), *solver, cpu(3));
  const auto path = dir / "sub" / "featurizer.bin";
  f.save(path);
  EXPECT_EQ(testing::count_files(dir.path()), 1u);  // no temporary left behind
  TextFeaturizer g = TextFeaturizer::load(path);
  EXPECT_EQ(g.options().hashing.buckets, 1u << 14);
  EXPECT_EQ(g.options().hashing.char_min, 2);
  EXPECT_FALSE(g.options().sublinear_tf);
  EXPECT_FALSE(g.options().normalize_output);
  EXPECT_EQ(g.dim(), f.dim());
  EXPECT_TRUE(bitwise_equal(f.transform(kProbes, cpu()), g.transform(kProbes, cpu())));
}

void expect_load_error_naming(const std::filesystem::path& path) {
  try {
    TextFeaturizer::load(path);
    ADD_FAILURE() << "loading " << path << " did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
}

TEST(TextFeaturizer, ForeignOrTruncatedFileIsAnErrorNamingIt) {
  testing::TempDir dir;
  auto solver = make_torch_dense_solver(cpu());
  TextFeaturizer f(small_options());
  f.fit(corpus(), *solver, cpu());
  const auto good = dir / "f.bin";
  f.save(good);
  std::string bytes;
  {
    std::ifstream in(good, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  expect_load_error_naming(dir.write("foreign.bin", "just some text, not a featurizer"));
  expect_load_error_naming(dir.write("truncated.bin", bytes.substr(0, bytes.size() / 2)));
  expect_load_error_naming(dir.write("short.bin", bytes.substr(0, 40)));
  expect_load_error_naming(dir.write("trailing.bin", bytes + "x"));
  expect_load_error_naming(dir / "missing.bin");
}

TEST(TextFeaturizer, FromYaml) {
  TextFeaturizerOptions o = TextFeaturizerOptions::from_yaml(
      YAML::Load("{buckets: 4096, word_ngrams: [1, 3], char_ngrams: [0, 0], sublinear_tf: false,"
                 " dim: 64, oversampling: 5, power_iterations: 2, normalize_output: false}"),
      "features.text");
  EXPECT_EQ(o.hashing.buckets, 4096u);
  EXPECT_EQ(o.hashing.word_max, 3);
  EXPECT_EQ(o.hashing.char_max, 0);
  EXPECT_FALSE(o.sublinear_tf);
  EXPECT_EQ(o.lsa.dim, 64);
  EXPECT_EQ(o.lsa.oversampling, 5);
  EXPECT_EQ(o.lsa.power_iterations, 2);
  EXPECT_FALSE(o.normalize_output);
  TextFeaturizerOptions d = TextFeaturizerOptions::from_yaml(YAML::Node(), "features.text");
  EXPECT_EQ(d.hashing.buckets, 1u << 18);
  EXPECT_EQ(d.lsa.dim, 256);
  EXPECT_EQ(d.hashing.char_min, 3);
  EXPECT_EQ(d.hashing.char_max, 5);
}

TEST(TextFeaturizer, FromYamlRejectsUnknownKeysAndBadValues) {
  try {
    TextFeaturizerOptions::from_yaml(YAML::Load("{dim: 32, dimension: 64}"), "features.text");
    ADD_FAILURE() << "unknown key accepted";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("features.text.dimension"), std::string::npos) << m;
    for (const char* key : {"buckets", "word_ngrams", "char_ngrams", "sublinear_tf", "dim",
                            "oversampling", "power_iterations", "normalize_output"})
      EXPECT_NE(m.find(key), std::string::npos) << key << " not listed in: " << m;
  }
  for (const char* bad : {"{dim: 0}", "{dim: 5000}", "{buckets: 100}", "{word_ngrams: [2, 1]}",
                          "{word_ngrams: [1, 6]}", "{char_ngrams: [3]}", "{char_ngrams: [a, 5]}",
                          "{word_ngrams: [0, 2]}", "{word_ngrams: [0, 0], char_ngrams: [0, 0]}",
                          "{power_iterations: -1}", "{sublinear_tf: maybe}"}) {
    EXPECT_THROW(TextFeaturizerOptions::from_yaml(YAML::Load(bad), "features.text"), Error) << bad;
  }
}

TEST(TextFeaturizer, TransformBeforeFitIsAnError) {
  TextFeaturizer f;
  EXPECT_THROW(f.transform(kProbes, cpu()), Error);
  auto solver = make_torch_dense_solver(cpu());
  EXPECT_THROW(f.fit({"?!", "...", ""}, *solver, cpu()), Error);  // no words at all
}

TEST(TextFeaturizer, Banking77) {
  REQUIRE_SHARED_FILE("banking77/train.csv");
  REQUIRE_SHARED_FILE("banking77/test.csv");
  CsvColumns columns;
  columns.text = "text";
  columns.teacher = "category";
  Traces train = read_csv_traces(testing::shared_data() / "banking77/train.csv", columns);
  Traces test = read_csv_traces(testing::shared_data() / "banking77/test.csv", columns);
  ASSERT_GT(train.texts.size(), 9000u);
  auto solver = make_torch_dense_solver(cpu());
  TextFeaturizer f;  // the defaults: 2^18 buckets, dim 256
  auto t0 = std::chrono::steady_clock::now();
  f.fit(train.texts, *solver, cpu(1));
  auto t1 = std::chrono::steady_clock::now();
  Matrix z = f.transform(test.texts, cpu());
  auto t2 = std::chrono::steady_clock::now();
  EXPECT_EQ(f.dim(), 256);
  EXPECT_EQ(z.rows(), test.texts.size());
  const double fit_s = std::chrono::duration<double>(t1 - t0).count();
  const double transform_s = std::chrono::duration<double>(t2 - t1).count();
  std::cout << "banking77: fit on " << train.texts.size() << " texts " << fit_s
            << " s, transform of " << test.texts.size() << " texts " << transform_s << " s\n";
  RecordProperty("fit_seconds", std::to_string(fit_s));
  RecordProperty("transform_seconds", std::to_string(transform_s));
  expect_near_duplicates_closer(f);

  // Same-class test texts are closer, on average, than texts of different classes.
  double same = 0, diff = 0;
  std::size_t n_same = 0, n_diff = 0;
  for (std::size_t i = 0; i + 1 < z.rows() && i < 2000; i += 2) {
    for (std::size_t j = i + 1; j < std::min<std::size_t>(z.rows(), i + 60); ++j) {
      const double c = cosine(z.row(i), z.row(j), z.cols());
      if (test.teacher[i] == test.teacher[j]) {
        same += c;
        ++n_same;
      } else {
        diff += c;
        ++n_diff;
      }
    }
  }
  ASSERT_GT(n_same, 0u);
  EXPECT_GT(same / n_same, diff / n_diff + 0.2);
}

}  // namespace
}  // namespace deferbench
