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

// A surrogate that ignores its training and answers (0.6, 0.4) everywhere; it counts its fits.
class Leaning final : public Classifier {
 public:
  void fit(const Dataset&, const Dataset*, const Context&) override { ++fits; }
  Matrix predict_proba(MatrixView x, const Context&) const override {
    Matrix p(x.rows(), 2);
    for (std::size_t i = 0; i < x.rows(); ++i) p(i, 0) = 0.6f, p(i, 1) = 0.4f;
    return p;
  }
  void save(const std::filesystem::path&) const override { DB_THROW("not saved"); }
  std::string_view name() const override { return "leaning"; }
  std::size_t n_classes() const override { return 2; }
  int fits = 0;
};

Dataset at(const std::vector<float>& x, const std::vector<LabelId>& teacher) {
  Dataset d = rows_of_classes(teacher, 2);
  d.features = Matrix(x.size(), 1, x);
  return d;
}

TEST(MemoryBlend, ChoosesTheWeightOnValAndBlendsByHand) {
  // Remembered (train, in stream order): x = 0, 1, 2 answered B; x = 10, 11, 12 answered A.
  // k = 3: the memory says (0, 1) near x = 1 and (1, 0) near x = 11. The surrogate says
  // (0.6, 0.4) everywhere. Val: x = 1 → B, x = 11 → A.
  // w = 0: A, A (1 of 2 agree). w = ¼ at x = 1: (¾·0.6, ¾·0.4 + ¼) = (0.45, 0.55) → B; at
  // x = 11: (0.7, 0.3) → A (2 of 2). w = ½, ¾ also agree twice: the tie goes to ¼.
  const Dataset train = at({0, 1, 2, 10, 11, 12}, {1, 1, 1, 0, 0, 0});
  const Dataset val = at({1, 11}, {1, 0});
  Context ctx;
  auto own = std::make_unique<Leaning>();
  const Leaning* inner = own.get();
  MemoryBlend b(std::move(own), 3, 100);
  b.fit(train, &val, ctx);
  EXPECT_EQ(inner->fits, 1);
  EXPECT_DOUBLE_EQ(b.weight(), 0.25);
  const Matrix q(3, 1, std::vector<float>{1, 11, 5.6f});
  const Matrix p = b.predict_proba(q.view(), ctx);
  EXPECT_NEAR(p(0, 0), 0.45, 1e-6);
  EXPECT_NEAR(p(0, 1), 0.55, 1e-6);
  EXPECT_NEAR(p(1, 0), 0.70, 1e-6);
  EXPECT_NEAR(p(1, 1), 0.30, 1e-6);
  // The memory changed the answer at x = 1 only. At x = 5.6 its neighbours are 2, 10, 1 (B, A,
  // B: ⅔ B), but (¾·0.6 + ¼·⅓, ¾·0.4 + ¼·⅔) = (0.533, 0.467) → A, the surrogate's own answer.
  EXPECT_EQ(b.memory_decides(q.view(), ctx), (std::vector<std::uint8_t>{1, 0, 0}));
  EXPECT_NEAR(p(2, 0), 0.45 + 0.25 / 3, 1e-6);

  // A newer memory (all B) keeps the surrogate and the weight: at x = 11 (0.45, 0.55).
  TeacherMemory fresh(3, 2);
  fresh.fit(at({10, 11, 12}, {1, 1, 1}), nullptr, ctx);
  const auto r = b.refreshed(std::make_shared<TeacherMemory>(fresh));
  EXPECT_DOUBLE_EQ(r->weight(), 0.25);
  EXPECT_NEAR(r->predict_proba(Matrix(1, 1, std::vector<float>{11}).view(), ctx)(0, 1), 0.55, 1e-6);
  EXPECT_THROW((void)b.refreshed(std::make_shared<TeacherMemory>(3, 5)), Error);
}

TEST(MemoryBlend, SwitchesOffAMemoryThatDoesNotHelp) {
  const Dataset train = at({0, 1, 2, 10, 11, 12}, {1, 1, 1, 0, 0, 0});
  Context ctx;
  // Val says A at x = 1, where the memory says B: every w > 0 loses that row, so w = 0 and the
  // blend is the surrogate itself.
  MemoryBlend off(std::make_unique<Leaning>(), 3, 100);
  const Dataset val_a = at({1, 11}, {0, 0});
  off.fit(train, &val_a, ctx);
  EXPECT_DOUBLE_EQ(off.weight(), 0.0);
  const Matrix q(2, 1, std::vector<float>{1, 11});
  EXPECT_NEAR(off.predict_proba(q.view(), ctx)(0, 0), 0.6, 1e-6);
  EXPECT_EQ(off.memory_decides(q.view(), ctx), (std::vector<std::uint8_t>{0, 0}));
  // memory_max = 3 keeps only the last three rows (x = 10..12, all A): near x = 1 the memory
  // says A too, so it cannot fix the B at x = 1 that helped above, and w stays 0.
  MemoryBlend short_memory(std::make_unique<Leaning>(), 3, 3);
  const Dataset val = at({1, 11}, {1, 0});
  short_memory.fit(train, &val, ctx);
  EXPECT_DOUBLE_EQ(short_memory.weight(), 0.0);
}

}  // namespace
}  // namespace deferbench
