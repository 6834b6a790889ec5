// Warm refits (issue 17: an online cascade refits its surrogate every N new labels):
//
//   warm_start/<model>/cold/old:<a>/new:<b>/d:64/classes:10   a fresh model fitted on the a + b
//                                                             rows (old, then new)
//   warm_start/<model>/warm/old:<a>/new:<b>/d:64/classes:10   the same fit after warm_start_from
//                                                             (the model fitted on the old rows)
//
// for logreg (L-BFGS) and mlp_1h (Adam with early stopping) at their defaults, on synthetic rows
// (benchmarks/bench_support.h): 50,000 old + 50,000 new, and 90,000 + 10,000 (a refit after
// fewer new labels); val: 10,000 more rows, for early stopping. Tiny: 400 rows × 8, 5 classes.
// The tree models rf, et (a warm fit grows warm_trees = 50 of the 200 trees) and gbt (a warm
// fit adds warm_rounds = 25 rounds to the previous 100) on 90,000 + 10,000 only: their warm
// cost does not depend on the share of new rows.
// The previous model is fitted once per shape, outside the timing. Counters: fit_s, steps (L-BFGS
// iterations or epochs run; trees grown; boosting rounds run), and on the warm run
// warm_over_cold (its fit_s over the cold run's in the same process; 0 when the cold run was
// filtered out). The bar: ≤ 1/3.
#include <benchmark/benchmark.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "benchmarks/bench_support.h"
#include "models/dense/logreg.h"
#include "models/dense/mlp.h"
#include "models/registry.h"
#include "models/trees/forest.h"
#include "models/trees/gbt.h"

namespace deferbench::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Rows in all (old + new) and the old ones among them.
struct Shape {
  std::size_t rows, old;
};
std::vector<Shape> warm_shapes(const BenchOptions& o, bool trees) {
  if (o.tiny)
    return trees ? std::vector<Shape>{{400, 360}} : std::vector<Shape>{{400, 200}, {400, 360}};
  if (trees) return {{100000, 90000}};
  return {{100000, 50000}, {100000, 90000}};
}
bool is_tree_model(const std::string& key) {
  return key == "rf" || key == "et" || key == "gbt";
}
std::size_t warm_dim(const BenchOptions& o) {
  return o.tiny ? 8 : 64;
}
std::size_t warm_classes(const BenchOptions& o) {
  return o.tiny ? 5 : 10;
}

// The rows of every shape: one synthetic set, its first rows() the training rows (old first).
struct WarmData {
  std::size_t rows = 0;
  Dataset all_rows, val;
};

const WarmData& warm_data(const BenchOptions& o, std::size_t rows) {
  static std::unique_ptr<WarmData> cached;
  if (!cached) on_release([] { cached.reset(); });
  if (!cached || cached->rows != rows) {
    cached.reset();
    const std::size_t val_rows = rows / 10;
    const Dataset all = synthetic_dataset(rows + val_rows, warm_dim(o), warm_classes(o), 23);
    auto d = std::make_unique<WarmData>();
    d->rows = rows;
    d->all_rows = slice(all, 0, rows);
    d->val = slice(all, rows, rows + val_rows);
    cached = std::move(d);
  }
  return *cached;
}

// The model fitted on the old rows, per model key and shape (fitted on first use).
const Classifier& previous_model(const BenchOptions& o, const ZooModel& m, Shape shape,
                                 const Context& ctx) {
  static std::map<std::string, std::unique_ptr<Classifier>> cached;
  if (cached.empty()) on_release([] { cached.clear(); });
  std::unique_ptr<Classifier>& model = cached[fmt::format("{}/{}", m.key, shape.old)];
  if (!model) {
    const WarmData& data = warm_data(o, shape.rows);
    model = builtin_models().make(m.spec, "bench");
    model->fit(slice(data.all_rows, 0, shape.old), &data.val, ctx);
  }
  return *model;
}

// L-BFGS iterations (logreg) or epochs run (MLPs), trees grown (forests) or boosting rounds run
// (gbt) of a fitted model's last fit.
int steps_of(const Classifier& model) {
  if (const auto* lr = dynamic_cast<const LogReg*>(&model))
    return lr->params().solver == LogRegSolver::kLbfgs ? lr->iterations() : lr->epochs_run();
  if (const auto* mlp = dynamic_cast<const Mlp*>(&model)) return mlp->epochs_run();
  if (const auto* forest = dynamic_cast<const TreeEnsemble*>(&model))
    return forest->warm_started() ? forest->params().warm_trees : forest->params().n_trees;
  if (const auto* gbt = dynamic_cast<const GbtClassifier*>(&model))
    return static_cast<int>(gbt->train_loss().size());
  return 0;
}

// The cold runs' seconds per fit, by model key and shape, for the warm runs' ratio.
std::map<std::string, double>& cold_seconds() {
  static std::map<std::string, double> s;
  return s;
}

void refit(benchmark::State& state, const BenchOptions& o, const ZooModel& m, Shape shape,
           bool warm) {
  const Context ctx = make_context(Device::kCpu, o.threads);
  const WarmData* data = nullptr;
  const Classifier* previous = nullptr;
  try {
    if (warm) previous = &previous_model(o, m, shape, ctx);
    data = &warm_data(o, shape.rows);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  double seconds = 0;
  int steps = 0;
  std::unique_ptr<Classifier> last;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    std::unique_ptr<Classifier> model = builtin_models().make(m.spec, "bench");
    if (warm && !model->warm_start_from(*previous)) {
      state.SkipWithError("warm_start_from refused the previous model");
      break;
    }
    try {
      model->fit(data->all_rows, &data->val, ctx);
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      break;
    }
    benchmark::DoNotOptimize(model.get());
    seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    steps = steps_of(*model);
    last = std::move(model);
  }
  const double fit_s = state.iterations() > 0 ? seconds / state.iterations() : 0.0;
  state.counters["fit_s"] = fit_s;
  state.counters["steps"] = steps;
  if (const auto* mlp = dynamic_cast<const Mlp*>(last.get()); mlp && !mlp->val_loss().empty())
    state.counters["best_val_loss"] =
        *std::min_element(mlp->val_loss().begin(), mlp->val_loss().end());
  const std::string key = fmt::format("{}/{}", m.key, shape.old);
  if (!warm) {
    cold_seconds()[key] = fit_s;
  } else {
    const auto cold = cold_seconds().find(key);
    state.counters["warm_over_cold"] =
        cold != cold_seconds().end() && cold->second > 0 ? fit_s / cold->second : 0.0;
  }
}

}  // namespace

void register_warm_start_benchmarks(const BenchOptions& o) {
  for (const ZooModel& m : zoo_models(o, nullptr)) {
    if (m.key != "logreg" && m.key != "mlp_1h" && !is_tree_model(m.key)) continue;
    for (const Shape shape : warm_shapes(o, is_tree_model(m.key)))
      for (bool warm : {false, true}) {  // cold first: the warm run reads its time
        const std::string name = fmt::format("warm_start/{}/{}/old:{}/new:{}/d:{}/classes:{}",
                                             m.key, warm ? "warm" : "cold", shape.old,
                                             shape.rows - shape.old, warm_dim(o), warm_classes(o));
        auto* b = benchmark::RegisterBenchmark(
            name.c_str(),
            [&o, m, shape, warm](benchmark::State& st) { refit(st, o, m, shape, warm); });
        // One fit is the measurement (seconds each on 100,000 rows).
        b->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(1);
      }
  }
}

}  // namespace deferbench::bench
