// Routing throughput of a fitted policy (surrogate + acceptor + threshold), end to end from a
// feature matrix (route/...) or from raw text through the featurizer (route_text/...) to the
// decisions, for every zoo model and batch size.
//
//   route/<device>/<model>/d:<dim>/b:<batch>    synthetic 77-class features, d ∈ {256, 1024}
//   route_parts/<device>/<model>/d:256/b:<batch>/{surrogate,acceptor}   the same, by part
//   route_text/<device>/<model>/b:<batch>       banking77 test texts (featurizer fitted on train)
//
// The policy is fitted once per (device, model, dim) outside the timed loop (the first
// benchmark of a model pays it; later batch sizes reuse it). Each iteration routes the next
// `batch` rows of a 65,536-row pool (cycling), so small batches do not re-read cached rows.
// CUDA benchmarks exist only when LibTorch sees a GPU; predict_proba returns host memory, so
// each timed call includes the device synchronization and the copies both ways.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "benchmarks/bench_support.h"
#include "core/data/csv_reader.h"
#include "core/data/splits.h"
#include "core/features/text_featurizer.h"
#include "core/routing/acceptor.h"
#include "core/routing/policy.h"
#include "core/util/error.h"
#include "models/backend.h"
#include "models/torch/linalg.h"

namespace deferbench::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Sizes {
  std::vector<std::size_t> batches, dims;
  std::size_t fit_rows, pool_rows, classes;
};

Sizes sizes(const BenchOptions& o) {
  if (o.tiny) return {{1, 64}, {8, 16}, 400, 256, 5};
  return {{1, 64, 4096, 65536}, {256, 1024}, 4000, 65536, 77};
}

// Features for one dimension: fit rows first (train 60%, val 20%, cal 20%), then the pool.
struct FeatureData {
  Dataset train, val, cal;
  Matrix pool;
};

const FeatureData& feature_data(const Sizes& s, std::size_t dim) {
  static std::map<std::size_t, std::unique_ptr<FeatureData>> cache;
  if (cache.empty()) on_release([] { cache.clear(); });
  auto& slot = cache[dim];
  if (!slot) {
    const Dataset all = synthetic_dataset(s.fit_rows + s.pool_rows, dim, s.classes, 42);
    auto f = std::make_unique<FeatureData>();
    const std::size_t a = s.fit_rows * 6 / 10, b = s.fit_rows * 8 / 10;
    f->train = slice(all, 0, a);
    f->val = slice(all, a, b);
    f->cal = slice(all, b, s.fit_rows);
    f->pool = Matrix::copy_of(all.features.view().slice_rows(s.fit_rows, all.size()));
    slot = std::move(f);
  }
  return *slot;
}

// One fitted policy at a time: benchmarks run in registration order (model → dim → batch).
const FittedPolicy& policy_for(const std::string& key, const YAML::Node& spec, const Dataset& train,
                               const Dataset& val, const Dataset& cal, const Context& ctx) {
  static std::string cached_key;
  static std::unique_ptr<FittedPolicy> cached;
  if (!cached) on_release([] { cached.reset(); });
  if (!cached || cached_key != key) {
    cached.reset();
    cached = std::make_unique<FittedPolicy>(fit_policy(spec, train, val, cal, ctx));
    cached_key = key;
  }
  return *cached;
}

// rows/s, bytes/s (of input read), the fraction of the measured read bandwidth, peak RSS.
void set_counters(benchmark::State& state, const BenchOptions& o, std::size_t rows_per_iter,
                  std::size_t bytes_per_iter, double seconds, std::size_t handled,
                  const FittedPolicy& p) {
  const double iters = static_cast<double>(state.iterations());
  const double rows = iters * static_cast<double>(rows_per_iter);
  const double bytes = iters * static_cast<double>(bytes_per_iter);
  state.counters["rows_per_s"] = benchmark::Counter(rows, benchmark::Counter::kIsRate);
  state.counters["bytes_per_s"] = benchmark::Counter(bytes, benchmark::Counter::kIsRate);
  if (seconds > 0) state.counters["bw_fraction"] = bytes / seconds / reference_read_bandwidth(o);
  state.counters["coverage"] = rows > 0 ? static_cast<double>(handled) / rows : 0.0;
  state.counters["peak_rss_mb"] = mib(peak_rss_bytes());
  state.counters["model_mb"] = mib(p.model_bytes);
  state.counters["policy_fit_s"] = p.fit_seconds;
}

