// Calibration time against calibration-set size (core/routing/policy.h calibrate_stage):
//
//   calibrate/guaranteed/<n>             one threshold, Learn-then-Test on a val-quantile grid
//   calibrate/guaranteed_per_class/<n>   one threshold per predicted class (77 classes)
//   calibrate/empirical/<n>              the point-estimate threshold
//
// n rows of calibration scores and as many validation scores (the grid), 77 classes, the
// surrogate agreeing with the teacher more often at higher acceptor scores. What is timed is
// the threshold choice from given scores (the stage outputs are computed outside the loop).
// Google Benchmark fits the times to O(n log n) and reports the coefficient and the RMS error.
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <random>

#include <fmt/format.h>

#include "benchmarks/bench_support.h"
#include "core/routing/acceptor.h"
#include "core/routing/policy.h"

namespace deferbench::bench {
namespace {

constexpr std::size_t kClasses = 77;

struct CalData {
  StageOutput val, cal;
  std::vector<LabelId> val_teacher, cal_teacher;
};

void draw(std::size_t n, std::mt19937_64& rng, StageOutput& out, std::vector<LabelId>& teacher) {
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::uniform_int_distribution<LabelId> cls(0, kClasses - 1);
  out.pred.resize(n);
  out.score.resize(n);
  teacher.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const float s = u(rng);
    out.score[i] = s;
    out.pred[i] = cls(rng);
    const bool agree = u(rng) < 0.7f + 0.3f * s;
    teacher[i] = agree ? out.pred[i] : (out.pred[i] + 1) % static_cast<LabelId>(kClasses);
  }
}

const CalData& cal_data(std::size_t n) {
  static std::map<std::size_t, std::unique_ptr<CalData>> cache;
  auto& slot = cache[n];
  if (!slot) {
    slot = std::make_unique<CalData>();
    std::mt19937_64 rng(n);
    draw(n, rng, slot->val, slot->val_teacher);
    draw(n, rng, slot->cal, slot->cal_teacher);
  }
  return *slot;
}

void calibrate(benchmark::State& state, const BenchOptions& o, const std::string& mode) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  const CalData& d = cal_data(n);
  CalibrationSettings settings;
  settings.mode = mode == "empirical" ? "empirical" : "guaranteed";
  settings.per_class = mode == "guaranteed_per_class";
  Stage stage;
  stage.acceptor = std::make_shared<Acceptor>(nullptr, 1);  // only "has an acceptor" matters
  for (auto _ : state) {
    calibrate_stage(stage, d.val, d.val_teacher, d.cal, d.cal_teacher, kClasses, 0.9,
                    settings.guaranteed.delta, settings);
    benchmark::DoNotOptimize(stage.thresholds.data());
  }
  state.SetComplexityN(static_cast<benchmark::IterationCount>(n));
  state.counters["rows_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * static_cast<double>(n),
                         benchmark::Counter::kIsRate);
  state.counters["cal_accepted"] = static_cast<double>(stage.cal_accepted);
  state.counters["feasible"] = stage.feasible ? 1 : 0;
  state.counters["peak_rss_mb"] = mib(peak_rss_bytes());
}

}  // namespace

void register_calibration_benchmarks(const BenchOptions& o) {
  for (const char* mode : {"guaranteed", "guaranteed_per_class", "empirical"}) {
    const std::string m = mode;
    auto* b = benchmark::RegisterBenchmark(fmt::format("calibrate/{}", m).c_str(),
                                           [&o, m](benchmark::State& st) { calibrate(st, o, m); });
    if (o.tiny) {
      b->Arg(100)->Arg(1000)->Iterations(1);
    } else {
      b->Arg(1000)->Arg(10000)->Arg(100000)->Arg(1000000);
    }
    b->Unit(benchmark::kMillisecond)->UseRealTime()->Complexity(benchmark::oNLogN);
  }
}

}  // namespace deferbench::bench
