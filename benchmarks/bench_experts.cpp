// Routing throughput of a multi-expert policy (issue 16; core/experts/expert_policy.h) against
// the l2d policy with the same surrogate, on the same rows:
//
//   route_experts/cpu/logreg/d:<dim>/b:<batch>/l2d            route() through the one-stage l2d
//                                                             policy (as route/cpu/logreg/...)
//   route_experts/cpu/logreg/d:<dim>/b:<batch>/bayes_plugin   route_experts: 4 LogReg estimators
//                                                             of P(wrong) (the surrogate + 3
//                                                             experts), the surrogate on its rows
//   route_experts/cpu/logreg/d:<dim>/b:<batch>/two_stage      route_experts: a 4-class LogReg
//                                                             rejector, the surrogate on its rows
//
// Synthetic 77-class features (256-d; tiny: 5 classes, 8-d); the l2d policy is fitted as in
// bench_routing.cpp (surrogate on 2,400 rows, acceptor, threshold); the experts' estimators and
// the rejector are fitted on the same training rows, with the surrogate's own correctness for
// choice 0 and experts j = 1..3 (β = 0.05, 0.1, 0.2; α = 1) right with probability 0.9 on the
// classes c ≡ j (mod 3) and 0.5 elsewhere. Each iteration routes the next `batch` rows of a
// 65,536-row pool. Counters: rows_per_s; surrogate_share (rows routed to the surrogate) or
// coverage (l2d); vs_l2d (rows/s over the l2d benchmark's at the same batch: the bar is ≥ 0.5).
#include <benchmark/benchmark.h>

#include <chrono>
#include <map>
#include <memory>
#include <random>

#include <fmt/format.h>

#include "benchmarks/bench_support.h"
#include "core/experts/costs.h"
#include "core/experts/expert_policy.h"
#include "core/util/error.h"
#include "models/dense/logreg.h"

