// Fit time of every zoo model on banking77-sized data and larger:
//
//   fit/<model>/rows:<n>/d:256      synthetic, 77 classes, n = 10,000 × scale (--fit-scales)
//
// Each iteration builds a fresh model and fits it on the n training rows (val: n/4 more rows,
// for the models that early-stop). The 10× and 100× sizes are opt-in (--fit-scales 1,10,100):
// rf/et/gbt/xgb on a million rows take a long time on a small machine.
//
// The two-stage rejector of multi-expert deferral (issue 16) against the surrogate it sits beside:
//
//   fit_rejector/surrogate/rows:<n>/d:256/choices:4   LogReg::fit on the 4-class labels
//   fit_rejector/comp_sum/rows:<n>/d:256/choices:4    LogReg::fit_cost_weighted on the comp-sum
//                                                     weights of 4 choices (J = 3 experts)
//   fit_rejector/<surrogate,comp_sum>/.../objective   one evaluation of the L-BFGS objective
//                                                     (value + gradient) at fixed parameters
//
// on the same n = 100,000 synthetic rows (tiny: 200 × 8); bench_summary.py prints the ratio of
// the two fits (bar: the rejector within 2× the surrogate) and of the two evaluations.
#include <benchmark/benchmark.h>

#include <chrono>
#include <memory>
#include <random>

#include <fmt/format.h>

#include "benchmarks/bench_support.h"
#include "core/experts/costs.h"
#include "models/dense/logreg.h"
#include "models/dense/train.h"
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

constexpr std::size_t kChoices = 4;  // the main model and J = 3 experts

std::size_t rejector_rows(const BenchOptions& o) {
  return o.tiny ? 200 : 100000;
}

// The rejector's training set: the features and 4-class labels of synthetic clusters, and the
// comp-sum weights of sampled costs. Choice j (β_j = 0, 0.05, 0.1, 0.2; α = 1) is right with
// probability 0.9 on the rows of class j and 0.5 elsewhere, so the best choice depends on x.
struct RejectorData {
  Dataset train;
  Matrix weights;  // rows × choices
};
const RejectorData& rejector_data(const BenchOptions& o) {
  static std::unique_ptr<RejectorData> cached;
  if (!cached) {
    on_release([] { cached.reset(); });
    auto d = std::make_unique<RejectorData>();
    const std::size_t n = rejector_rows(o);
    d->train = synthetic_dataset(n, fit_dim(o), kChoices, 11);
    const std::vector<ChoiceCost> choices = {{1.0, 0.0}, {1.0, 0.05}, {1.0, 0.1}, {1.0, 0.2}};
    std::mt19937_64 rng(13);
    std::uniform_real_distribution<double> coin(0.0, 1.0);
    Correctness correct(kChoices, std::vector<std::uint8_t>(n));
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < kChoices; ++j) {
        const bool strong = static_cast<std::size_t>(d->train.teacher[i]) == j;
        correct[j][i] = coin(rng) < (strong ? 0.9 : 0.5) ? 1 : 0;
      }
    d->weights = comp_sum_weights(cost_matrix(correct, choices, 1.0));
    cached = std::move(d);
  }
  return *cached;
}

// One fit of a fresh LogReg (the defaults: lbfgs, C = 1, 100 iterations) per iteration.
void fit_rejector(benchmark::State& state, const BenchOptions& o, bool comp_sum) {
  const Context ctx = make_context(Device::kCpu, o.threads);
  const RejectorData& data = rejector_data(o);
  double seconds = 0;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    LogReg model{LogRegParams{}};
    try {
      if (comp_sum)
        model.fit_cost_weighted(data.train.features, data.weights, ctx);
      else
        model.fit(data.train, nullptr, ctx);
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      break;
    }
    benchmark::DoNotOptimize(model.weight().data());
    seconds += std::chrono::duration<double>(Clock::now() - t0).count();
  }
  const double n = static_cast<double>(state.iterations()) * static_cast<double>(rejector_rows(o));
  state.counters["rows_per_s"] = benchmark::Counter(n, benchmark::Counter::kIsRate);
  state.counters["fit_s"] = state.iterations() > 0 ? seconds / state.iterations() : 0.0;
}

// One evaluation of the objective L-BFGS minimizes (the per-iteration cost, whatever the number
// of iterations each fit takes), on the raw features at fixed random parameters.
void rejector_objective(benchmark::State& state, const BenchOptions& o, bool comp_sum) {
  const Context ctx = make_context(Device::kCpu, o.threads);
  const RejectorData& data = rejector_data(o);
  const std::size_t d = fit_dim(o), n = rejector_rows(o);
  std::vector<std::int64_t> y(data.train.teacher.begin(), data.train.teacher.end());
  const double l2 = 1.0 / (2.0 * static_cast<double>(n));
  const std::size_t block_rows = static_cast<std::size_t>(LogRegParams{}.batch_rows);
  std::unique_ptr<dense::SoftmaxRegressionObjective> f =
      comp_sum ? std::make_unique<dense::SoftmaxRegressionObjective>(
                     data.train.features, data.weights, l2, block_rows, ctx.threads)
               : std::make_unique<dense::SoftmaxRegressionObjective>(
                     data.train.features, y, kChoices, l2, block_rows, ctx.threads);
  std::mt19937_64 rng(17);
  std::normal_distribution<double> g(0.0, 0.01);
  std::vector<double> params(kChoices * d + kChoices), grad;
  for (double& v : params) v = g(rng);
  for (auto _ : state) benchmark::DoNotOptimize((*f)(params, grad));
  state.counters["rows_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * static_cast<double>(n),
                         benchmark::Counter::kIsRate);
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
  // The rejector against the surrogate (one scale: 100,000 rows).
  for (bool comp_sum : {false, true}) {
    const std::string base =
        fmt::format("fit_rejector/{}/rows:{}/d:{}/choices:{}", comp_sum ? "comp_sum" : "surrogate",
                    rejector_rows(o), fit_dim(o), kChoices);
    auto* b = benchmark::RegisterBenchmark(
        base.c_str(), [&o, comp_sum](benchmark::State& st) { fit_rejector(st, o, comp_sum); });
    b->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(o.tiny ? 1 : 3);
    auto* e = benchmark::RegisterBenchmark(
        (base + "/objective").c_str(),
        [&o, comp_sum](benchmark::State& st) { rejector_objective(st, o, comp_sum); });
    e->UseRealTime()->Unit(benchmark::kMillisecond);
    if (o.tiny) e->Iterations(1);
  }
}

}  // namespace deferbench::bench
