#include "core/data/synthetic.h"

#include <cmath>
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

// Per-class means of the features, by gold class.
std::vector<std::vector<double>> class_means(const Traces& t, std::size_t classes) {
  const std::size_t dim = t.embeddings.cols();
  std::vector<std::vector<double>> mean(classes, std::vector<double>(dim, 0.0));
  std::vector<std::size_t> count(classes, 0);
  const std::vector<int> gold = as_ints(t.gold);
  for (std::size_t i = 0; i < t.size(); ++i) {
    const auto c = static_cast<std::size_t>(gold[i]);
    ++count[c];
    for (std::size_t j = 0; j < dim; ++j) mean[c][j] += t.embeddings(i, j);
  }
  for (std::size_t c = 0; c < classes; ++c)
    for (double& m : mean[c]) m /= static_cast<double>(count[c]);
  return mean;
}

double distance(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t j = 0; j < a.size(); ++j) s += (a[j] - b[j]) * (a[j] - b[j]);
  return std::sqrt(s);
}

TEST(Synthetic, ShapeLabelsAndIds) {
  SyntheticOptions o;
  o.rows = 500;
  o.classes = 7;
  o.dim = 5;
  o.confusable_pairs = 2;
  const Traces t = generate_synthetic(o, 1);
  ASSERT_EQ(t.size(), 500u);
  EXPECT_EQ(t.gold.size(), 500u);
  EXPECT_EQ(t.ids.size(), 500u);
  EXPECT_EQ(t.texts.size(), 500u);
  EXPECT_EQ(t.embeddings.rows(), 500u);
  EXPECT_EQ(t.embeddings.cols(), 5u);
  EXPECT_EQ(t.ids.front(), "syn-0");
  EXPECT_EQ(t.ids.back(), "syn-499");
  std::vector<int> seen(7, 0);
  for (int g : as_ints(t.gold)) {
    ASSERT_GE(g, 0);
    ASSERT_LT(g, 7);
    ++seen[static_cast<std::size_t>(g)];
  }
  for (int c = 0; c < 7; ++c) EXPECT_GT(seen[static_cast<std::size_t>(c)], 30) << c;  // ~71 each
  for (int a : as_ints(t.teacher)) {
    EXPECT_GE(a, 0);
    EXPECT_LT(a, 7);
  }
  for (float v : t.embeddings.values()) EXPECT_TRUE(std::isfinite(v));
}

TEST(Synthetic, DeterministicForASeed) {
  SyntheticOptions o;
  o.rows = 800;
  const Traces a = generate_synthetic(o, 5);
  const Traces b = generate_synthetic(o, 5);
  EXPECT_EQ(a.teacher, b.teacher);
  EXPECT_EQ(a.gold, b.gold);
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_EQ(a.embeddings.values(), b.embeddings.values());
  const Traces c = generate_synthetic(o, 6);
  EXPECT_NE(a.gold, c.gold);
  EXPECT_NE(a.embeddings.values(), c.embeddings.values());
}

TEST(Synthetic, FirstRowsDoNotDependOnRowCount) {
  SyntheticOptions o;
  o.rows = 100;
  const Traces small = generate_synthetic(o, 9);
  o.rows = 250;
  const Traces large = generate_synthetic(o, 9);
  EXPECT_EQ(small.gold, std::vector<std::string>(large.gold.begin(), large.gold.begin() + 100));
  EXPECT_EQ(small.teacher,
            std::vector<std::string>(large.teacher.begin(), large.teacher.begin() + 100));
  const std::vector<float>& lv = large.embeddings.values();
  EXPECT_EQ(small.embeddings.values(),
            std::vector<float>(lv.begin(), lv.begin() + 100 * static_cast<long>(o.dim)));
}

TEST(Synthetic, TeacherErrorRateWithinFourSigma) {
  SyntheticOptions o;
  o.rows = 20000;
  for (double rate : {0.1, 0.35}) {
    o.teacher_error_rate = rate;
    const Traces t = generate_synthetic(o, 17);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < t.size(); ++i) wrong += t.teacher[i] != t.gold[i] ? 1u : 0u;
    // Binomial: σ = √(p(1 − p) / n); at p = 0.1, n = 20000: ≈ 0.0021, band 4σ ≈ 0.0085.
    const double sigma = std::sqrt(rate * (1 - rate) / 20000.0);
    EXPECT_NEAR(static_cast<double>(wrong) / 20000.0, rate, 4 * sigma) << rate;
  }
}

TEST(Synthetic, PairedErrorsGoToThePartnerAtTheConfiguredShare) {
  SyntheticOptions o;
  o.rows = 20000;
  o.teacher_error_rate = 0.3;  // more errors, tighter estimate
  o.confusable_error_share = 0.8;
  const Traces t = generate_synthetic(o, 23);
  const std::vector<int> gold = as_ints(t.gold), teacher = as_ints(t.teacher);
  std::size_t paired_errors = 0, to_partner = 0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (gold[i] == teacher[i]) continue;
    if (gold[i] < 6) {  // pairs (0,1), (2,3), (4,5)
      ++paired_errors;
      to_partner += teacher[i] == (gold[i] ^ 1) ? 1u : 0u;
    } else {
      EXPECT_NE(teacher[i], gold[i]);
    }
  }
  // ~20000 · 0.6 · 0.3 = 3600 errors; σ = √(0.8 · 0.2 / 3600) ≈ 0.0067.
  ASSERT_GT(paired_errors, 3000u);
  const double share = static_cast<double>(to_partner) / static_cast<double>(paired_errors);
  const double sigma = std::sqrt(0.8 * 0.2 / static_cast<double>(paired_errors));
  EXPECT_NEAR(share, 0.8, 4 * sigma);
}

