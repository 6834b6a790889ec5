// gpu_bench: routing throughput of whole policies on a device (models/torch/device_policy.h)
// against the device's measured memory bandwidth and against the same policy on the CPU, the
// bf16 option's effect on decisions, and the torch models' training time on the device against
// the CPU, all in one run (issue 7's numbers; scripts/bench-gpu.sh adds the PyTorch side and
// writes the table).
//
//   gpu_bench [--device cuda] [--models logreg,mlp_1h,rf] [--dims 256,1024]
//             [--batches 4096,65536,1048576,4194304] [--threads N] [--out FILE.jsonl] [--tiny]
//
// Per model and dimension: an l2d policy (surrogate on train, logreg acceptor on the four
// probability summaries, guaranteed threshold at target 0.8 on cal; bench_support's fit_policy)
// fitted on synthetic 77-class traces. Per batch size, the rows are uploaded once and the
// resident batch routed (`resident`: device work and the decisions' copy back), then the same
// rows routed from host memory (`from_host`: the copy over included), and on the CPU with
// route() (`cpu`, at most --cpu-rows rows: its rows/s do not depend on the batch beyond that).
// Each timing is the best of --reps calls after one warm-up. `bw_fraction` = resident rows/s ×
// bytes per row / the device copy's read bandwidth. The dense models also run with
// precision: bf16; the line reports how many of its decisions equal fp32's and both policies'
// coverage and teacher agreement on 20,000 held-out rows.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "benchmarks/bench_support.h"
#include "core/util/error.h"
#include "models/backend.h"
#include "models/torch/device_policy.h"