std::size_t count_handled(const Routed& r) {
  std::size_t n = 0;
  for (int s : r.stage) n += s >= 0;
  return n;
}

// The feature data and fitted policy of a routing benchmark, built outside the timed loop
// (cached per process); on failure the benchmark is skipped with the error and p is null.
std::pair<const FeatureData*, const FittedPolicy*> routing_setup(benchmark::State& state,
                                                                 const Sizes& s, const ZooModel& m,
                                                                 Device device, std::size_t dim,
                                                                 const Context& ctx) {
  try {
    const FeatureData& data = feature_data(s, dim);
    const FittedPolicy& p = policy_for(fmt::format("{}/{}/{}", device_name(device), m.key, dim),
                                       m.spec, data.train, data.val, data.cal, ctx);
    return {&data, &p};
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return {nullptr, nullptr};
  }
}

void route_features(benchmark::State& state, const BenchOptions& o, const ZooModel& m,
                    Device device, std::size_t dim, std::size_t batch) {
  const Sizes s = sizes(o);
  const Context ctx = make_context(device, o.threads);
  const auto [data, p] = routing_setup(state, s, m, device, dim, ctx);
  if (p == nullptr) return;
  const MatrixView pool = data->pool.view();
  const std::size_t b = std::min(batch, pool.rows());
  reference_read_bandwidth(o);  // measured before the timed loop, once per process
  trim_heap();
  reset_peak_rss();  // peak_rss_mb: the high-water mark while routing (data and model resident)
  std::size_t offset = 0, handled = 0;
  const auto t0 = Clock::now();
  for (auto _ : state) {
    if (offset + b > pool.rows()) offset = 0;
    Routed r = route(p->stages, pool.slice_rows(offset, offset + b), ctx);
    handled += count_handled(r);
    benchmark::DoNotOptimize(r.label.data());
    offset += b;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  set_counters(state, o, b, b * dim * sizeof(float), seconds, handled, *p);
}

// Where routing time goes: the surrogate's predict_proba alone, and the acceptor alone
// (acceptor_features + score on the surrogate's probabilities, computed outside the loop).
// route − surrogate − acceptor = argmax, thresholds and the routing bookkeeping.
enum class Part { kSurrogate, kAcceptor };

void route_part(benchmark::State& state, const BenchOptions& o, const ZooModel& m, Device device,
                std::size_t dim, std::size_t batch, Part part) {
  const Sizes s = sizes(o);
  const Context ctx = make_context(device, o.threads);
  const auto [data, p] = routing_setup(state, s, m, device, dim, ctx);
  if (p == nullptr) return;
  const Stage& stage = p->stages.at(0);
  const MatrixView pool = data->pool.view();
  const std::size_t b = std::min(batch, pool.rows());
  // For the acceptor part: the probabilities of every batch position, computed once.
  const Matrix proba =
      part == Part::kAcceptor ? stage.surrogate->predict_proba(pool, ctx) : Matrix();
  std::size_t offset = 0;
  for (auto _ : state) {
    if (offset + b > pool.rows()) offset = 0;
    if (part == Part::kSurrogate) {
      const Matrix out = stage.surrogate->predict_proba(pool.slice_rows(offset, offset + b), ctx);
      benchmark::DoNotOptimize(out.data());
    } else if (stage.acceptor) {
      const Matrix f =
          acceptor_features(proba.view().slice_rows(offset, offset + b), {}, MatrixView());
      const std::vector<float> score = stage.acceptor->score(f, ctx);
      benchmark::DoNotOptimize(score.data());
    }
    offset += b;
  }
  const double rows = static_cast<double>(state.iterations()) * static_cast<double>(b);
  state.counters["rows_per_s"] = benchmark::Counter(rows, benchmark::Counter::kIsRate);
}

// ---- text input -------------------------------------------------------------------------

struct TextData {
  TextFeaturizer featurizer;
  Dataset train, val, cal;           // featurized banking77 train.csv, split 60/20/15(/5 unused)
  std::vector<std::string> traffic;  // banking77 test.csv texts
};

std::filesystem::path banking77(const BenchOptions& o, const char* file) {
  return o.data_dir / "banking77" / file;
}

const TextData& text_data(const BenchOptions& o) {
  static std::unique_ptr<TextData> cached;
  if (cached) return *cached;
  on_release([] { cached.reset(); });
  CsvColumns cols;
  cols.text = "text";
  cols.teacher = "category";
  const bool have_train = std::filesystem::exists(banking77(o, "train.csv"));
  Traces fit = read_csv_traces(banking77(o, have_train ? "train.csv" : "test.csv"), cols);
  Traces traffic = read_csv_traces(banking77(o, "test.csv"), cols);
  auto d = std::make_unique<TextData>();
  d->traffic = traffic.texts;
  if (o.tiny) {  // a few hundred rows and a small LSA: the smoke test
    fit.texts.resize(std::min<std::size_t>(fit.texts.size(), 600));
    fit.teacher.resize(fit.texts.size());
    fit.ids.resize(fit.texts.size());
    d->traffic.resize(std::min<std::size_t>(d->traffic.size(), 200));
  }
  auto labels = std::make_shared<const LabelSpace>(label_space_of({&fit}));
  const std::vector<std::string> texts = fit.texts;
  Dataset all = to_dataset(std::move(fit), labels);
  TextFeaturizerOptions fo;
  if (o.tiny) fo.lsa.dim = 16;
  d->featurizer = TextFeaturizer(fo);
  const Context ctx = make_context(Device::kCpu, o.threads);
  d->featurizer.fit(texts, *make_torch_dense_solver(ctx), ctx);
  all.features = d->featurizer.transform(texts, ctx);
  SplitFractions fr;
  fr.train = 0.6;
  fr.val = 0.2;
  fr.cal = 0.15;
  fr.test = 0.05;
  const Splits sp = stratified_split(all.teacher, fr, 0);
  d->train = all.subset(sp.train);
  d->val = all.subset(sp.val);
  d->cal = all.subset(sp.cal);
  cached = std::move(d);
  return *cached;
}

void route_text(benchmark::State& state, const BenchOptions& o, const ZooModel& m, Device device,
                std::size_t batch) {
  const Context ctx = make_context(device, o.threads);
  const TextData* data = nullptr;
  const FittedPolicy* p = nullptr;
  try {
    data = &text_data(o);
    p = &policy_for(fmt::format("text/{}/{}", device_name(device), m.key), m.spec, data->train,
                    data->val, data->cal, ctx);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  // The batches, built outside the timed loop: the traffic texts in order, cycling.
  const std::vector<std::string>& traffic = data->traffic;
  const std::size_t n_batches = std::max<std::size_t>(1, traffic.size() / batch);
  std::vector<std::vector<std::string>> batches(n_batches);
  std::vector<std::size_t> bytes(n_batches, 0);
  std::size_t next = 0;
  for (std::size_t k = 0; k < n_batches; ++k) {
    batches[k].reserve(batch);
    for (std::size_t i = 0; i < batch; ++i, next = (next + 1) % traffic.size()) {
      batches[k].push_back(traffic[next]);
      bytes[k] += traffic[next].size();
    }
  }
  reference_read_bandwidth(o);
  trim_heap();
  reset_peak_rss();
  std::size_t k = 0, handled = 0, text_bytes = 0;
  const auto t0 = Clock::now();
  for (auto _ : state) {
    const Matrix x = data->featurizer.transform(batches[k], ctx);
    Routed r = route(p->stages, x.view(), ctx);
    handled += count_handled(r);
    text_bytes += bytes[k];
    benchmark::DoNotOptimize(r.label.data());
    k = (k + 1) % n_batches;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  // bytes: UTF-8 text read per iteration (on average over the batches routed)
  const std::size_t per_iter =
      state.iterations() > 0 ? text_bytes / static_cast<std::size_t>(state.iterations()) : 0;
  set_counters(state, o, batch, per_iter, seconds, handled, *p);
}

// Every zoo model routes on CUDA too (the dense models through LibTorch, the trees in tensor
// form) when a GPU is usable.
std::vector<Device> devices() {
  std::vector<Device> d{Device::kCpu};
  if (cuda_available()) d.push_back(Device::kCuda);
  return d;
}

void apply_common(benchmark::internal::Benchmark* b, const BenchOptions& o) {
  b->UseRealTime()->Unit(benchmark::kMicrosecond);
  if (o.tiny) b->Iterations(1);
}

std::vector<ZooModel> models_or_report(const BenchOptions& o) {
  std::vector<std::string> skipped;
  std::vector<ZooModel> zoo = zoo_models(o, &skipped);
  static bool reported = false;
  if (!reported)
    for (const std::string& s : skipped)
      std::fprintf(stderr, "deferbench_bench: skipped %s\n", s.c_str());
  reported = true;
  return zoo;
}

}  // namespace

void register_routing_benchmarks(const BenchOptions& o) {
  const Sizes s = sizes(o);
  if (!cuda_available())
    std::fprintf(stderr, "deferbench_bench: no CUDA device: route*/cuda/* not registered\n");
  for (const ZooModel& m : models_or_report(o))
    for (Device dev : devices())
      for (std::size_t dim : s.dims) {
        for (std::size_t batch : s.batches) {
          const std::string name =
              fmt::format("route/{}/{}/d:{}/b:{}", device_name(dev), m.key, dim, batch);
          apply_common(benchmark::RegisterBenchmark(name.c_str(),
                                                    [&o, m, dev, dim, batch](benchmark::State& st) {
                                                      route_features(st, o, m, dev, dim, batch);
                                                    }),
                       o);
        }
        // The parts, for the first dimension (right after it: the fitted policy is reused).
        if (dim != s.dims.front()) continue;
        for (std::size_t batch : s.batches)
          for (Part part : {Part::kSurrogate, Part::kAcceptor}) {
            const std::string name =
                fmt::format("route_parts/{}/{}/d:{}/b:{}/{}", device_name(dev), m.key, dim, batch,
                            part == Part::kSurrogate ? "surrogate" : "acceptor");
            apply_common(
                benchmark::RegisterBenchmark(name.c_str(),
                                             [&o, m, dev, dim, batch, part](benchmark::State& st) {
                                               route_part(st, o, m, dev, dim, batch, part);
                                             }),
                o);
          }
      }
}

void register_text_routing_benchmarks(const BenchOptions& o) {
  const std::filesystem::path test = banking77(o, "test.csv");
  if (!std::filesystem::exists(test)) {
    std::fprintf(stderr, "deferbench_bench: %s not found: route_text/* not registered\n",
                 test.string().c_str());
    return;
  }
  const Sizes s = sizes(o);
  for (const ZooModel& m : models_or_report(o))
    for (Device dev : devices())
      for (std::size_t batch : s.batches) {
        const std::string name =
            fmt::format("route_text/{}/{}/b:{}", device_name(dev), m.key, batch);
        apply_common(benchmark::RegisterBenchmark(name.c_str(),
                                                  [&o, m, dev, batch](benchmark::State& st) {
                                                    route_text(st, o, m, dev, batch);
                                                  }),
                     o);
      }
}

}  // namespace deferbench::bench
