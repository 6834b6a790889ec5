#include "experiments/stream_run.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/config/compose.h"
#include "core/config/fields.h"
#include "core/routing/families.h"
#include "core/stream/memory.h"
#include "core/stream/monitor.h"
#include "core/stream/order.h"
#include "core/util/atomic_file.h"
#include "core/util/context.h"
#include "core/util/error.h"
#include "experiments/prepare.h"
#include "experiments/run_steps.h"
#include "experiments/stream_sim.h"
#include "models/registry.h"

namespace deferbench {

namespace {

// Every row of the run's splits, one after the other (the stream is a permutation of them).
Dataset concat(const std::vector<const Dataset*>& parts) {
  Dataset out;
  std::size_t rows = 0, cols = 0;
  for (const Dataset* d : parts) {
    rows += d->size();
    cols = std::max(cols, d->features.cols());
  }
  out.features = Matrix(rows, cols);
  std::size_t at = 0;
  const bool gold = std::all_of(parts.begin(), parts.end(),
                                [](const Dataset* d) { return d->has_gold() || d->size() == 0; });
  const bool times = std::all_of(parts.begin(), parts.end(),
                                 [](const Dataset* d) { return d->times.size() == d->size(); });
  for (const Dataset* d : parts) {
    for (std::size_t i = 0; i < d->size(); ++i, ++at)
      for (std::size_t j = 0; j < cols; ++j) out.features(at, j) = d->features(i, j);
    out.teacher.insert(out.teacher.end(), d->teacher.begin(), d->teacher.end());
    if (gold) out.gold.insert(out.gold.end(), d->gold.begin(), d->gold.end());
    if (times) out.times.insert(out.times.end(), d->times.begin(), d->times.end());
    out.ids.insert(out.ids.end(), d->ids.begin(), d->ids.end());
    out.labels = d->labels;
  }
  return out;
}

struct Scenario {
  std::string kind;
  bool has_change = false;
  TeacherChange change;
  std::size_t changed_answers = 0;
};

// The two most frequent teacher answers (ties: the lower id).
std::pair<LabelId, LabelId> two_most_frequent(const std::vector<LabelId>& teacher,
                                              std::size_t n_classes) {
  std::vector<std::size_t> count(n_classes, 0);
  for (LabelId t : teacher)
    if (t >= 0) ++count[static_cast<std::size_t>(t)];
  std::vector<std::size_t> idx(n_classes);
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  std::stable_sort(idx.begin(), idx.end(),
                   [&](std::size_t a, std::size_t b) { return count[a] > count[b]; });
  return {static_cast<LabelId>(idx[0]), static_cast<LabelId>(idx.size() > 1 ? idx[1] : idx[0])};
}

// The stream: every row in the scenario's order, the teacher edited where the scenario says.
Dataset build_stream(const PreparedData& prep, const StreamSettings& st, std::uint64_t seed,
                     Scenario& sc) {
  const Dataset all = concat({&prep.train, &prep.val, &prep.cal, &prep.test});
  std::vector<std::size_t> order = stream_order(all, st.order, seed);
  std::vector<LabelId> cls = all.teacher;
  for (std::size_t i = 0; i < cls.size() && all.has_gold(); ++i)
    if (all.gold[i] != kNoLabel) cls[i] = all.gold[i];
  const std::size_t k = all.n_classes();
  sc.kind = st.scenario;
  if (st.scenario == "waves") order = waves_order(order, cls, k, st.waves, seed);
  if (st.scenario == "prior_shift") order = prior_shift_order(order, cls, k, st.prior_shift, seed);
  Dataset s = all.subset(order);
  if (st.scenario == "teacher_change") {
    auto [from, to] = two_most_frequent(s.teacher, k);
    if (!st.change_from.empty()) from = s.labels->id(st.change_from);
    if (!st.change_to.empty()) to = s.labels->id(st.change_to);
    DB_CHECK(from != to, "config: 'stream.change_to': expected a class other than '{}'",
             s.labels->name(from));
    sc.has_change = true;
    sc.change = {static_cast<std::size_t>(st.change_at * static_cast<double>(s.size())), from, to};
    sc.changed_answers = apply_teacher_change(s.teacher, sc.change);
  }
  return s;
}

// The injected teacher change: when the monitor caught it (queries and audited queries after the
// change) and when the windowed agreement was back at the target after a refit.
nlohmann::json change_response(const Scenario& sc, const VariantResult& r, const nlohmann::json& v,
                               double audit_share, std::uint64_t seed, double target) {
  nlohmann::json j = {{"change_at", sc.change.at}};
  const auto alarm = std::find_if(r.alarms.begin(), r.alarms.end(),
                                  [&](std::size_t a) { return a >= sc.change.at; });
  if (alarm == r.alarms.end()) {
    j["caught"] = false;
    return j;
  }
  std::size_t audited = 0;
  for (std::size_t p = sc.change.at; p <= *alarm; ++p)
    audited += r.handled[p] && stream_draw(seed, kCalibrationFlag, p) < audit_share;
  j["caught"] = true;
  j["alarm_at"] = *alarm;
  j["delay_queries"] = *alarm - sc.change.at;
  j["delay_audited"] = audited;
  for (const auto& f : v["refits"])
    if (f["at"].get<std::size_t>() > *alarm && f["certified"].get<bool>()) {
      const std::size_t at = f["at"].get<std::size_t>();
      j["recertified_at"] = at;
      for (std::size_t w = 0; w < r.window_first.size(); ++w)
        if (r.window_first[w] >= at && r.window_agreement[w] >= target) {
          j["recovered_window_first"] = r.window_first[w];
          break;
        }
      break;
    }
  return j;
}

}  // namespace

}  // namespace deferbench

