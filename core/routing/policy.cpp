#include "core/routing/policy.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/config/fields.h"
#include "core/stats/binomial.h"
#include "core/util/error.h"

namespace deferbench {

CalibrationSettings CalibrationSettings::from_yaml(const YAML::Node& node,
                                                   const std::string& path) {
  CalibrationSettings s;
  FieldReader r(node, path);
  std::vector<std::string> targets = r.get_string_list("target", {"0.9"});
  DB_CHECK(!targets.empty(), "config: '{}.target': expected a number or a non-empty list", path);
  s.targets.clear();
  for (const std::string& t : targets) {
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    DB_CHECK(!t.empty() && end == t.c_str() + t.size() && v > 0.0 && v <= 1.0,
             "config: '{}.target': expected numbers in (0, 1], got '{}'", path, t);
    s.targets.push_back(v);
  }
  s.mode = r.get_choice("mode", s.mode, {"guaranteed", "empirical"});
  s.per_class = r.get_bool("per_class", s.per_class);
  s.start = r.get_choice("start", s.start, {"pass_probability", "bound_peak"});
  s.test = r.get_choice("test", s.test, {"exact", "randomized"});
  GuaranteedOptions& g = s.guaranteed;
  g.delta = r.get_double("delta", g.delta, 1e-12, 1.0 - 1e-12);
  g.min_accepted = static_cast<std::size_t>(
      r.get_int("min_accepted", static_cast<std::int64_t>(g.min_accepted), 1, 1'000'000'000));
  g.grid_points = static_cast<int>(r.get_int("grid_points", g.grid_points, 1, 100'000));
  g.grid_min_coverage = r.get_double("grid_min_coverage", g.grid_min_coverage, 0.0, 1.0);
  g.grid_max_coverage = r.get_double("grid_max_coverage", g.grid_max_coverage, 0.0, 1.0);
  const std::string window =
      r.has("window") && node["window"].IsScalar() ? node["window"].Scalar() : "";
  if (window == "test" || window == "none") {
    r.allow("window");
    s.window_test = window == "test";
  } else {
    DB_CHECK(window.empty() || window.find_first_not_of("0123456789") == std::string::npos,
             "config: '{}.window': expected none, test or a number of queries, got '{}'", path,
             window);
    s.window = static_cast<double>(r.get_int("window", 0, 0, 1'000'000'000'000));
  }
  DB_CHECK(g.grid_min_coverage <= g.grid_max_coverage,
           "config: '{}.grid_min_coverage' ({}) must not exceed grid_max_coverage ({})", path,
           g.grid_min_coverage, g.grid_max_coverage);
  r.finish();
  return s;
}

namespace {

void apply_ood_guard(const Stage& stage, MatrixView x, StageOutput& out, const Context& ctx) {
  if (stage.ood_k <= 0 || !stage.neighbours) return;
  const std::vector<float> d = stage.neighbours->kth_distance(x, stage.ood_k, ctx.threads);
  for (std::size_t i = 0; i < d.size(); ++i)
    if (d[i] > stage.ood_max_distance) out.score[i] = -std::numeric_limits<float>::infinity();
}

}  // namespace

StageOutput evaluate_stage(const Stage& stage, MatrixView x, const Context& ctx) {
  StageOutput out;
  if (x.rows() == 0) return out;
  const Matrix proba = stage.surrogate->predict_proba(x, ctx);
  out.pred = argmax_rows(proba);
  if (!stage.acceptor) {
    out.score.assign(x.rows(), 1.0f);
    apply_ood_guard(stage, x, out, ctx);
    return out;
  }
  std::vector<float> knn;
  if (stage.neighbours && stage.knn > 0)
    knn = stage.neighbours->agreement(x, out.pred, stage.knn, ctx.threads);
  const Matrix features = acceptor_features(proba, knn, stage.use_embedding ? x : MatrixView());
  out.score = stage.acceptor->score(features, ctx);
  apply_ood_guard(stage, x, out, ctx);
  return out;
}

std::vector<std::uint8_t> stage_accepts(const Stage& stage, const StageOutput& out) {
  DB_ASSERT(!stage.thresholds.empty());
  std::vector<std::uint8_t> ok = stage.thresholds.size() == 1
                                     ? accept_mask(out.score, stage.thresholds[0])
                                     : accept_mask_per_class(out.score, out.pred, stage.thresholds);
  for (std::size_t i = 0; i < ok.size(); ++i)  // −∞: out of distribution, never accepted
    if (std::isinf(out.score[i]) && out.score[i] < 0) ok[i] = 0;
  return ok;
}

namespace {

// The routing walk shared by route() and route_outputs(): `eval(s, rows)` gives stage s's
// output on `rows` (indices into the batch), in that order.
template <class Eval>
Routed route_rows(const std::vector<Stage>& stages, std::size_t n, Eval eval) {
  Routed r;
  r.label.assign(n, kNoLabel);
  r.stage.assign(n, -1);
  r.score.assign(n, 0.0f);
  r.first_prediction.assign(n, kNoLabel);
  std::vector<std::size_t> left(n);
  for (std::size_t i = 0; i < n; ++i) left[i] = i;
  for (std::size_t s = 0; s < stages.size() && !left.empty(); ++s) {
    const StageOutput out = eval(s, left);
    const std::vector<std::uint8_t> ok = stage_accepts(stages[s], out);
    std::vector<std::size_t> still;
    for (std::size_t k = 0; k < left.size(); ++k) {
      const std::size_t i = left[k];
      if (s == 0) r.first_prediction[i] = out.pred[k];
      r.score[i] = out.score[k];
      if (ok[k]) {
        r.label[i] = out.pred[k];
        r.stage[i] = static_cast<int>(s);
      } else if (!(s == 0 && std::isinf(out.score[k]) && out.score[k] < 0)) {
        still.push_back(i);  // (out-of-distribution rows leave the policy at stage 1)
      }
    }
    left.swap(still);
  }
  return r;
}

}  // namespace

Routed route(const std::vector<Stage>& stages, MatrixView x, const Context& ctx) {
  const std::size_t n = x.rows();
  return route_rows(stages, n, [&](std::size_t s, const std::vector<std::size_t>& rows) {
    if (rows.size() == n) return evaluate_stage(stages[s], x, ctx);
    const Matrix part = gather_rows(x, rows);
    return evaluate_stage(stages[s], part.view(), ctx);
  });
}

Routed route_outputs(const std::vector<Stage>& stages, const std::vector<StageOutput>& outputs) {
  DB_CHECK(outputs.size() >= stages.size(), "route_outputs: {} stages but outputs for {}",
           stages.size(), outputs.size());
  const std::size_t n = outputs.empty() ? 0 : outputs[0].pred.size();
  return route_rows(stages, n, [&](std::size_t s, const std::vector<std::size_t>& rows) {
    const StageOutput& all = outputs[s];
    DB_CHECK(all.pred.size() == n && all.score.size() == n,
             "route_outputs: stage {} has outputs for {} rows, expected {}", s, all.pred.size(), n);
    StageOutput out;
    out.pred.reserve(rows.size());
    out.score.reserve(rows.size());
    for (std::size_t i : rows) {
      out.pred.push_back(all.pred[i]);
      out.score.push_back(all.score[i]);
    }
    return out;
  });
}

namespace {

// Walks `grid` (strictly decreasing) over rows sorted by score: f(g, n, k) with n the rows whose
// score is ≥ grid[g] and k their agreements.
template <class F>
void walk_grid_prefixes(const std::vector<double>& grid, const std::vector<float>& scores,
                        const std::vector<std::uint8_t>& agrees, F f) {
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  std::size_t k = 0, n = 0;
  for (std::size_t g = 0; g < grid.size(); ++g) {
    while (n < order.size() && scores[order[n]] >= grid[g]) k += agrees[order[n++]];
    f(g, n, k);
  }
}

std::vector<double> grid_from(const std::vector<double>& grid, std::size_t start) {
  return std::vector<double>(grid.begin() + static_cast<std::ptrdiff_t>(start), grid.end());
}

}  // namespace

std::vector<double> start_where_bound_peaks(const std::vector<double>& grid,
                                            const std::vector<float>& scores,
                                            const std::vector<std::uint8_t>& agrees, double delta,
                                            double target, double window_scale) {
  if (grid.empty() || scores.empty()) return grid;
  // The margin the test would have on val: bound − requirement (without a window the
  // requirement is the target at every threshold, so this is where the bound peaks).
  const double level = test_level(delta, window_scale);
  std::size_t best = 0;
  double best_margin = -std::numeric_limits<double>::infinity();
  walk_grid_prefixes(grid, scores, agrees, [&](std::size_t g, std::size_t n, std::size_t k) {
    if (n == 0) return;
    const double margin =
        clopper_pearson_lower(k, n, level) - test_requirement(target, delta, window_scale, n);
    if (margin > best_margin) {
      best_margin = margin;
      best = g;
    }
  });
  return grid_from(grid, best);
}

std::vector<double> start_where_test_can_pass(const std::vector<double>& grid,
                                              const std::vector<float>& scores,
                                              const std::vector<std::uint8_t>& agrees, double delta,
                                              double target, std::size_t cal_rows,
                                              std::size_t min_accepted, double window_scale,
                                              bool randomized) {
  if (grid.empty() || scores.empty() || cal_rows == 0) return grid;
  const double level = test_level(delta, window_scale);
  std::size_t best = 0;
  double best_p = 0.0;
  walk_grid_prefixes(grid, scores, agrees, [&](std::size_t g, std::size_t n, std::size_t k) {
    // The calibration rows this threshold would accept at the val prefix's coverage.
    const auto m = static_cast<std::uint64_t>(
        std::floor(static_cast<double>(n) / static_cast<double>(scores.size()) *
                   static_cast<double>(cal_rows)));
    if (m == 0 || m < min_accepted) return;
    const double need = test_requirement(target, delta, window_scale, m);
    const std::uint64_t k_min = min_passing_agreements(m, need, level);
    if (k_min > m) return;
    const double a = (static_cast<double>(k) + 1.0) / (static_cast<double>(n) + 2.0);
    double p = binomial_upper_tail(k_min, m, a);
    // Randomized: one agreement fewer also passes when u ≤ u*, the u at which that count's
    // p-value reaches the level; averaged over u, that adds P(X = k_min − 1) · u*.
    if (randomized && k_min > 0) {
      const double above = binomial_upper_tail(k_min, m, need);
      const double at = std::exp(binomial_log_pmf(k_min - 1, m, need));
      const double u_star = at > 0.0 ? std::clamp((level - above) / at, 0.0, 1.0) : 0.0;
      p += u_star * std::exp(binomial_log_pmf(k_min - 1, m, a));
    }
    if (p > 0.0 && p >= best_p * (1.0 - 1e-9)) {
      best_p = std::max(best_p, p);
      best = g;
    }
  });
  return grid_from(grid, best);
}

void calibrate_stage(Stage& stage, const StageOutput& val, const std::vector<LabelId>& val_teacher,
                     const StageOutput& cal, const std::vector<LabelId>& cal_teacher,
                     std::size_t n_classes, double target, double delta,
                     const CalibrationSettings& settings) {
  DB_ASSERT(cal.pred.size() == cal_teacher.size());
  std::vector<std::uint8_t> agrees(cal.pred.size());
  for (std::size_t i = 0; i < agrees.size(); ++i) agrees[i] = cal.pred[i] == cal_teacher[i];
  stage.cal_rows = agrees.size();
  const bool guaranteed = settings.mode == "guaranteed";
  if (guaranteed) stage.cal_u = settings.guaranteed.u;
  if (!stage.acceptor) {
    // global: accept everything iff the bound (or the point estimate) on the overall agreement
    // reaches the target.
    std::size_t k = 0;
    for (auto a : agrees) k += a;
    const std::size_t m = agrees.size();
    const double point = m ? static_cast<double>(k) / m : std::nan("");
    // With a window (calibration.h): certify the window requirement at δ/2.
    const double scale = settings.guaranteed.window_scale;
    const double level = test_level(delta, scale);
    const double need = m > 0 ? test_requirement(target, delta, scale, m) : target;
    const double lower = m ? randomized_lower_bound(k, m, level, settings.guaranteed.u) : 0.0;
    stage.feasible = m > 0 && (guaranteed ? lower >= need : point >= target);
    stage.thresholds = {stage.feasible ? -std::numeric_limits<double>::infinity()
                                       : std::numeric_limits<double>::infinity()};
    stage.cal_accepted = stage.feasible ? m : 0;
    stage.cal_agreement = point;
    stage.lower_bound = lower;
    return;
  }
  if (settings.per_class) {
    PerClassChoice c;
    if (guaranteed) {
      GuaranteedOptions g = settings.guaranteed;
      g.delta = delta;
      c = guaranteed_per_class(val.score, val.pred, cal.score, agrees, cal.pred, n_classes, target,
                               g);
    } else {
      c = empirical_per_class(cal.score, agrees, cal.pred, n_classes, target);
    }
    stage.thresholds = c.thresholds();
    stage.cal_accepted = c.accepted;
    stage.cal_agreement = c.agreement;
    stage.feasible = c.feasible;
    return;
  }
  ThresholdChoice c;
  if (guaranteed) {
    const GuaranteedOptions& g = settings.guaranteed;
    std::vector<double> grid =
        quantile_grid(val.score, g.grid_points, g.grid_max_coverage, g.grid_min_coverage);
    if (val_teacher.size() == val.pred.size()) {
      std::vector<std::uint8_t> val_agrees(val.pred.size());
      for (std::size_t i = 0; i < val_agrees.size(); ++i)
        val_agrees[i] = val.pred[i] == val_teacher[i];
      // A window of W queries handles about W · m / n_val of them at a threshold accepting m
      // of the n_val val rows.
      const double val_scale = settings.window > 0 && !val.score.empty()
                                   ? settings.window / static_cast<double>(val.score.size())
                                   : 0.0;
      grid = settings.start == "bound_peak"
                 ? start_where_bound_peaks(grid, val.score, val_agrees, delta, target, val_scale)
                 : start_where_test_can_pass(grid, val.score, val_agrees, delta, target,
                                             cal.score.size(), g.min_accepted, g.window_scale,
                                             g.randomized);
    }
    c = guaranteed_threshold(cal.score, agrees, grid, target, delta, g.min_accepted, g.window_scale,
                             g.u);
  } else {
    c = empirical_threshold(cal.score, agrees, target);
  }
  stage.thresholds = {c.threshold};
  stage.cal_accepted = c.accepted;
  stage.cal_agreement = c.agreement;
  stage.lower_bound = c.lower_bound;
  stage.feasible = c.feasible;
  stage.cal_tests = c.tests;
  stage.cal_first_accepted = c.first_accepted;
  stage.cal_first_agreed = c.first_agreed;
  stage.cal_first_required = c.first_required;
  if (guaranteed) stage.cal_delta = delta;
}

}  // namespace deferbench
