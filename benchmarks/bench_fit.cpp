// Fit time of every zoo model on banking77-sized data and larger:
//
//   fit/<model>/rows:<n>/d:256      synthetic, 77 classes, n = 10,000 × scale (--fit-scales)
//
// Each iteration builds a fresh model and fits it on the n training rows (val: n/4 more rows,
// for the models that early-stop). The 10× and 100× sizes are opt-in (--fit-scales 1,10,100):
// rf/et/gbt/xgb on a million rows take a long time on a small machine.
#include <benchmark/benchmark.h>

#include <chrono>
#include <memory>

#include <fmt/format.h>

#include "benchmarks/bench_support.h"
#include "models/registry.h"

namespace deferbench::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct FitData {
  std::size_t rows = 0;
  Dataset train, val;
};

std::size_t base_rows(const BenchOptions& o) {
  return o.tiny ? 200 : 10000;
}
std::size_t fit_dim(const BenchOptions& o) {
  return o.tiny ? 8 : 256;
}
std::size_t fit_classes(const BenchOptions& o) {
  return o.tiny ? 5 : 77;
}

// One data set at a time (benchmarks run model by model within a scale).
const FitData& fit_data(const BenchOptions& o, std::size_t rows) {
  static std::unique_ptr<FitData> cached;
  if (!cached) on_release([] { cached.reset(); });
  if (!cached || cached->rows != rows) {
    cached.reset();
    const std::size_t val_rows = std::max<std::size_t>(1, rows / 4);
    const Dataset all = synthetic_dataset(rows + val_rows, fit_dim(o), fit_classes(o), 7);
    auto d = std::make_unique<FitData>();
    d->rows = rows;
    d->train = slice(all, 0, rows);
    d->val = slice(all, rows, rows + val_rows);
    cached = std::move(d);
  }
  return *cached;
}

void fit_model(benchmark::State& state, const BenchOptions& o, const ZooModel& m,
               std::size_t rows) {
  const Context ctx = make_context(Device::kCpu, o.threads);
  const FitData* data = nullptr;
  try {
    data = &fit_data(o, rows);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  trim_heap();
  const std::size_t rss_before = current_rss_bytes();
  const bool reset = reset_peak_rss();
  double seconds = 0;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    std::unique_ptr<Classifier> model = builtin_models().make(m.spec, "bench");
    try {
      model->fit(data->train, &data->val, ctx);
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      break;
    }
    benchmark::DoNotOptimize(model.get());
    seconds += std::chrono::duration<double>(Clock::now() - t0).count();
  }
  const std::size_t peak = peak_rss_bytes();
  const double n = static_cast<double>(state.iterations()) * static_cast<double>(rows);
  state.counters["rows_per_s"] = benchmark::Counter(n, benchmark::Counter::kIsRate);
  state.counters["bytes_per_s"] = benchmark::Counter(
      n * static_cast<double>(fit_dim(o) * sizeof(float)), benchmark::Counter::kIsRate);
  state.counters["fit_s"] = state.iterations() > 0 ? seconds / state.iterations() : 0.0;
  state.counters["peak_rss_mb"] = mib(peak);
  // Memory the fit added over what the process held before it (train + val already loaded);
  // meaningful only when the kernel let us reset the high-water mark (peak_reset = 1).
  state.counters["fit_extra_mb"] = peak > rss_before ? mib(peak - rss_before) : 0.0;
  state.counters["data_mb"] =
      mib((data->train.features.size() + data->val.features.size()) * sizeof(float));
  state.counters["peak_reset"] = reset ? 1 : 0;
}

}  // namespace

void register_fit_benchmarks(const BenchOptions& o) {
  std::vector<std::string> skipped;
  for (int scale : o.fit_scales)
    for (const ZooModel& m : zoo_models(o, &skipped)) {
      const std::size_t rows = base_rows(o) * static_cast<std::size_t>(scale);
      const std::string name = fmt::format("fit/{}/rows:{}/d:{}", m.key, rows, fit_dim(o));
      auto* b = benchmark::RegisterBenchmark(
          name.c_str(), [&o, m, rows](benchmark::State& st) { fit_model(st, o, m, rows); });
      b->UseRealTime()->Unit(benchmark::kMillisecond);
      // One fit is the measurement for the large sizes (minutes each); tiny: one iteration.
      if (o.tiny || scale > 1) b->Iterations(1);
    }
}

}  // namespace deferbench::bench