namespace deferbench::bench {
namespace {

using Clock = std::chrono::steady_clock;

template <class F>
double best_seconds(int reps, F f) {
  f();  // warm-up
  double best = 1e300;
  for (int r = 0; r < std::max(1, reps); ++r) {
    const auto t0 = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

std::vector<std::size_t> parse_sizes(const char* flag, const std::string& s) {
  std::vector<std::size_t> out;
  for (const std::string& item : split_commas(s)) {
    DB_CHECK(item.find_first_not_of("0123456789") == std::string::npos && std::stoull(item) > 0,
             "{}: expected a comma-separated list of positive integers, got '{}'", flag, s);
    out.push_back(std::stoull(item));
  }
  DB_CHECK(!out.empty(), "{}: expected a comma-separated list of positive integers, got '{}'", flag,
           s);
  return out;
}

// The first `rows` rows of `pool` repeated to `rows` rows (a batch larger than the pool).
Matrix tiled(const Matrix& pool, std::size_t rows) {
  Matrix out(rows, pool.cols());
  for (std::size_t r = 0; r < rows; r += pool.rows()) {
    const std::size_t n = std::min(pool.rows(), rows - r);
    std::copy_n(pool.data(), n * pool.cols(), out.row(r));
  }
  return out;
}

struct Decisions {
  double coverage = 0, agreement = 0;
};

Decisions score(const Routed& r, const std::vector<LabelId>& teacher) {
  std::size_t handled = 0, agree = 0;
  for (std::size_t i = 0; i < r.stage.size(); ++i) {
    if (r.stage[i] < 0) continue;
    ++handled;
    agree += r.label[i] == teacher[i];
  }
  Decisions d;
  d.coverage =
      static_cast<double>(handled) / static_cast<double>(std::max<std::size_t>(1, r.stage.size()));
  d.agreement = handled ? static_cast<double>(agree) / static_cast<double>(handled) : 0.0;
  return d;
}

bool is_dense(const YAML::Node& spec) {
  const std::string name = spec["name"].as<std::string>();
  return name == "logreg" || name.rfind("mlp", 0) == 0;
}

int run(int argc, char** argv) {
  CLI::App app{"deferbench gpu_bench: whole policies on a device"};
  std::string device_name_opt = "auto", models_opt, dims_opt = "256,1024",
              batches_opt = "4096,65536,1048576,4194304", out_path;
  int threads = 0, reps = 3;
  std::size_t fit_rows = 20000, pool_rows = 1u << 20, cpu_rows = 65536, eval_rows = 20000;
  bool tiny = false;
  app.add_option("--device", device_name_opt, "cuda | cpu | auto");
  app.add_option("--models", models_opt, "comma-separated zoo keys (default: all)");
  app.add_option("--dims", dims_opt, "feature dimensions");
  app.add_option("--batches", batches_opt, "batch sizes (rows)");
  app.add_option("--threads", threads, "CPU threads (0: all cores)");
  app.add_option("--reps", reps, "timed calls per measurement (best kept)");
  app.add_option("--fit-rows", fit_rows, "rows the policies are fitted on");
  app.add_option("--pool-rows", pool_rows, "distinct rows a batch is made of (tiled beyond)");
  app.add_option("--cpu-rows", cpu_rows, "rows of the CPU route() timing, at most");
  app.add_option("-o,--out", out_path, "also append the JSON lines to this file");
  app.add_flag("--tiny", tiny, "tiny sizes (the smoke test)");
  CLI11_PARSE(app, argc, argv);
  if (tiny) {  // small defaults for what the command line did not set
    auto unset = [&](const char* flag) { return app.count(flag) == 0; };
    if (unset("--dims")) dims_opt = "16";
    if (unset("--batches")) batches_opt = "64,512";
    if (unset("--fit-rows")) fit_rows = 1200;
    if (unset("--pool-rows")) pool_rows = 256;
    if (unset("--cpu-rows")) cpu_rows = 256;
    if (unset("--reps")) reps = 1;
    eval_rows = 400;
  }
  BenchOptions o;
  o.tiny = tiny;
  o.threads = resolve_threads(threads);
  o.only = split_commas(models_opt);
  const Context dev = deferbench::make_context(parse_device_request(device_name_opt), 0, o.threads),
                cpu = deferbench::make_context(Device::kCpu, 0, o.threads);
  const std::vector<std::size_t> dims = parse_sizes("--dims", dims_opt),
                                 batches = parse_sizes("--batches", batches_opt);
  const std::size_t classes = tiny ? 5 : 77;
  std::ofstream out_file;
  if (!out_path.empty()) {
    out_file.open(out_path, std::ios::app);
    DB_CHECK(out_file.good(), "cannot open '{}' for appending", out_path);
  }
  auto emit = [&](const nlohmann::json& j) {
    const std::string line = j.dump();
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    if (out_file) out_file << line << "\n" << std::flush;
  };

  std::vector<std::string> skipped;
  const std::vector<ZooModel> zoo = zoo_models(o, &skipped);
  for (const std::string& s : skipped) std::fprintf(stderr, "gpu_bench: skipped %s\n", s.c_str());
  const double bandwidth =
      device_copy_read_bandwidth(dev, tiny ? (std::size_t{8} << 20) : (std::size_t{2} << 30), 5);
  emit({{"kind", "bandwidth"},
        {"device", std::string(deferbench::device_name(dev.device))},
        {"copy_read_bytes_per_s", bandwidth},
        {"threads", o.threads}});

  for (std::size_t dim : dims) {
    const std::size_t batch_max = *std::max_element(batches.begin(), batches.end());
    const std::size_t distinct = std::min(pool_rows, batch_max);
    const Dataset all = synthetic_dataset(fit_rows + eval_rows + distinct, dim, classes, 42);
    const std::size_t a = fit_rows * 6 / 10, b = fit_rows * 8 / 10;
    const Dataset train = slice(all, 0, a), val = slice(all, a, b), cal = slice(all, b, fit_rows),
                  held = slice(all, fit_rows, fit_rows + eval_rows);
    const Matrix pool = Matrix::copy_of(
        all.features.view().slice_rows(fit_rows + eval_rows, fit_rows + eval_rows + distinct));
    for (const ZooModel& m : zoo) {
      std::vector<std::string> precisions = {"fp32"};
      if (is_dense(m.spec)) precisions.push_back("bf16");
      Routed fp32_decisions;
      for (const std::string& precision : precisions) {
        YAML::Node spec = YAML::Clone(m.spec);
        if (precision == "bf16") spec["precision"] = "bf16";
        FittedPolicy p;
        try {
          p = fit_policy(spec, train, val, cal, dev);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "gpu_bench: %s d=%zu: %s\n", m.key.c_str(), dim, e.what());
          continue;
        }
        nlohmann::json fit = {{"kind", "fit"},
                              {"model", m.key},
                              {"dim", dim},
                              {"precision", precision},
                              {"device", std::string(deferbench::device_name(dev.device))},
                              {"fit_s", p.fit_seconds},
                              {"train_rows", train.size()}};
        if (is_dense(m.spec) && precision == "fp32" && dev.is_cuda())
          fit["cpu_fit_s"] = fit_policy(spec, train, val, cal, cpu).fit_seconds;
        emit(fit);
        const std::string why = DevicePolicy::unsupported(p.stages);
        if (!why.empty()) {
          std::fprintf(stderr, "gpu_bench: %s: %s\n", m.key.c_str(), why.c_str());
          continue;
        }
        const DevicePolicy policy(p.stages, dev);
        // The effect of the precision on decisions, on held-out rows.
        const Routed decided = policy.route(held.features);
        const Decisions d = score(decided, held.teacher);
        nlohmann::json effect = {{"kind", "decisions"},
                                 {"model", m.key},
                                 {"dim", dim},
                                 {"precision", precision},
                                 {"rows", held.size()},
                                 {"coverage", d.coverage},
                                 {"teacher_agreement", d.agreement}};
        if (precision == "fp32") {
          fp32_decisions = decided;
        } else if (fp32_decisions.stage.size() == decided.stage.size()) {
          std::size_t same = 0;
          for (std::size_t i = 0; i < decided.stage.size(); ++i)
            same += decided.stage[i] == fp32_decisions.stage[i] &&
                    decided.label[i] == fp32_decisions.label[i];
          effect["same_decision_as_fp32"] =
              static_cast<double>(same) / static_cast<double>(decided.stage.size());
        }
        emit(effect);
        std::size_t cpu_timed_rows = 0;
        double cpu_seconds = 0.0;
        for (std::size_t batch : batches) {
          const Matrix x = batch <= pool.rows() ? Matrix::copy_of(pool.view().slice_rows(0, batch))
                                                : tiled(pool, batch);
          const auto resident = policy.upload(x);
          std::size_t handled = 0;
          const double t_res = best_seconds(reps, [&] {
            const Routed r = policy.route(*resident);
            handled = 0;
            for (int s : r.stage) handled += s >= 0;
          });
          const double t_host = best_seconds(reps, [&] { policy.route(x.view()); });
          // The CPU path on at most cpu_rows rows, timed once per row count (its rows/s do not
          // depend on the batch beyond that).
          const std::size_t crow = std::min(batch, cpu_rows);
          if (crow != cpu_timed_rows) {
            cpu_seconds =
                best_seconds(reps, [&] { route(p.stages, x.view().slice_rows(0, crow), cpu); });
            cpu_timed_rows = crow;
          }
          const double t_cpu = cpu_seconds;
          const double rows_s = static_cast<double>(batch) / t_res;
          const double bytes_row = static_cast<double>(dim * sizeof(float));
          emit({{"kind", "route"},
                {"model", m.key},
                {"dim", dim},
                {"precision", precision},
                {"batch", batch},
                {"device", std::string(deferbench::device_name(dev.device))},
                {"resident_rows_per_s", rows_s},
                {"from_host_rows_per_s", static_cast<double>(batch) / t_host},
                {"cpu_rows_per_s", static_cast<double>(crow) / t_cpu},
                {"cpu_threads", o.threads},
                {"bw_fraction", bandwidth > 0 ? rows_s * bytes_row / bandwidth : 0.0},
                {"speedup_vs_cpu", rows_s / (static_cast<double>(crow) / t_cpu)},
                {"coverage", static_cast<double>(handled) / static_cast<double>(batch)}});
        }
      }
    }
  }
  return 0;
}

}  // namespace
}  // namespace deferbench::bench

int main(int argc, char** argv) {
  try {
    return deferbench::bench::run(argc, argv);
  } catch (const deferbench::Error& e) {
    std::fprintf(stderr, "gpu_bench: %s\n", e.what());
    return 2;
  }
}