TEST(Synthetic, ShareZeroSendsPairedErrorsOutsideThePair) {
  SyntheticOptions o;
  o.rows = 3000;
  o.teacher_error_rate = 1.0;  // the teacher is always wrong
  o.confusable_error_share = 0.0;
  const Traces t = generate_synthetic(o, 4);
  const std::vector<int> gold = as_ints(t.gold), teacher = as_ints(t.teacher);
  for (std::size_t i = 0; i < t.size(); ++i) {
    ASSERT_NE(teacher[i], gold[i]) << i;
    if (gold[i] < 6) {
      ASSERT_NE(teacher[i], gold[i] ^ 1) << i;
    }
  }
}

TEST(Synthetic, ErrorRateZeroMeansAPerfectTeacher) {
  SyntheticOptions o;
  o.rows = 2000;
  o.teacher_error_rate = 0.0;
  const Traces t = generate_synthetic(o, 8);
  EXPECT_EQ(t.teacher, t.gold);
}

TEST(Synthetic, PairCentresAreCloserThanOrdinaryOnes) {
  SyntheticOptions o;  // 10 classes, dim 32, separation 4, pairs (0,1) (2,3) (4,5) at distance 1
  o.rows = 20000;
  const Traces t = generate_synthetic(o, 31);
  const auto mean = class_means(t, o.classes);
  double max_pair = 0, min_other = std::numeric_limits<double>::infinity();
  for (std::size_t a = 0; a < o.classes; ++a) {
    for (std::size_t b = a + 1; b < o.classes; ++b) {
      const double d = distance(mean[a], mean[b]);
      const bool pair = b < 6 && b == (a ^ 1);
      if (pair) {
        max_pair = std::max(max_pair, d);
        // ~2000 rows per class: each mean is off by ~1/√2000 per dimension, which adds
        // ~√(2 · 32 / 2000) ≈ 0.18 in quadrature; 0.2 is a loose band.
        EXPECT_NEAR(d, o.pair_distance, 0.2) << a << "," << b;
      } else {
        min_other = std::min(min_other, d);
      }
      // Two anchors (not the second of a pair) are exactly `separation` apart when dim allows.
      const bool anchors = (a >= 6 || a % 2 == 0) && (b >= 6 || b % 2 == 0);
      if (anchors) {
        EXPECT_NEAR(d, o.separation, 0.2) << a << "," << b;
      }
    }
  }
  EXPECT_LT(max_pair, min_other);
  EXPECT_GT(min_other, 3.5);
}

TEST(Synthetic, ValidationNamesTheField) {
  auto message = [](auto change) {
    SyntheticOptions o;
    change(o);
    return error_of([&] { validate(o); });
  };
  EXPECT_EQ(message([](SyntheticOptions& o) { o.confusable_pairs = 6; }),
            "synthetic.confusable_pairs: 6 pairs need 12 classes, have 10");
  EXPECT_EQ(message([](SyntheticOptions& o) { o.classes = 1; }),
            "synthetic.classes: 1; expected at least 2");
  EXPECT_EQ(message([](SyntheticOptions& o) { o.teacher_error_rate = 1.5; }),
            "synthetic.teacher_error_rate: 1.5 is out of range; expected a probability in [0, 1]");
  EXPECT_NE(message([](SyntheticOptions& o) {
              o.confusable_error_share = std::numeric_limits<double>::quiet_NaN();
            }).find("synthetic.confusable_error_share"),
            std::string::npos);
  EXPECT_NE(message([](SyntheticOptions& o) { o.noise = -1; }).find("synthetic.noise: -1"),
            std::string::npos);
  EXPECT_NE(message([](SyntheticOptions& o) {
              o.separation = std::numeric_limits<double>::infinity();
            }).find("synthetic.separation"),
            std::string::npos);
  EXPECT_NE(
      message([](SyntheticOptions& o) { o.pair_distance = -0.5; }).find("synthetic.pair_distance"),
      std::string::npos);
  EXPECT_NE(message([](SyntheticOptions& o) { o.dim = 0; }).find("synthetic.dim"),
            std::string::npos);
  EXPECT_NE(message([](SyntheticOptions& o) { o.rows = 0; }).find("synthetic.rows"),
            std::string::npos);
  EXPECT_EQ(message([](SyntheticOptions& o) { o.confusable_pairs = 5; }), "");  // 10 classes: ok
  // generate_synthetic validates too.
  SyntheticOptions bad;
  bad.classes = 1;
  EXPECT_THROW(generate_synthetic(bad, 1), Error);
}

}  // namespace
}  // namespace deferbench
