#include "experiments/stream_run.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/config/compose.h"
#include "core/routing/families.h"
#include "core/stream/memory.h"
#include "core/stream/monitor.h"
#include "core/stream/order.h"
#include "core/util/atomic_file.h"
#include "core/util/context.h"
#include "core/util/error.h"
#include "experiments/prepare.h"
#include "experiments/run_steps.h"
#include "models/registry.h"

namespace deferbench {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

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

// A uniform number in [0, 1) for stream position p: the same for every variant.
double unit(std::uint64_t seed, std::uint64_t salt, std::size_t p) {
  return static_cast<double>(mix_seed(mix_seed(seed, salt), p) >> 11) * 0x1.0p-53;
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

// Stream positions of the labels, by what they serve.
struct Labels {
  std::vector<std::size_t> train, val, cal;
  std::size_t cal_start = 0;  // the pool is cal[cal_start..]: an alarm restarts it
  // With forget_on_alarm, an alarm restarts the training and acceptor pools too.
  std::size_t train_start = 0, val_start = 0;
};

// The last `keep` elements of v from `from` on (keep 0: all).
std::vector<std::size_t> tail(const std::vector<std::size_t>& v, std::size_t keep,
                              std::size_t from = 0) {
  std::size_t start = from;
  if (keep > 0 && v.size() - from > keep) start = v.size() - keep;
  return {v.begin() + static_cast<std::ptrdiff_t>(start), v.end()};
}

struct Policy {
  std::vector<Stage> stages;  // empty: everything deferred
  bool feasible = false;
  std::shared_ptr<const Classifier> surrogate;  // what the next warm refit continues from
};

// One window of stream.csv.
struct Window {
  std::size_t first = 0, queries = 0, handled_s = 0, handled_m = 0, deferred = 0, audited = 0;
  std::size_t calls = 0, agreed = 0, fallback = 0, refits = 0, warm_refits = 0;
  double refit_seconds = 0;
};

struct VariantResult {
  std::string csv;
  nlohmann::json json;
  // Per stream position: the policy epoch that served it (0: cold start) and whether it was
  // handled; per window: its first position and true agreement on handled (NaN: none handled).
  std::vector<int> epoch_of;
  std::vector<std::uint8_t> handled;
  std::vector<std::size_t> window_first, alarms;
  std::vector<double> window_agreement;
};

class StreamSim {
 public:
  StreamSim(const Dataset& s, const StreamSettings& st, const StreamVariant& v, const RunPlan& plan,
            const CalibrationSettings& calib, double target)
      : s_(s),
        st_(st),
        v_(v),
        plan_(plan),
        calib_(calib),
        target_(target),
        monitor_(target, st.monitor_delta),
        epoch_of_(s.size(), 0),
        handled_(s.size(), 0) {}

  VariantResult run();

 private:
  void fit(std::size_t pos);
  void refresh_memory();
  void label(std::size_t pos, bool cold, bool in_fallback);
  void flush(std::size_t pos);
  void alarm(std::size_t pos, const char* why);

  const Dataset& s_;
  const StreamSettings& st_;
  StreamVariant v_;
  const RunPlan& plan_;
  const CalibrationSettings& calib_;
  double target_;
  std::uint64_t seed_ = 0;

  Policy policy_;
  AgreementMonitor monitor_;
  Labels labels_;
  bool fallback_ = true;
  int epoch_ = 0;
  std::size_t since_refit_ = 0, since_alarm_ = 0, memory_new_ = 0;
  std::vector<int> epoch_of_;
  std::vector<std::uint8_t> handled_;
  Routed routed_;
  std::size_t routed_from_ = 0, routed_to_ = 0;
  bool stale_ = true;

  Window w_;
  std::string csv_;
  std::size_t cum_queries_ = 0, cum_calls_ = 0, cum_audits_ = 0, cum_handled_ = 0;
  std::size_t cum_agreed_ = 0, cum_cold_ = 0, windows_ = 0, windows_below_ = 0;
  std::size_t windows_judged_ = 0;
  double cum_cost_ = 0;
  nlohmann::json refits_ = nlohmann::json::array();
  std::vector<std::size_t> alarms_;
  nlohmann::json alarm_log_ = nlohmann::json::array();
  std::vector<std::uint8_t> known_;  // classes the current surrogate was trained on
  std::size_t novel_ = 0;            // teacher answers in other classes since the last refit
  std::vector<double> window_agreement_;
  std::vector<std::size_t> window_first_;
};

void StreamSim::label(std::size_t pos, bool cold, bool in_fallback) {
  // Calibration pool: the flag, drawn independently of x and of the policy.
  const double flag = unit(seed_, 0xCA1, pos), role = unit(seed_, 0x701E, pos);
  const double cal_share =
      cold ? st_.cold_cal_share
           : (in_fallback ? std::max(st_.audit_share, st_.fallback_cal_share) : st_.audit_share);
  if (flag < cal_share) {
    labels_.cal.push_back(pos);
  } else if (role < st_.val_share) {
    labels_.val.push_back(pos);
  } else {
    labels_.train.push_back(pos);
    ++memory_new_;
  }
  ++since_refit_;
  ++since_alarm_;
}

// The policy is no longer trusted: everything is deferred until a refit certifies again, and
// only labels from now on calibrate it.
void StreamSim::alarm(std::size_t pos, const char* why) {
  fallback_ = true;
  alarms_.push_back(pos);
  alarm_log_.push_back({{"at", pos}, {"why", why}});
  labels_.cal_start = labels_.cal.size();
  if (st_.forget_on_alarm) {
    labels_.train_start = labels_.train.size();
    labels_.val_start = labels_.val.size();
  }
  since_alarm_ = 0;
}

void StreamSim::fit(std::size_t pos) {
  const auto t = RunClock::now();
  ++epoch_;
  const std::vector<std::size_t> train_pos =
      tail(labels_.train, st_.max_train, labels_.train_start);
  const std::vector<std::size_t> cal_pos = tail(labels_.cal, st_.cal_window, labels_.cal_start);
  const Dataset train = s_.subset(train_pos),
                val = s_.subset(tail(labels_.val, 0, labels_.val_start)), cal = s_.subset(cal_pos);
  const std::set<LabelId> classes(train.teacher.begin(), train.teacher.end());
  Policy p;
  bool warm = false;
  std::string why;
  if (classes.size() < 2 || val.size() == 0 || cal.size() < 2) {
    why = fmt::format("{} training classes, {} acceptor rows, {} calibration rows", classes.size(),
                      val.size(), cal.size());
  } else {
    const Context ctx = plan_.ctx.derive(static_cast<std::uint64_t>(epoch_));
    const Classifier* previous = v_.warm && policy_.surrogate ? policy_.surrogate.get() : nullptr;
    std::vector<FittedStage> fitted =
        fit_cascade(plan_.zoo.front().spec, 1, train, val, cal, plan_.settings.pipeline,
                    plan_.factory, ctx, nullptr, previous);
    warm = fitted.front().warm_started;
    p.surrogate = fitted.front().stage.surrogate;
    if (v_.memory) {
      FamilyOptions mem = plan_.settings.pipeline;
      mem.acceptor.knn = 0;
      mem.ood_k = 0;
      const int k = st_.memory_k;
      const std::size_t n_classes = s_.n_classes();
      const ModelFactory factory = [&](const YAML::Node& spec, const std::string& path) {
        if (spec["name"] && spec["name"].as<std::string>() == "memory")
          return std::unique_ptr<Classifier>(new TeacherMemory(k, n_classes));
        return plan_.factory(spec, path);
      };
      const Dataset remembered =
          s_.subset(tail(labels_.train, st_.memory_max, labels_.train_start));
      fitted.push_back(std::move(
          fit_cascade(YAML::Load("{name: memory}"), 1, remembered, val, cal, mem, factory, ctx)
              .front()));
      memory_new_ = 0;
    }
    const BuiltPolicy built =
        build_policy(v_.memory ? "rsb" : "l2d", fitted, val, cal, target_, calib_,
                     plan_.settings.pipeline, CalibrateOn::kCal, mix_seed(seed_, epoch_));
    p.stages = built.stages;
    p.feasible = built.feasible;
    if (!p.feasible) why = "the calibration certified no threshold";
  }
  if (!p.surrogate) p.surrogate = policy_.surrogate;
  policy_ = std::move(p);
  known_.assign(s_.n_classes(), 0);
  for (LabelId c : classes)
    if (c >= 0) known_[static_cast<std::size_t>(c)] = 1;
  novel_ = 0;
  fallback_ = !policy_.feasible;
  monitor_.restart();
  since_refit_ = 0;
  since_alarm_ = 0;
  stale_ = true;
  const double seconds = seconds_since(t);
  ++w_.refits;
  w_.warm_refits += warm;
  w_.refit_seconds += seconds;
  nlohmann::json r = {{"at", pos},
                      {"epoch", epoch_},
                      {"train_rows", train.size()},
                      {"acceptor_rows", val.size()},
                      {"calibration_rows", cal.size()},
                      {"warm", warm},
                      {"seconds", seconds},
                      {"certified", policy_.feasible}};
  if (!why.empty()) r["why_not"] = why;
  if (policy_.feasible)
    r["calibrated_coverage"] =
        cal.size() ? static_cast<double>(policy_.stages.front().cal_accepted) / cal.size() : 0.0;
  refits_.push_back(std::move(r));
}

void StreamSim::refresh_memory() {
  if (policy_.stages.size() < 2 || memory_new_ < st_.memory_refresh) return;
  auto memory = std::make_shared<TeacherMemory>(st_.memory_k, s_.n_classes());
  memory->fit(s_.subset(tail(labels_.train, st_.memory_max, labels_.train_start)), nullptr,
              plan_.ctx);
  policy_.stages[1].surrogate = memory;
  memory_new_ = 0;
  stale_ = true;
}

void StreamSim::flush(std::size_t pos) {
  if (w_.queries == 0) return;
  const std::size_t handled = w_.handled_s + w_.handled_m;
  const double agreement = handled ? static_cast<double>(w_.agreed) / handled : kNaN;
  ++windows_;
  if (handled > 0) {
    ++windows_judged_;
    if (agreement < target_) ++windows_below_;
  }
  window_agreement_.push_back(agreement);
  window_first_.push_back(w_.first);
  const double coverage = static_cast<double>(handled) / w_.queries;
  csv_ += fmt::format(
      "{},{},{},{},{},{},{},{},{},{},{:.4f},{},{:.6g},{},{:.4f},{:.4f},{},{},{},{},{:.4f},{},{},{:."
      "6g},{}\n",
      v_.name, windows_ - 1, w_.first, w_.queries, handled, w_.handled_s, w_.handled_m, w_.deferred,
      w_.audited, w_.calls, coverage, handled ? fmt::format("{:.4f}", agreement) : "", target_,
      w_.fallback, monitor_.lower(), monitor_.upper(), monitor_.count(), epoch_, w_.refits,
      w_.warm_refits, w_.refit_seconds, cum_queries_, cum_calls_, cum_cost_,
      cum_queries_ - cum_calls_);
  w_ = Window{};
  w_.first = pos;
}

VariantResult StreamSim::run() {
  seed_ = plan_.settings.seed;
  const std::size_t n = s_.size();
  const double teacher_cost = plan_.settings.pipeline.teacher_cost;
  const double surrogate_cost = plan_.settings.pipeline.surrogate_cost;
  const std::size_t cold = std::min(st_.cold_start, n);
  const std::size_t after_alarm = st_.refit_after_alarm ? st_.refit_after_alarm : st_.cold_start;
  for (std::size_t pos = 0; pos < n; ++pos) {
    const bool in_policy = pos >= cold && !fallback_ && !policy_.stages.empty();
    if (in_policy && (stale_ || pos >= routed_to_)) {
      routed_from_ = pos;
      routed_to_ = std::min(n, pos + st_.chunk);
      std::vector<std::size_t> rows(routed_to_ - routed_from_);
      std::iota(rows.begin(), rows.end(), routed_from_);
      const Matrix x = gather_rows(s_.features, rows);
      routed_ = route(policy_.stages, x.view(), plan_.ctx);
      stale_ = false;
    }
    const LabelId teacher = s_.teacher[pos];
    ++w_.queries;
    ++cum_queries_;
    epoch_of_[pos] = epoch_;
    int stage = -1;
    LabelId answer = kNoLabel;
    if (in_policy) {
      stage = routed_.stage[pos - routed_from_];
      answer = routed_.label[pos - routed_from_];
    }
    if (stage < 0) {  // the teacher answers: a label
      ++w_.deferred;
      ++w_.calls;
      ++cum_calls_;
      cum_cost_ += teacher_cost;
      if (pos < cold) ++cum_cold_;
      if (!in_policy && pos >= cold) ++w_.fallback;
      label(pos, pos < cold, !in_policy);
      // A class the surrogate never saw: it cannot answer its queries, and the calibration's
      // past rows did not contain them. Enough of them and the policy is no longer trusted.
      if (in_policy && st_.novel_alarm > 0 && teacher >= 0 &&
          !known_[static_cast<std::size_t>(teacher)] && ++novel_ >= st_.novel_alarm)
        alarm(pos, "novel classes");
    } else {
      handled_[pos] = 1;
      (stage == 0 ? w_.handled_s : w_.handled_m) += 1;
      ++cum_handled_;
      cum_cost_ += surrogate_cost;
      const bool agrees = answer == teacher;
      w_.agreed += agrees;
      cum_agreed_ += agrees;
      if (unit(seed_, 0xCA1, pos) < st_.audit_share) {  // an audit: bought, never trained on
        ++w_.audited;
        ++w_.calls;
        ++cum_calls_;
        ++cum_audits_;
        cum_cost_ += teacher_cost;
        labels_.cal.push_back(pos);
        ++since_refit_;
        ++since_alarm_;
        // A confidence sequence that has watched a long stretch above the target reacts slowly
        // to a drop (core/stats/confidence_sequence.h): a fresh one every monitor_epoch audits
        // bounds the delay; each epoch spends its own δ_k (core/stream/monitor.h).
        if (st_.monitor_epoch > 0 && monitor_.count() >= st_.monitor_epoch) monitor_.restart();
        monitor_.observe(agrees);
        if (monitor_.alarmed()) alarm(pos, "monitor");
      }
    }
    const std::size_t next = pos + 1;
    if (next == cold) {
      fit(next);
    } else if (next > cold && v_.refits) {
      if (fallback_ ? since_alarm_ >= after_alarm : since_refit_ >= st_.refit_every) fit(next);
    }
    if (v_.memory && !fallback_) refresh_memory();
    if (next % st_.window == 0 || next == n) flush(next);
  }
  VariantResult out;
  out.csv = std::move(csv_);
  nlohmann::json j;
  j["queries"] = n;
  j["teacher_calls"] = cum_calls_;
  j["cold_start_calls"] = cum_cold_;
  j["audit_calls"] = cum_audits_;
  j["deferred_calls"] = cum_calls_ - cum_audits_ - cum_cold_;
  j["calls_saved"] = n - cum_calls_;
  j["calls_saved_share"] = n ? static_cast<double>(n - cum_calls_) / n : 0.0;
  j["handled"] = cum_handled_;
  j["coverage"] = n ? static_cast<double>(cum_handled_) / n : 0.0;
  j["agreement_handled"] =
      cum_handled_ ? nlohmann::json(static_cast<double>(cum_agreed_) / cum_handled_) : nullptr;
  j["cost"] = cum_cost_;
  j["windows"] = windows_;
  j["windows_with_handled"] = windows_judged_;
  j["windows_below_target"] = windows_below_;
  j["refits"] = refits_;
  j["alarms"] = alarm_log_;
  out.json = std::move(j);
  out.epoch_of = std::move(epoch_of_);
  out.handled = std::move(handled_);
  out.window_first = std::move(window_first_);
  out.window_agreement = std::move(window_agreement_);
  out.alarms = alarms_;
  return out;
}

// Classes whose handled share crossed 1/2 between consecutive policy epochs (at least
// `min_rows` queries of the class in both): the temporal deltas between refits.
nlohmann::json epoch_deltas(const Dataset& s, const VariantResult& r, std::size_t min_rows = 20) {
  const std::size_t k = s.n_classes();
  const int epochs =
      r.epoch_of.empty() ? 0 : *std::max_element(r.epoch_of.begin(), r.epoch_of.end());
  // share[e][c] = handled / queries of class c (by the teacher's answer) in epoch e.
  std::vector<std::vector<std::size_t>> rows(epochs + 1, std::vector<std::size_t>(k, 0)),
      handled = rows;
  for (std::size_t p = 0; p < s.size(); ++p) {
    const LabelId c = s.teacher[p];
    if (c < 0) continue;
    ++rows[r.epoch_of[p]][c];
    handled[r.epoch_of[p]][c] += r.handled[p];
  }
  nlohmann::json out = nlohmann::json::array();
  for (int e = 2; e <= epochs; ++e) {
    std::vector<std::string> in, away;
    for (std::size_t c = 0; c < k; ++c) {
      if (rows[e - 1][c] < min_rows || rows[e][c] < min_rows) continue;
      const bool before = 2 * handled[e - 1][c] > rows[e - 1][c];
      const bool after = 2 * handled[e][c] > rows[e][c];
      if (!before && after) in.push_back(s.labels->name(static_cast<LabelId>(c)));
      if (before && !after) away.push_back(s.labels->name(static_cast<LabelId>(c)));
    }
    out.push_back({{"epoch", e}, {"classes_now_handled", in}, {"classes_now_deferred", away}});
  }
  return out;
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
    audited += r.handled[p] && unit(seed, 0xCA1, p) < audit_share;
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

std::string stream_csv_header() {
  return "variant,window,first_query,queries,handled,handled_surrogate,handled_memory,deferred,"
         "audited,teacher_calls,coverage,true_agreement,target,fallback_queries,monitor_lower,"
         "monitor_upper,monitor_audited,epoch,refits,warm_refits,refit_seconds,cum_queries,"
         "cum_teacher_calls,cum_cost,cum_calls_saved\n";
}

}  // namespace deferbench

namespace deferbench {

RunOutput compute_stream_run(const YAML::Node& config, const RunOptions& options) {
  const auto t_start = RunClock::now();
  const RunPlan plan = plan_run(config, options);
  RunSettings s = plan.settings;
  const StreamSettings& st = s.stream;
  check_output_folder(s.results_dir / s.name, "results_dir");
  DB_CHECK(s.save_policy.empty(),
           "config: 'save_policy': a stream run replays many policies; it saves none (unset it)");
  // The stream replays every row once: no cross-fitting pool (it would copy train into val).
  s.pipeline.cross_fit_folds = 0;
  RunOutput out;
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
    StreamSim sim(stream, st, stream_variant(name), plan, calib, target);
    VariantResult r = sim.run();
    out.stream_csv += r.csv;
    r.json["seconds"] = seconds_since(t);
    const std::size_t judged = r.json["windows_with_handled"].get<std::size_t>();
    r.json["share_windows_below_target"] =
        judged ? static_cast<double>(r.json["windows_below_target"].get<std::size_t>()) / judged
               : 0.0;
    r.json["epoch_deltas"] = epoch_deltas(stream, r);
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
  out.metrics = {{"name", s.name},
                 {"seed", s.seed},
                 {"dataset", out.prep->dataset_name},
                 {"features", out.prep->feature_source},
                 {"queries", stream.size()},
                 {"model", plan.zoo.front().label},
                 {"target", target},
                 {"delta", calib.guaranteed.delta},
                 {"window_guarantee", st.window_guarantee ? nlohmann::json(st.window) : nullptr},
                 {"scenario", scenario},
                 {"stream",
                  {{"cold_start", st.cold_start},
                   {"audit_share", st.audit_share},
                   {"refit_every", st.refit_every},
                   {"monitor_delta", st.monitor_delta},
                   {"memory_k", st.memory_k},
                   {"window", st.window}}},
                 {"variants", variants},
                 {"seconds", seconds_since(t_start)}};
  out.config = clone(config);
  out.settings = plan.settings;
  return out;
}

}  // namespace deferbench