namespace deferbench {

RunOutput compute_stream_run(const YAML::Node& config, const RunOptions& options) {
  const auto t_start = RunClock::now();
  const RunPlan plan = plan_run(config, options);
  RunSettings s = plan.settings;
  const StreamSettings& st = s.stream;
  check_output_folder(s.results_dir / s.name, "results_dir");
  DB_CHECK(!s.audit,
           "config: 'audit': a stream run writes no audit.json (its refits' class shifts are in "
           "metrics.json); unset audit or stream");
  DB_CHECK(s.save_policy.empty(),
           "config: 'save_policy': a stream run replays many policies; it saves none (unset it)");
  // The stream replays every row once: no cross-fitting pool (it would copy train into val).
  s.pipeline.cross_fit_folds = 0;
  RunOutput out;
  // Checked before the traces are read.
  DB_CHECK(FieldReader(s.dataset, "dataset").get_int("subsample_test", 0, 0, INT64_MAX) == 0,
           "config: 'dataset.subsample_test': a stream replays the trace set's own rows; rows "
           "from outside the subsample have no place in it (set subsample_test: 0)");
  out.prep = std::make_shared<PreparedData>(prepare_data(s, plan.ctx, false));
  Scenario sc;
  const Dataset stream = build_stream(*out.prep, st, s.seed, sc);
  DB_CHECK(stream.size() > st.cold_start,
           "config: 'stream.cold_start': expected fewer than the stream's {} queries, got {}",
           stream.size(), st.cold_start);
  CalibrationSettings calib = s.calibration;
  calib.window_test = false;
  if (st.window_guarantee) calib.window = static_cast<double>(st.window);
  const double target = calib.targets.front();

  out.stream_csv = stream_csv_header();
  nlohmann::json variants = nlohmann::json::object();
  for (const std::string& name : st.variants) {
    const auto t = RunClock::now();
    VariantResult r = simulate_stream(stream, st, stream_variant(name), plan, calib, target);
    out.stream_csv += r.csv;
    r.json["seconds"] = seconds_since(t);
    const std::size_t judged = r.json["windows_with_handled"].get<std::size_t>();
    r.json["share_windows_below_target"] =
        judged ? static_cast<double>(r.json["windows_below_target"].get<std::size_t>()) / judged
               : 0.0;
    if (sc.has_change)
      r.json["teacher_change"] = change_response(sc, r, r.json, st.audit_share, s.seed, target);
    spdlog::info("stream {}: {} queries, {} teacher calls, coverage {:.3f}, {:.1f} s", name,
                 stream.size(), r.json["teacher_calls"].get<std::size_t>(),
                 r.json["coverage"].get<double>(), r.json["seconds"].get<double>());
    variants[name] = std::move(r.json);
  }
  nlohmann::json scenario = {{"kind", sc.kind}, {"order", st.order}};
  if (st.scenario == "waves") scenario["waves"] = st.waves;
  if (st.scenario == "prior_shift") scenario["strength"] = st.prior_shift;
  if (sc.has_change)
    scenario["teacher_change"] = {{"at", sc.change.at},
                                  {"from", stream.labels->name(sc.change.from)},
                                  {"to", stream.labels->name(sc.change.to)},
                                  {"answers_changed", sc.changed_answers}};
  out.metrics = {{"kind", "stream"},
                 {"name", s.name},
                 {"seed", s.seed},
                 {"dataset", out.prep->dataset_name},
                 {"features", out.prep->feature_source},
                 {"queries", stream.size()},
                 {"model", plan.zoo.front().label},
                 {"target", target},
                 {"delta", calib.guaranteed.delta},
                 {"test", calib.test},
                 {"window_guarantee", st.window_guarantee ? nlohmann::json(st.window) : nullptr},
                 {"scenario", scenario},
                 {"stream",
                  {{"cold_start", st.cold_start},
                   {"audit_share", st.audit_share},
                   {"refit_every", st.refit_every},
                   {"monitor_delta", st.monitor_delta},
                   {"memory_k", st.memory_k},
                   {"cross_fit", st.cross_fit},
                   {"window", st.window}}},
                 {"variants", variants},
                 {"seconds", {{"total", seconds_since(t_start)}}}};
  out.config = clone(config);
  out.settings = plan.settings;
  return out;
}

}  // namespace deferbench
