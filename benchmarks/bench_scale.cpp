// Scale (opt-in with --scale): a generated set of 1,048,576 rows × 256 features (77 classes),
// cached as an .npy file (--scale-file; its teacher ids beside it as <file>.teacher, int32).
//
//   scale/route/<model>/b:65536/batches:<k>   stream k batches of the file through a policy
//   scale/fit/<model>/rows:<n>                fit logreg / the MLPs on all n rows in memory
//
// Routing: the policy (fitted on the file's first 10,000 rows, saved) is loaded inside the
// measurement, then batches are read from the file into ONE reused buffer and routed; only
// counts are kept. Memory is the kernel's high-water mark, reset just before (after returning
// freed heap memory), so `routing_mb` = peak − RSS before = what loading the policy and
// routing k batches needed. It must not grow with k, and the bar is
// routing_mb < 2 × (batch_mb + model_mb) (mem_ratio < 2).
//
// Fitting: the whole set is read into memory first (data_mb); fit_extra_mb is the peak above
// that. The fits are capped (logreg: 10 L-BFGS iterations, MLPs: one epoch) since what is
// measured is memory, which does not grow with iterations; fit_s is for those caps.
//
// For numbers free of anything an earlier benchmark left behind, run one benchmark per
// process (scripts/bench.sh --scale does).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <fstream>

#include <fmt/format.h>

#include "benchmarks/bench_support.h"
#include "core/data/npy.h"
#include "core/util/error.h"
#include "models/registry.h"

namespace deferbench::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kDim = 256, kClasses = 77;

std::size_t batch_rows(const BenchOptions& o) {
  return o.tiny ? 512 : 65536;
}
std::size_t policy_rows(const BenchOptions& o) {
  return o.tiny ? 600 : 10000;
}
std::filesystem::path teacher_file(const BenchOptions& o) {
  return o.scale_file.string() + ".teacher";
}

// Writes the scale set once (kept across runs: generating 2^28 Gaussians takes a while).
void ensure_scale_file(const BenchOptions& o) {
  if (std::filesystem::exists(o.scale_file) && std::filesystem::exists(teacher_file(o))) {
    NpyRowReader r(o.scale_file);
    if (r.rows() == o.scale_rows && r.cols() == kDim) return;
  }
  std::fprintf(stderr, "deferbench_bench: writing the %zu × %zu scale set to %s\n", o.scale_rows,
               kDim, o.scale_file.string().c_str());
  const Dataset d = synthetic_dataset(o.scale_rows, kDim, kClasses, 11);
  write_npy(o.scale_file, d.features.view());
  std::ofstream t(teacher_file(o), std::ios::binary);
  t.write(reinterpret_cast<const char*>(d.teacher.data()),
          static_cast<std::streamsize>(d.teacher.size() * sizeof(LabelId)));
  DB_CHECK(t.good(), "cannot write {}", teacher_file(o).string());
  // Policies fitted on an earlier file are stale.
  const std::string stem = o.scale_file.filename().string() + ".policy_";
  for (const auto& e :
       std::filesystem::directory_iterator(std::filesystem::absolute(o.scale_file).parent_path()))
    if (e.path().filename().string().rfind(stem, 0) == 0) std::filesystem::remove_all(e.path());
}

std::vector<LabelId> read_teacher(const BenchOptions& o, std::size_t rows) {
  std::vector<LabelId> out(rows);
  std::ifstream t(teacher_file(o), std::ios::binary);
  t.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(rows * sizeof(LabelId)));
  DB_CHECK(t.good(), "{}: fewer than {} labels", teacher_file(o).string(), rows);
  return out;
}

Dataset read_rows(const BenchOptions& o, std::size_t rows) {
  NpyRowReader r(o.scale_file);
  Dataset d;
  std::vector<std::string> names;
  for (std::size_t c = 0; c < kClasses; ++c) names.push_back(std::to_string(c));
  d.labels = std::make_shared<const LabelSpace>(names);
  d.features = Matrix(std::min(rows, r.rows()), r.cols());
  r.read(d.features);
  d.teacher = read_teacher(o, d.features.rows());
  return d;
}

// The saved policy of a model, fitted on the file's first rows: kept beside the scale file
// (<file>.policy_<model>/) so that the one-process-per-benchmark runs fit it once. Delete the
// folder to refit (a folder that does not load is refitted).
std::filesystem::path policy_dir(const BenchOptions& o, const ZooModel& m, std::size_t* bytes) {
  ensure_scale_file(o);
  const std::filesystem::path dir = o.scale_file.string() + ".policy_" + m.key;
  bool ok = std::filesystem::exists(dir / "stage.txt");
  if (ok) {
    try {
      load_stage(dir);
    } catch (const std::exception&) {
      ok = false;
    }
  }
  if (!ok) {
    const Dataset d = read_rows(o, policy_rows(o));
    const std::size_t a = d.size() * 6 / 10, b = d.size() * 8 / 10;
    const Context ctx = make_context(Device::kCpu, o.threads);
    FittedPolicy p = fit_policy(m.spec, slice(d, 0, a), slice(d, a, b), slice(d, b, d.size()), ctx);
    std::filesystem::remove_all(dir);
    save_stage(p.stages.at(0), dir);
  }
  *bytes = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".bin") *bytes += std::filesystem::file_size(e.path());
  return dir;
}

