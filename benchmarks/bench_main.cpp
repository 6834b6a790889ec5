// deferbench_bench: the Google Benchmark suite (see benchmarks/README.md).
//
//   deferbench_bench                                  the default suite
//   deferbench_bench --tiny                           tiny data, one iteration each (smoke test)
//   deferbench_bench --benchmark_filter='^route/cpu/logreg/'
//   deferbench_bench --fit-scales 1,10,100 --benchmark_filter='^fit/logreg/'
//   deferbench_bench --scale --benchmark_filter='^scale/'
//
// Own flags are read first and removed; the rest go to Google Benchmark.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "benchmarks/bench_support.h"
#include "core/util/error.h"
#include "models/backend.h"

int main(int argc, char** argv) {
  using namespace deferbench::bench;
  static BenchOptions options;
  try {
    options = BenchOptions::parse(&argc, argv);
  } catch (const deferbench::Error& e) {
    std::fprintf(stderr, "deferbench_bench: error: %s\n%s", e.what(), BenchOptions::usage());
    return 2;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  spdlog::set_level(spdlog::level::warn);  // fits log at info; keep the tables readable

  benchmark::AddCustomContext("deferbench_threads", std::to_string(options.threads));
  benchmark::AddCustomContext("deferbench_tiny", options.tiny ? "1" : "0");
  benchmark::AddCustomContext("deferbench_cuda", deferbench::cuda_available() ? "1" : "0");
  try {
    register_bandwidth_benchmarks(options);
    register_routing_benchmarks(options);
    register_expert_routing_benchmarks(options);
    register_text_routing_benchmarks(options);
    register_fit_benchmarks(options);
    register_warm_start_benchmarks(options);
    register_calibration_benchmarks(options);
    if (options.scale) register_scale_benchmarks(options);
  } catch (const deferbench::Error& e) {
    std::fprintf(stderr, "deferbench_bench: error: %s\n", e.what());
    return 2;
  }
  benchmark::RunSpecifiedBenchmarks();
  release_fixtures();
  benchmark::Shutdown();
  return 0;
}
