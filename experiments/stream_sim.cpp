#include "experiments/stream_sim.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>

#include <fmt/format.h>

#include "core/audit/compare.h"
#include "core/routing/families.h"
#include "core/stream/memory.h"
#include "core/stream/monitor.h"
#include "core/util/context.h"
#include "core/util/error.h"

namespace deferbench {

double stream_draw(std::uint64_t seed, std::uint64_t salt, std::size_t p) {
  return static_cast<double>(mix_seed(mix_seed(seed, salt), p) >> 11) * 0x1.0p-53;
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

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
        handled_(s.size(), 0) {}

  VariantResult run();

 private:
  void fit(std::size_t pos);
  void refresh_memory();
  void label(std::size_t pos, bool cold, bool in_fallback);
  void uniform(std::size_t pos);
  void flush(std::size_t pos);
  void alarm(std::size_t pos, const char* why);
  nlohmann::json refit_shift(const std::vector<Stage>& before, const std::vector<Stage>& after,
                             const Dataset& rows) const;

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
  std::vector<std::uint8_t> handled_;
  Routed routed_;
  std::vector<std::uint8_t> decided_;  // blend: rows of the chunk the memory answered
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

// A flagged label (a uniform sample of the stream): the acceptor's rows (share val_share) or the
// calibration's, by a second independent draw.
void StreamSim::uniform(std::size_t pos) {
  (stream_draw(seed_, 0x701E, pos) < st_.val_share ? labels_.val : labels_.cal).push_back(pos);
}

void StreamSim::label(std::size_t pos, bool cold, bool in_fallback) {
  // Calibration pool: the flag, drawn independently of x and of the policy.
  const double flag = stream_draw(seed_, kCalibrationFlag, pos);
  const double cal_share =
      cold ? st_.cold_cal_share
           : (in_fallback ? std::max(st_.audit_share, st_.fallback_cal_share) : st_.audit_share);
  if (flag < cal_share) {
    uniform(pos);
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
  labels_.val_start = labels_.val.size();
  if (st_.forget_on_alarm) labels_.train_start = labels_.train.size();
  since_alarm_ = 0;
}

// The old and the new policy on the same rows: coverage before and after, rows moving each way,
// and the classes whose coverage moved significantly (exact McNemar per class, Benjamini–
// Hochberg at the run's audit_fdr: core/audit/compare.h).
nlohmann::json StreamSim::refit_shift(const std::vector<Stage>& before,
                                      const std::vector<Stage>& after, const Dataset& rows) const {
  const Routed a = route(before, rows.features, plan_.ctx),
               b = route(after, rows.features, plan_.ctx);
  PolicyPair pair;
  pair.teacher = rows.teacher;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    pair.handled_a.push_back(a.stage[i] >= 0);
    pair.handled_b.push_back(b.stage[i] >= 0);
    pair.agrees_a.push_back(a.label[i] == rows.teacher[i]);
    pair.agrees_b.push_back(b.label[i] == rows.teacher[i]);
  }
  const PolicyComparison c = compare_policies(pair, plan_.settings.audit_fdr);
  nlohmann::json moved = nlohmann::json::array();
  for (const ClassShift& k : c.classes)
    if (k.flagged)
      moved.push_back({{"class", rows.labels->name(k.label)},
                       {"rows", k.rows},
                       {"coverage_before", k.coverage_a.value},
                       {"coverage_after", k.coverage_b.value},
                       {"p_value", k.p_value}});
  return {{"rows", rows.size()},
          {"coverage_before", c.coverage_a.value},
          {"coverage_after", c.coverage_b.value},
          {"to_handled", c.to_handled},
          {"to_deferred", c.to_deferred},
          {"classes_moved", moved}};
}

void StreamSim::fit(std::size_t pos) {
  const auto t = RunClock::now();
  ++epoch_;
  const std::vector<std::size_t> train_pos =
      tail(labels_.train, st_.max_train, labels_.train_start);
  const std::vector<std::size_t> cal_pos = tail(labels_.cal, st_.cal_window, labels_.cal_start);
  // max_train caps the acceptor's rows too, at the same share of the labels as they have.
  const std::size_t max_val =
      st_.max_train ? static_cast<std::size_t>(std::ceil(static_cast<double>(st_.max_train) *
                                                         st_.val_share / (1 - st_.val_share)))
                    : 0;
  const std::vector<std::size_t> val_pos = tail(labels_.val, max_val, labels_.val_start);
  // cross_fit: one pool of the training and the acceptor's labels, in stream order; the
  // surrogate is cross-fitted on it and the acceptor learns from its out-of-fold outputs.
  const bool cross = st_.cross_fit >= 2;
  std::vector<std::size_t> pool_pos;
  if (cross) {
    pool_pos = train_pos;
    pool_pos.insert(pool_pos.end(), val_pos.begin(), val_pos.end());
    std::sort(pool_pos.begin(), pool_pos.end());
  }
  const Dataset train = s_.subset(cross ? pool_pos : train_pos),
                val = cross ? train : s_.subset(val_pos), cal = s_.subset(cal_pos);
  const std::set<LabelId> classes(train.teacher.begin(), train.teacher.end());
  Policy p;
  bool warm = false, fitted_now = false;
  std::string why;
  if (classes.size() < 2 || val.size() == 0 || cal.size() < 2) {
    why = fmt::format("{} training classes, {} acceptor rows, {} calibration rows", classes.size(),
                      val.size(), cal.size());
  } else {
    const Context ctx = plan_.ctx.derive(static_cast<std::uint64_t>(epoch_));
    const Classifier* previous = v_.warm && policy_.surrogate ? policy_.surrogate.get() : nullptr;
    // memory_mode blend: the surrogate (path "model"; not the acceptor's model) is wrapped
    // with the memory (core/stream/memory.h).
    const ModelFactory blended = [&](const YAML::Node& spec, const std::string& path) {
      std::unique_ptr<Classifier> m = plan_.factory(spec, path);
      if (path != "model") return m;
      return std::unique_ptr<Classifier>(
          new MemoryBlend(std::move(m), st_.memory_k, st_.memory_max));
    };
    const bool blend = v_.memory && st_.memory_mode == "blend";
    // Cross-fitted refits start cold (fit_cascade_cross has no warm start) and use no memory:
    // their fold models are fitted without acceptor rows, on which a blend chooses its weight.
    std::vector<FittedStage> fitted =
        cross ? fit_cascade_cross(plan_.zoo.front().spec, 1, train, cal, st_.cross_fit,
                                  plan_.settings.pipeline, plan_.factory, ctx,
                                  mix_seed(seed_, 0xC5F0 + static_cast<std::uint64_t>(epoch_)))
              : fit_cascade(plan_.zoo.front().spec, 1, train, val, cal, plan_.settings.pipeline,
                            blend ? blended : plan_.factory, ctx, nullptr, previous);
    warm = fitted.front().warm_started;
    fitted_now = true;
    p.surrogate = fitted.front().stage.surrogate;
    if (v_.memory && st_.memory_mode == "stage") {
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
    }
    memory_new_ = 0;
    const BuiltPolicy built =
        build_policy(fitted.size() > 1 ? "rsb" : "l2d", fitted, val, cal, target_, calib_,
                     plan_.settings.pipeline, CalibrateOn::kCal, mix_seed(seed_, epoch_));
    p.stages = built.stages;
    p.feasible = built.feasible;
    if (!p.feasible) why = "the calibration certified no threshold";
  }
  if (!p.surrogate) p.surrogate = policy_.surrogate;
  const double seconds = seconds_since(t);
  // What the refit changed: both policies on the calibration pool's rows (a uniform sample of
  // the stream), compared class by class as the audit compares two policies.
  nlohmann::json shift;
  if (!policy_.stages.empty() && !p.stages.empty() && cal.size() > 0)
    shift = refit_shift(policy_.stages, p.stages, cal);
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
  ++w_.refits;
  w_.warm_refits += warm;
  w_.refit_seconds += seconds;
  nlohmann::json r = {{"at", pos},
                      {"epoch", epoch_},
                      {"train_rows", train.size()},
                      {"acceptor_rows", val.size()},
                      {"calibration_rows", cal.size()},
                      {"warm", warm},
                      {"cross_fit_folds", cross ? st_.cross_fit : 0},
                      {"seconds", seconds},
                      {"certified", policy_.feasible}};
  if (!why.empty()) r["why_not"] = why;
  if (const auto* b = dynamic_cast<const MemoryBlend*>(policy_.surrogate.get()); b && fitted_now)
    r["memory_weight"] = b->weight();
  if (!shift.is_null()) r["shift"] = std::move(shift);
  if (policy_.feasible)
    r["calibrated_coverage"] =
        cal.size() ? static_cast<double>(policy_.stages.front().cal_accepted) / cal.size() : 0.0;
  refits_.push_back(std::move(r));
}

// Between refits (memory_refresh > 0): the policy then serves with a memory its calibration did
// not see, watched by the monitor only (README, "Memory").
void StreamSim::refresh_memory() {
  if (st_.memory_refresh == 0 || memory_new_ < st_.memory_refresh) return;
  memory_new_ = 0;
  if (policy_.stages.empty()) return;
  const auto* b = dynamic_cast<const MemoryBlend*>(policy_.stages[0].surrogate.get());
  if (policy_.stages.size() < 2 && !(b && b->weight() > 0)) return;  // no memory in use
  auto memory = std::make_shared<TeacherMemory>(st_.memory_k, s_.n_classes());
  memory->fit(s_.subset(tail(labels_.train, st_.memory_max, labels_.train_start)), nullptr,
              plan_.ctx);
  if (policy_.stages.size() > 1)
    policy_.stages[1].surrogate = memory;
  else
    policy_.stages[0].surrogate = b->refreshed(memory);
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
      const auto* b = dynamic_cast<const MemoryBlend*>(policy_.stages[0].surrogate.get());
      decided_ = b ? b->memory_decides(x.view(), plan_.ctx) : std::vector<std::uint8_t>();
      stale_ = false;
    }
    const LabelId teacher = s_.teacher[pos];
    ++w_.queries;
    ++cum_queries_;
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
      if (in_policy && v_.monitors && st_.novel_alarm > 0 && teacher >= 0 &&
          !known_[static_cast<std::size_t>(teacher)] && ++novel_ >= st_.novel_alarm)
        alarm(pos, "novel classes");
    } else {
      handled_[pos] = 1;
      const bool by_memory = stage > 0 || (!decided_.empty() && decided_[pos - routed_from_] != 0);
      (by_memory ? w_.handled_m : w_.handled_s) += 1;
      ++cum_handled_;
      cum_cost_ += surrogate_cost;
      const bool agrees = answer == teacher;
      w_.agreed += agrees;
      cum_agreed_ += agrees;
      if (stream_draw(seed_, kCalibrationFlag, pos) <
          st_.audit_share) {  // an audit: bought, never trained on
        ++w_.audited;
        ++w_.calls;
        ++cum_calls_;
        ++cum_audits_;
        cum_cost_ += teacher_cost;
        uniform(pos);
        ++since_refit_;
        ++since_alarm_;
        // A confidence sequence that has watched a long stretch above the target reacts slowly
        // to a drop (core/stats/confidence_sequence.h): a fresh one every monitor_epoch audits
        // bounds the delay; each epoch spends its own δ_k (core/stream/monitor.h).
        if (st_.monitor_epoch > 0 && monitor_.count() >= st_.monitor_epoch) monitor_.restart();
        monitor_.observe(agrees);
        if (v_.monitors && monitor_.alarmed()) alarm(pos, "monitor");
      }
    }
    const std::size_t next = pos + 1;
    if (next == cold) {
      fit(next);
    } else if (next > cold && v_.refits) {
      if (fallback_ ? since_alarm_ >= after_alarm : since_refit_ >= st_.refit_every) fit(next);
    }
    // The memory grows between chunks: a chunk already routed is not routed again for it.
    if (v_.memory && !fallback_ && next >= routed_to_) refresh_memory();
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
  out.handled = std::move(handled_);
  out.window_first = std::move(window_first_);
  out.window_agreement = std::move(window_agreement_);
  out.alarms = alarms_;
  return out;
}

}  // namespace

VariantResult simulate_stream(const Dataset& s, const StreamSettings& st,
                              const StreamVariant& variant, const RunPlan& plan,
                              const CalibrationSettings& calib, double target) {
  StreamSim sim(s, st, variant, plan, calib, target);
  return sim.run();
}

std::string stream_csv_header() {
  return "variant,window,first_query,queries,handled,handled_surrogate,handled_memory,deferred,"
         "audited,teacher_calls,coverage,true_agreement,target,fallback_queries,monitor_lower,"
         "monitor_upper,monitor_audited,epoch,refits,warm_refits,refit_seconds,cum_queries,"
         "cum_teacher_calls,cum_cost,cum_calls_saved\n";
}

}  // namespace deferbench