void scale_route(benchmark::State& state, const BenchOptions& o, const ZooModel& m,
                 std::size_t batches) {
  std::size_t model_bytes = 0;
  std::filesystem::path dir;
  try {
    dir = policy_dir(o, m, &model_bytes);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  const Context ctx = make_context(Device::kCpu, o.threads);
  const std::size_t b = batch_rows(o);
  for (auto _ : state) {
    trim_heap();
    const std::size_t rss_before = current_rss_bytes();
    const bool reset = reset_peak_rss();
    std::size_t rows = 0, handled = 0;
    double seconds = 0;
    {
      const std::vector<Stage> stages = load_stage(dir);
      NpyRowReader reader(o.scale_file);
      Matrix batch(b, reader.cols());
      const auto t0 = Clock::now();
      for (std::size_t k = 0; k < batches; ++k) {
        std::size_t n = reader.read(batch);
        if (n == 0) {
          reader.rewind();
          n = reader.read(batch);
        }
        const Routed r = route(stages, batch.view().slice_rows(0, n), ctx);
        for (int s : r.stage) handled += s >= 0;
        rows += n;
      }
      seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    }
    const std::size_t peak = peak_rss_bytes();
    state.SetIterationTime(seconds);
    const double batch_mb = mib(b * kDim * sizeof(float)), model_mb = mib(model_bytes);
    const double routing_mb = peak > rss_before ? mib(peak - rss_before) : 0.0;
    state.counters["rows"] = static_cast<double>(rows);
    state.counters["rows_per_s"] = seconds > 0 ? static_cast<double>(rows) / seconds : 0.0;
    state.counters["coverage"] = rows ? static_cast<double>(handled) / rows : 0.0;
    state.counters["batch_mb"] = batch_mb;
    state.counters["model_mb"] = model_mb;
    state.counters["rss_before_mb"] = mib(rss_before);
    state.counters["peak_rss_mb"] = mib(peak);
    state.counters["routing_mb"] = routing_mb;
    state.counters["mem_ratio"] = routing_mb / (batch_mb + model_mb);
    state.counters["peak_reset"] = reset ? 1 : 0;
  }
}

YAML::Node capped(const ZooModel& m) {
  YAML::Node spec = YAML::Clone(m.spec);
  if (spec["name"].as<std::string>() == "logreg")
    spec["max_iter"] = 10;
  else
    spec["max_epochs"] = 1;
  return spec;
}

void scale_fit(benchmark::State& state, const BenchOptions& o, const ZooModel& m) {
  const Context ctx = make_context(Device::kCpu, o.threads);
  for (auto _ : state) {
    std::unique_ptr<Dataset> data;
    try {
      ensure_scale_file(o);
      data = std::make_unique<Dataset>(read_rows(o, o.scale_rows));
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      break;
    }
    trim_heap();
    const std::size_t rss_before = current_rss_bytes();
    const bool reset = reset_peak_rss();
    const auto t0 = Clock::now();
    {
      std::unique_ptr<Classifier> model = builtin_models().make(capped(m), "bench");
      model->fit(*data, nullptr, ctx);
      benchmark::DoNotOptimize(model.get());
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    const std::size_t peak = peak_rss_bytes();
    state.SetIterationTime(seconds);
    const double data_mb = mib(data->features.size() * sizeof(float));
    const double extra = peak > rss_before ? mib(peak - rss_before) : 0.0;
    state.counters["rows"] = static_cast<double>(data->size());
    state.counters["fit_s"] = seconds;
    state.counters["data_mb"] = data_mb;
    state.counters["rss_before_mb"] = mib(rss_before);
    state.counters["peak_rss_mb"] = mib(peak);
    state.counters["fit_extra_mb"] = extra;
    state.counters["extra_ratio"] = extra / data_mb;
    state.counters["peak_reset"] = reset ? 1 : 0;
  }
}

}  // namespace

void register_scale_benchmarks(const BenchOptions& o) {
  std::vector<std::string> skipped;
  const std::vector<ZooModel> zoo = zoo_models(o, &skipped);
  const std::size_t b = batch_rows(o);
  const std::size_t all = (o.scale_rows + b - 1) / b;
  std::vector<std::size_t> counts;
  for (std::size_t k = 1; k < all; k *= 4) counts.push_back(k);
  counts.push_back(all);
  for (const ZooModel& m : zoo)
    for (std::size_t k : counts) {
      const std::string name = fmt::format("scale/route/{}/b:{}/batches:{}", m.key, b, k);
      benchmark::RegisterBenchmark(name.c_str(),
                                   [&o, m, k](benchmark::State& st) { scale_route(st, o, m, k); })
          ->Iterations(1)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    }
  for (const ZooModel& m : zoo) {
    const std::string name_key = m.spec["name"].as<std::string>();
    const bool fits = name_key == "mlp_1h" || name_key == "mlp_2h" ||
                      (name_key == "logreg" && m.key != "logreg_c10");  // one logreg is enough
    if (!fits) continue;
    const std::string name = fmt::format("scale/fit/{}/rows:{}", m.key, o.scale_rows);
    benchmark::RegisterBenchmark(name.c_str(),
                                 [&o, m](benchmark::State& st) { scale_fit(st, o, m); })
        ->Iterations(1)
        ->UseManualTime()
        ->Unit(benchmark::kSecond);
  }
}

}  // namespace deferbench::bench