namespace deferbench::bench {
namespace {

constexpr std::size_t kChoices = 4;  // the surrogate and J = 3 experts

struct Sizes {
  std::vector<std::size_t> batches;
  std::size_t dim, fit_rows, pool_rows, classes;
};

Sizes sizes(const BenchOptions& o) {
  if (o.tiny) return {{64}, 8, 400, 256, 5};
  return {{4096, 65536}, 256, 4000, 65536, 77};
}

struct Fixture {
  Matrix pool;
  FittedPolicy l2d;
  ExpertPolicy plugin, two_stage;
};

std::shared_ptr<LogReg> fit_estimator(const Dataset& train,
                                      const std::vector<std::uint8_t>& correct,
                                      const Context& ctx) {
  Dataset d;
  d.features = Matrix::copy_of(train.features.view());
  d.labels = std::make_shared<LabelSpace>(std::vector<std::string>{"right", "wrong"});
  for (std::uint8_t c : correct) d.teacher.push_back(c ? 0 : kWrongClass);
  auto m = std::make_shared<LogReg>(LogRegParams{});
  m->fit(d, nullptr, ctx);
  return m;
}

const Fixture& fixture(const BenchOptions& o, const Context& ctx) {
  static std::unique_ptr<Fixture> cached;
  if (cached) return *cached;
  on_release([] { cached.reset(); });
  const Sizes s = sizes(o);
  const Dataset all = synthetic_dataset(s.fit_rows + s.pool_rows, s.dim, s.classes, 42);
  const std::size_t a = s.fit_rows * 6 / 10, b = s.fit_rows * 8 / 10;
  const Dataset train = slice(all, 0, a), val = slice(all, a, b), cal = slice(all, b, s.fit_rows);
  auto f = std::make_unique<Fixture>();
  f->pool = Matrix::copy_of(all.features.view().slice_rows(s.fit_rows, all.size()));
  f->l2d = fit_policy(YAML::Load("name: logreg"), train, val, cal, ctx);
  const std::shared_ptr<const Classifier> surrogate = f->l2d.stages.at(0).surrogate;

  // Who is right on each training row.
  const std::size_t n = train.size();
  const std::vector<LabelId> pred = surrogate->predict(train.features, ctx);
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  Correctness correct(kChoices, std::vector<std::uint8_t>(n));
  for (std::size_t i = 0; i < n; ++i) {
    correct[0][i] = pred[i] == train.teacher[i];
    for (std::size_t j = 1; j < kChoices; ++j) {
      const bool strong = static_cast<std::size_t>(train.teacher[i]) % 3 == j % 3;
      correct[j][i] = coin(rng) < (strong ? 0.9 : 0.5) ? 1 : 0;
    }
  }
  const std::vector<ChoiceCost> choices = {{1.0, 0.0}, {1.0, 0.05}, {1.0, 0.1}, {1.0, 0.2}};
  const std::vector<std::string> names = {"surrogate", "llm_a", "llm_b", "llm_c"};

  ExpertPolicy& p = f->plugin;
  p.method = "bayes_plugin";
  p.names = names;
  p.choices = choices;
  p.lambda = 1.0;
  p.surrogate = surrogate;
  for (std::size_t j = 0; j < kChoices; ++j)
    p.estimators.push_back(fit_estimator(train, correct[j], ctx));
  p.constant_wrong.assign(kChoices, 0.0);

  ExpertPolicy& t = f->two_stage;
  t.method = "two_stage";
  t.names = names;
  t.choices = choices;
  t.lambda = 1.0;
  t.surrogate = surrogate;
  auto rejector = std::make_shared<LogReg>(LogRegParams{});
  rejector->fit_cost_weighted(train.features, comp_sum_weights(cost_matrix(correct, choices, 1.0)),
                              ctx);
  t.rejector = rejector;
  cached = std::move(f);
  return *cached;
}

// rows/s of the l2d benchmark per batch (it runs first: registration order).
std::map<std::size_t, double>& l2d_rate() {
  static std::map<std::size_t, double> r;
  return r;
}

enum class Which { kL2d, kPlugin, kTwoStage };

void route_bench(benchmark::State& state, const BenchOptions& o, std::size_t batch, Which which) {
  const Context ctx = make_context(Device::kCpu, o.threads);
  const Fixture* f = nullptr;
  try {
    f = &fixture(o, ctx);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  const MatrixView pool = f->pool.view();
  const std::size_t b = std::min(batch, pool.rows());
  std::size_t offset = 0, counted = 0;
  const ExpertPolicy& p = which == Which::kPlugin ? f->plugin : f->two_stage;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    if (offset + b > pool.rows()) offset = 0;
    const MatrixView x = pool.slice_rows(offset, offset + b);
    if (which == Which::kL2d) {
      const Routed r = route(f->l2d.stages, x, ctx);
      for (int st : r.stage) counted += st >= 0;
      benchmark::DoNotOptimize(r.label.data());
    } else {
      const ExpertRouting r = route_experts(p, x, ctx);
      for (int c : r.choice) counted += c == 0;
      benchmark::DoNotOptimize(r.choice.data());
    }
    offset += b;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double rows = static_cast<double>(state.iterations()) * static_cast<double>(b);
  state.counters["rows_per_s"] = benchmark::Counter(rows, benchmark::Counter::kIsRate);
  state.counters[which == Which::kL2d ? "coverage" : "surrogate_share"] =
      rows > 0 ? static_cast<double>(counted) / rows : 0.0;
  const double rate = seconds > 0 ? rows / seconds : 0.0;
  if (which == Which::kL2d)
    l2d_rate()[batch] = rate;
  else if (l2d_rate().count(batch) && l2d_rate()[batch] > 0)
    state.counters["vs_l2d"] = rate / l2d_rate()[batch];
}

}  // namespace

void register_expert_routing_benchmarks(const BenchOptions& o) {
  const Sizes s = sizes(o);
  for (std::size_t batch : s.batches)
    for (Which w : {Which::kL2d, Which::kPlugin, Which::kTwoStage}) {
      const char* what = w == Which::kL2d      ? "l2d"
                         : w == Which::kPlugin ? "bayes_plugin"
                                               : "two_stage";
      const std::string name =
          fmt::format("route_experts/cpu/logreg/d:{}/b:{}/{}", s.dim, batch, what);
      auto* bm = benchmark::RegisterBenchmark(
          name.c_str(), [&o, batch, w](benchmark::State& st) { route_bench(st, o, batch, w); });
      bm->UseRealTime()->Unit(benchmark::kMicrosecond);
      if (o.tiny) bm->Iterations(1);
    }
}

}  // namespace deferbench::bench
