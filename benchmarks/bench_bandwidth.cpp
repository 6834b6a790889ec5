// The machine's memory bandwidth, the yardstick for routing throughput:
//
//   bandwidth/read/mb:<size>   sum of 64-bit words over the buffer (bytes read per second)
//   bandwidth/copy/mb:<size>   memcpy of the buffer (bytes read + written per second)
//
// Same thread count as the routing benchmarks (--threads), buffers far larger than the caches
// (256 MiB; tiny: 8 MiB). The route/* benchmarks divide their input bytes/s by a read probe
// of the same kind, run once per process (counter bw_fraction).
#include <benchmark/benchmark.h>

#include <numeric>
#include <vector>

#include <fmt/format.h>

#include "benchmarks/bench_support.h"

namespace deferbench::bench {
namespace {

std::size_t probe_bytes(const BenchOptions& o) {
  return o.tiny ? (8u << 20) : (256u << 20);
}

void read_probe(benchmark::State& state, const BenchOptions& o) {
  const std::size_t n = probe_bytes(o) / sizeof(std::uint64_t);
  std::vector<std::uint64_t> buf(n);
  std::iota(buf.begin(), buf.end(), std::uint64_t{1});
  for (auto _ : state) benchmark::DoNotOptimize(read_pass(buf.data(), n, o.threads));
  const double bytes = static_cast<double>(state.iterations()) * static_cast<double>(n * 8);
  state.counters["bytes_per_s"] = benchmark::Counter(bytes, benchmark::Counter::kIsRate);
}

void copy_probe(benchmark::State& state, const BenchOptions& o) {
  const std::size_t n = probe_bytes(o);
  std::vector<char> src(n, 1), dst(n, 0);
  for (auto _ : state) {
    copy_pass(dst.data(), src.data(), n, o.threads);
    benchmark::ClobberMemory();
  }
  const double bytes = static_cast<double>(state.iterations()) * static_cast<double>(2 * n);
  state.counters["bytes_per_s"] = benchmark::Counter(bytes, benchmark::Counter::kIsRate);
}

}  // namespace

void register_bandwidth_benchmarks(const BenchOptions& o) {
  const std::size_t mb = probe_bytes(o) >> 20;
  auto* r = benchmark::RegisterBenchmark(fmt::format("bandwidth/read/mb:{}", mb).c_str(),
                                         [&o](benchmark::State& st) { read_probe(st, o); });
  auto* c = benchmark::RegisterBenchmark(fmt::format("bandwidth/copy/mb:{}", mb).c_str(),
                                         [&o](benchmark::State& st) { copy_probe(st, o); });
  for (auto* b : {r, c}) {
    b->UseRealTime()->Unit(benchmark::kMillisecond);
    if (o.tiny) b->Iterations(1);
  }
}

}  // namespace deferbench::bench
