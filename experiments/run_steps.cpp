#include "experiments/run_steps.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include <fmt/format.h>

#include "core/routing/calibration.h"
#include "core/routing/family.h"
#include "core/routing/frontier.h"
#include "core/stats/binomial.h"
#include "models/registry.h"

namespace deferbench {

namespace {

std::string label_of(const YAML::Node& spec) {
  std::string label = spec["name"].as<std::string>();
  std::string params;
  for (const auto& kv : spec) {
    const std::string key = kv.first.as<std::string>();
    if (key == "name") continue;
    params += fmt::format("{}{}={}", params.empty() ? "" : ",", key,
                          kv.second.IsScalar() ? kv.second.Scalar() : "...");
  }
  return params.empty() ? label : label + "(" + params + ")";
}

// The candidate surrogates, every spec validated: the `model` group's member is named by its
// model, zoo members by what their entry sets (#i added to a label already taken).
std::vector<ZooMember> zoo_of(const RunSettings& s, const ModelFactory& factory) {
  std::vector<ZooMember> zoo;
  zoo.push_back({YAML::Clone(s.model), ""});
  for (const YAML::Node& spec : s.pipeline.zoo) zoo.push_back({spec, ""});
  for (std::size_t i = 0; i < zoo.size(); ++i) {
    factory(zoo[i].spec, i == 0 ? "model" : fmt::format("pipeline.zoo[{}]", i - 1));
    zoo[i].label = i == 0 ? zoo[i].spec["name"].as<std::string>() : label_of(zoo[i].spec);
    for (std::size_t j = 0; j < i; ++j)
      if (zoo[j].label == zoo[i].label) zoo[i].label += fmt::format("#{}", i);
  }
  return zoo;
}

}  // namespace

RunPlan plan_run(const YAML::Node& config, const RunOptions& options) {
  RunPlan p;
  p.settings = RunSettings::from_config(config, options.project_root);
  const RunSettings& s = p.settings;
  p.ctx = s.context();
  p.factory = [](const YAML::Node& spec, const std::string& path) {
    return builtin_models().make(spec, path);
  };
  p.zoo = zoo_of(s, p.factory);
  p.factory(s.pipeline.acceptor.model, "pipeline.acceptor.model");
  p.stages = stages_to_fit(s.pipeline);

  p.prep_key = prep_cache_key(config, s, p.ctx);
  std::vector<YAML::Node> specs;
  for (const ZooMember& z : p.zoo) specs.push_back(z.spec);
  p.fit_keys = fit_cache_keys(config, p.prep_key, specs, p.stages);
  return p;
}

FittedZoo fit_zoo(const RunPlan& plan, const PreparedData& prep, FitCache* cache) {
  const RunSettings& s = plan.settings;
  FittedZoo zoo;
  for (std::size_t i = 0; i < plan.zoo.size(); ++i) {
    const auto t = RunClock::now();
    auto make_fit = [&] {
      const auto t_fit = RunClock::now();
      FittedSurrogate f;
      f.stages = prep.cross_fit_folds > 0
                     ? fit_cascade_cross(plan.zoo[i].spec, plan.stages, prep.train, prep.cal,
                                         prep.cross_fit_folds, s.pipeline, plan.factory,
                                         plan.ctx.derive(i), plan.ctx.seed)
                     : fit_cascade(plan.zoo[i].spec, plan.stages, prep.train, prep.val, prep.cal,
                                   s.pipeline, plan.factory, plan.ctx.derive(i), prep.train_index);
      f.fit_seconds = seconds_since(t_fit);
      for (const FittedStage& st : f.stages)
        f.test.push_back(evaluate_stage(st.stage, prep.test.features, plan.ctx));
      return f;
    };
    const CachedFit fit = cached_fit(cache, plan.fit_keys[i], plan.zoo[i].label, make_fit);
    zoo.seconds += seconds_since(t);
    Surrogate m{plan.zoo[i].label, fit.fitted, fit.cached, {}, {}};
    for (std::size_t k = 0; k < m.fitted->stages.size(); ++k) {
      m.val_outputs.push_back(&m.fitted->stages[k].val);
      m.test_outputs.push_back(&m.fitted->test[k]);
    }
    zoo.members.push_back(std::move(m));
  }
  return zoo;
}

CalibrationSettings run_calibration(const RunSettings& s, const PreparedData& prep) {
  CalibrationSettings calib = s.calibration;
  if (calib.window_test) calib.window = static_cast<double>(prep.test.size());
  return calib;
}

Evaluated evaluate(const std::vector<Stage>& stages, const std::string& family,
                   const std::vector<const StageOutput*>& fitted, const Dataset& split,
                   const FamilyOptions& opt) {
  Routed r;
  if (stages.empty()) {
    r.label.assign(split.size(), kNoLabel);
    r.stage.assign(split.size(), -1);
    r.score.assign(split.size(), 0.0f);
    r.first_prediction.assign(split.size(), kNoLabel);
  } else {
    r = route_outputs(stages, routing_family(family).stage_outputs(stages.size(), fitted));
  }
  std::vector<std::uint8_t> handled(split.size());
  std::vector<LabelId> answer(split.size());
  Evaluated e;
  e.handled_per_stage.assign(stages.size(), 0);
  std::vector<std::size_t> agreed(stages.size(), 0);
  for (std::size_t i = 0; i < split.size(); ++i) {
    handled[i] = r.stage[i] >= 0;
    answer[i] = handled[i] ? r.label[i] : r.first_prediction[i];
    if (handled[i]) {
      ++e.handled_per_stage[static_cast<std::size_t>(r.stage[i])];
      agreed[static_cast<std::size_t>(r.stage[i])] += r.label[i] == split.teacher[i];
    }
  }
  e.m = routing_metrics(answer, split.teacher, split.gold, handled);
  e.cost_per_1k = cost_per_1k(e.m.coverage, opt.teacher_cost, opt.surrogate_cost);
  for (std::size_t k = 0; k < stages.size(); ++k)
    e.agreement_per_stage.push_back(e.handled_per_stage[k]
                                        ? static_cast<double>(agreed[k]) / e.handled_per_stage[k]
                                        : std::nan(""));
  e.handled = std::move(handled);
  e.answer = std::move(answer);
  return e;
}

std::vector<FirstStageView> stages_on_test(const Candidate& c, const FittedZoo& zoo,
                                           const Dataset& test) {
  const Surrogate& z = zoo.members[c.member];
  std::vector<StageOutput> outs = routing_family(c.family).stage_outputs(
      std::max<std::size_t>(1, c.on_cal.stages.size()), z.test_outputs);
  std::vector<FirstStageView> views;
  for (StageOutput& o : outs) {
    FirstStageView v;
    v.pred = std::move(o.pred);
    v.score = std::move(o.score);
    v.agrees.resize(test.size());
    for (std::size_t i = 0; i < v.agrees.size(); ++i) v.agrees[i] = v.pred[i] == test.teacher[i];
    views.push_back(std::move(v));
  }
  return views;
}

FirstStageView first_stage_on_test(const Candidate& c, const FittedZoo& zoo, const Dataset& test) {
  return std::move(stages_on_test(c, zoo, test).front());
}

std::vector<Candidate> candidates_at(double target, const RunPlan& plan, const PreparedData& prep,
                                     const FittedZoo& zoo, const CalibrationSettings& calib) {
  const RunSettings& s = plan.settings;
  std::vector<Candidate> out;
  for (std::size_t i = 0; i < zoo.members.size(); ++i) {
    const Surrogate& z = zoo.members[i];
    for (const std::string& family : s.pipeline.families) {
      Candidate c{family, z.label, i, {}, {}, {}, {}, {}};
      c.on_val = build_policy(family, z.fitted->stages, prep.val, prep.cal, target, calib,
                              s.pipeline, CalibrateOn::kVal, s.seed);
      c.on_cal = build_policy(family, z.fitted->stages, prep.val, prep.cal, target, calib,
                              s.pipeline, CalibrateOn::kCal, s.seed);
      c.val = evaluate(c.on_val.stages, family, z.val_outputs, prep.val, s.pipeline);
      c.test = evaluate(c.on_cal.stages, family, z.test_outputs, prep.test, s.pipeline);
      const FirstStageView v = first_stage_on_test(c, zoo, prep.test);
      c.test_risk = risk_coverage(v.score, v.agrees);
      out.push_back(std::move(c));
    }
  }
  return out;
}

std::vector<Candidate> with_val_fallback(std::vector<Candidate> candidates, double target,
                                         const RunPlan& plan, const PreparedData& prep,
                                         const FittedZoo& zoo, const CalibrationSettings& calib) {
  const bool any_feasible = std::any_of(candidates.begin(), candidates.end(),
                                        [](const Candidate& c) { return c.on_val.feasible; });
  if (any_feasible || calib.mode == "empirical") return candidates;
  const RunSettings& s = plan.settings;
  CalibrationSettings point_estimate = calib;
  point_estimate.mode = "empirical";
  for (Candidate& c : candidates) {
    const Surrogate& z = zoo.members[c.member];
    c.on_val = build_policy(c.family, z.fitted->stages, prep.val, prep.cal, target, point_estimate,
                            s.pipeline, CalibrateOn::kVal, s.seed);
    c.val = evaluate(c.on_val.stages, c.family, z.val_outputs, prep.val, s.pipeline);
  }
  return candidates;
}

Selection select_on_val(const std::vector<Candidate>& candidates) {
  std::vector<FrontierPoint> points;
  for (const Candidate& c : candidates)
    points.push_back({c.val.m.coverage, c.val.m.teacher_agreement, c.val.cost_per_1k});
  Selection sel;
  sel.front = pareto_front(points);
  for (std::size_t idx : sel.front)
    if (candidates[idx].on_val.feasible &&
        (sel.chosen < 0 || candidates[idx].val.m.coverage >
                               candidates[static_cast<std::size_t>(sel.chosen)].val.m.coverage))
      sel.chosen = static_cast<std::ptrdiff_t>(idx);
  return sel;
}

namespace {

double oracle_coverage(const Candidate& c, const FittedZoo& zoo, const Dataset& test,
                       double target) {
  if (test.size() == 0) return std::nan("");
  const FirstStageView v = first_stage_on_test(c, zoo, test);
  const ThresholdChoice best = empirical_threshold(v.score, v.agrees, target);
  return static_cast<double>(best.accepted) / static_cast<double>(test.size());
}

// Why a guaranteed calibration certified nothing, from its first stage's counts.
std::string diagnostic(const Stage& st, double target, const CalibrationSettings& calib) {
  GuaranteedOptions g = calib.guaranteed;
  g.delta = st.cal_delta;  // a cascade stage's share
  if (st.cal_tests == 0) {
    const std::uint64_t need =
        std::max<std::uint64_t>(g.min_accepted, min_passable_rows(target, g.delta));
    return fmt::format(
        "nothing certified at target {}: no threshold accepted the {} calibration rows a test "
        "needs (min_accepted {}; {} of {} agreeing passes at delta {}), of {} calibration rows: "
        "no coverage below {:.2f} can be tested",
        target, need, g.min_accepted, min_passable_rows(target, g.delta),
        min_passable_rows(target, g.delta), g.delta, st.cal_rows,
        st.cal_rows ? static_cast<double>(need) / static_cast<double>(st.cal_rows) : 1.0);
  }
  const double required = std::isnan(st.cal_first_required) ? target : st.cal_first_required;
  const std::uint64_t needed =
      min_passing_agreements(st.cal_first_accepted, required, g.delta, st.cal_u);
  return fmt::format(
      "nothing certified at target {}: the first threshold tested accepted {} of {} "
      "calibration rows ({:.2f}) with {} agreeing ({:.3f}); passing needed {} agreeing ({:.3f}) "
      "at delta {}{}",
      target, st.cal_first_accepted, st.cal_rows,
      st.cal_rows ? static_cast<double>(st.cal_first_accepted) / static_cast<double>(st.cal_rows)
                  : 0.0,
      st.cal_first_agreed,
      st.cal_first_accepted
          ? static_cast<double>(st.cal_first_agreed) / static_cast<double>(st.cal_first_accepted)
          : 0.0,
      needed,
      st.cal_first_accepted
          ? static_cast<double>(needed) / static_cast<double>(st.cal_first_accepted)
          : 1.0,
      g.delta, st.cal_u < 1.0 ? fmt::format(" (randomized test, u = {:.3f})", st.cal_u) : "");
}

}  // namespace

Deployment deploy(const std::vector<Candidate>& candidates, const Selection& selection,
                  const PreparedData& prep, const FittedZoo& zoo, double target,
                  const CalibrationSettings& calib, const FamilyOptions& pipeline) {
  Deployment d;
  if (selection.chosen >= 0) {
    const Candidate& c = candidates[static_cast<std::size_t>(selection.chosen)];
    d.oracle_coverage = oracle_coverage(c, zoo, prep.test, target);
    d.deployed = c.on_cal.feasible;
    // The first stage's calibration, when it is what failed (one threshold, guaranteed).
    const Stage* st = c.on_cal.stages.empty() ? nullptr : &c.on_cal.stages.front();
    if (st && !std::isnan(st->cal_delta) && !calib.per_class && prep.test.size() > 0) {
      const FirstStageView v = first_stage_on_test(c, zoo, prep.test);
      d.certifiable_coverage =
          certifiable_coverage(v.score, v.agrees, st->cal_rows, target, st->cal_delta,
                               calib.guaranteed.min_accepted, st->cal_u);
    }
    if (!d.deployed && st && !st->feasible && !std::isnan(st->cal_delta) && !calib.per_class) {
      const double required = std::isnan(st->cal_first_required) ? target : st->cal_first_required;
      // The first stage on val: what a calibration split of this size could certify at best.
      const Surrogate& z = zoo.members[c.member];
      const std::vector<StageOutput> val = routing_family(c.family).stage_outputs(
          std::max<std::size_t>(1, c.on_cal.stages.size()), z.val_outputs);
      std::vector<std::uint8_t> agrees(prep.val.size());
      for (std::size_t i = 0; i < agrees.size(); ++i)
        agrees[i] = val.front().pred[i] == prep.val.teacher[i];
      const double certifiable =
          certifiable_coverage(val.front().score, agrees, st->cal_rows, target, st->cal_delta,
                               calib.guaranteed.min_accepted, st->cal_u);
      d.diagnostic = diagnostic(*st, target, calib) +
                     fmt::format(
                         "; with {} calibration rows agreeing as {} do, at most {:.2f} "
                         "coverage could be certified",
                         st->cal_rows, prep.cross_fit_folds > 0 ? "the out-of-fold rows" : "val's",
                         certifiable);
      d.first_test = {st->cal_rows,
                      st->cal_tests,
                      st->cal_first_accepted,
                      st->cal_first_agreed,
                      st->cal_tests
                          ? static_cast<std::size_t>(min_passing_agreements(
                                st->cal_first_accepted, required, st->cal_delta, st->cal_u))
                          : 0,
                      certifiable};
    }
    if (d.deployed) {
      d.stages = c.on_cal.stages;
      d.test = c.test;
      return d;
    }
  }
  // Nothing can be deployed: everything goes to the teacher.
  d.test = evaluate({}, "", {}, prep.test, pipeline);
  return d;
}

}  // namespace deferbench
