// The online cascade's pieces (issue 17): stream orders and scenarios, the monitor's level and
// detection delay over many simulated streams, and the teacher-answer memory on a hand-worked
// example.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include <gtest/gtest.h>

#include "core/stream/memory.h"
#include "core/stream/monitor.h"
#include "core/stream/order.h"
#include "core/util/random.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

Dataset rows_of_classes(const std::vector<LabelId>& cls, std::size_t n_classes) {
  Dataset d;
  d.teacher = cls;
  d.features = Matrix(cls.size(), 1);
  std::vector<std::string> names;
  for (std::size_t c = 0; c < n_classes; ++c) names.push_back("c" + std::to_string(c));
  d.labels = std::make_shared<LabelSpace>(names);
  return d;
}

TEST(StreamOrder, TimeRowsAndShuffle) {
  Dataset d = rows_of_classes({0, 1, 0, 1}, 2);
  d.times = {3.0, 1.0, std::nan(""), 2.0};
  EXPECT_EQ(stream_order(d, "time", 0), (std::vector<std::size_t>{1, 3, 0, 2}));
  EXPECT_EQ(stream_order(d, "rows", 0), (std::vector<std::size_t>{0, 1, 2, 3}));
  // auto: not every row has a time, so a seeded shuffle, the same for the same seed.
  const auto a = stream_order(d, "auto", 7), b = stream_order(d, "auto", 7);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, stream_order(d, "shuffle", 7));
  std::vector<std::size_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<std::size_t>{0, 1, 2, 3}));
  d.times.clear();
  EXPECT_NE(testing::error_of([&] { stream_order(d, "time", 0); }).find("time"), std::string::npos);
}

TEST(StreamOrder, WavesIntroduceClassesInGroups) {
  // 4 classes × 1,000 rows in 2 waves: a wave-1 row sits at a uniform position in [1/2, 1), a
  // wave-0 row in [0, 1); about half of the 2,000 wave-0 rows (1,000 ± 22) land below 1/2 and
  // come first, so the first 900 stream positions hold wave-0 classes only.
  std::vector<LabelId> cls;
  for (int c = 0; c < 4; ++c) cls.insert(cls.end(), 1000, c);
  std::vector<std::size_t> order(cls.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  const std::vector<int> wave = wave_of_classes(4, 2, 11);
  EXPECT_EQ(std::count(wave.begin(), wave.end(), 0), 2);
  const std::vector<std::size_t> w = waves_order(order, cls, 4, 2, 11);
  std::vector<std::size_t> sorted = w;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, order);
  for (std::size_t p = 0; p < 900; ++p) EXPECT_EQ(wave[cls[w[p]]], 0) << "position " << p;
  // The second half of the stream holds the rows above position ~1/2: all 2,000 wave-1 rows and
  // ~1,000 wave-0 ones, so 2/3 of its 2,000 slots (1,333) are wave 1 (sd ≈ 15).
  std::size_t late = 0;
  for (std::size_t p = 2000; p < 4000; ++p) late += wave[cls[w[p]]] == 1;
  EXPECT_NEAR(static_cast<double>(late), 1333.0, 100.0);
}

TEST(StreamOrder, PriorShiftMovesTheClassMix) {
  // Strength 2: the first half's rows sit at u³, the second's at u^(1/3). Below position 0.1:
  // P(u³ < 0.1) = 0.464 against P(u^(1/3) < 0.1) = 0.001, so the first tenth of the stream is
  // almost all first-half classes, and the last tenth mostly second-half ones.
  std::vector<LabelId> cls;
  for (int c = 0; c < 4; ++c) cls.insert(cls.end(), 1000, c);
  std::vector<std::size_t> order(cls.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  const std::vector<int> half = wave_of_classes(4, 2, 5);
  const auto s = prior_shift_order(order, cls, 4, 2.0, 5);
  std::size_t early = 0, late = 0;
  for (std::size_t p = 0; p < 400; ++p) early += half[cls[s[p]]] == 0;
  for (std::size_t p = 3600; p < 4000; ++p) late += half[cls[s[p]]] == 0;
  EXPECT_GT(early, 390u);
  EXPECT_LT(late, 200u);
}

TEST(StreamOrder, TeacherChangeFromItsPositionOn) {
  std::vector<LabelId> t = {0, 1, 0, 2, 0, 1};
  EXPECT_EQ(apply_teacher_change(t, TeacherChange{3, 0, 2}), 1u);
  EXPECT_EQ(t, (std::vector<LabelId>{0, 1, 0, 2, 2, 1}));
}

TEST(AgreementMonitor, SpendsDeltaOverEpochs) {
  AgreementMonitor m(0.9, 0.1);
  double spent = 0;
  for (int k = 1; k <= 5; ++k) {
    EXPECT_EQ(m.epoch(), k);
    EXPECT_NEAR(m.epoch_delta(), 0.1 / (k * (k + 1.0)), 1e-15);
    spent += m.epoch_delta();
    m.restart();
  }
  EXPECT_NEAR(spent, 0.1 * (1 - 1.0 / 6), 1e-12);  // Σ_{k≤5} 1/(k(k+1)) = 1 − 1/6
}

TEST(AgreementMonitor, KeepsItsLevelOverManyStreams) {
  // 200 streams of agreement 0.91 against a target of 0.9, each 3 policies × 2,000 audited
  // queries (a restart per policy): the alarm (upper bound < target) is false every time; its
  // probability is at most δ/2 = 0.05 per stream over all epochs. Allowed: 200 · 0.05 plus three
  // binomial standard deviations (√(200 · 0.05 · 0.95) = 3.1), i.e. 19 streams.
  const double delta = 0.1;
  int alarmed = 0;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    Rng rng(seed);
    AgreementMonitor m(0.9, delta);
    bool any = false;
    for (int epoch = 0; epoch < 3 && !any; ++epoch, m.restart())
      for (int i = 0; i < 2000 && !any; ++i) {
        m.observe(rng.uniform() < 0.91);
        any = m.alarmed();
      }
    alarmed += any;
  }
  std::printf("monitor false alarms: %d of 200 streams (bound 19)\n", alarmed);
  EXPECT_LE(alarmed, 19);
}

TEST(AgreementMonitor, CatchesADropWithinABoundedNumberOfAudits) {
  // After a refit (restart) the agreement is 0.75 against a target of 0.9: measured over 200
  // streams, every stream alarms, on average after 106 audited queries, at worst 473 (asserted:
  // mean ≤ 150, worst ≤ 1,000).
  std::size_t worst = 0, total = 0;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    Rng rng(1000 + seed);
    AgreementMonitor m(0.9, 0.05);
    m.restart();  // epoch 2, δ/6: as after the first refit
    std::size_t t = 0;
    while (!m.alarmed() && t < 5000) {
      m.observe(rng.uniform() < 0.75);
      ++t;
    }
    worst = std::max(worst, t);
    total += t;
  }
  std::printf("monitor delay at 0.75 vs 0.9: mean %.1f, max %zu audited queries\n",
              static_cast<double>(total) / 200, worst);
  EXPECT_LE(worst, 1000u);
  EXPECT_LE(static_cast<double>(total) / 200, 150.0);
}

TEST(TeacherMemory, AnswersWithTheSharesOfItsNeighbours) {
  // Remembered: x = 0, 1, 2 answered A, x = 10, 11 answered B. k = 3.
  Dataset d;
  d.features = Matrix(5, 1, std::vector<float>{0, 1, 2, 10, 11});
  d.teacher = {0, 0, 0, 1, 1};
  TeacherMemory mem(3, 2);
  EXPECT_EQ(mem.size(), 0u);
  Context ctx;
  const Matrix empty = mem.predict_proba(Matrix(1, 1, std::vector<float>{0}).view(), ctx);
  EXPECT_FLOAT_EQ(empty(0, 0), 0.5f);
  mem.fit(d, nullptr, ctx);
  EXPECT_EQ(mem.size(), 5u);
  const Matrix q(2, 1, std::vector<float>{1, 9});
  const Matrix p = mem.predict_proba(q.view(), ctx);
  // x = 1: neighbours 1, 0, 2 → A A A. x = 9: neighbours 10, 11, 2 → B B A.
  EXPECT_FLOAT_EQ(p(0, 0), 1.0f);
  EXPECT_FLOAT_EQ(p(0, 1), 0.0f);
  EXPECT_NEAR(p(1, 0), 1.0 / 3, 1e-6);
  EXPECT_NEAR(p(1, 1), 2.0 / 3, 1e-6);
}

}  // namespace
}  // namespace deferbench
