#include "experiments/audit.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "core/audit/examples.h"
#include "core/audit/slices.h"
#include "core/audit/temporal.h"
#include "core/metrics/metrics.h"
#include "core/util/error.h"
#include "experiments/run_output.h"

namespace deferbench {

namespace {

using json = nlohmann::json;

json proportion_json(const Proportion& p) {
  return {{"k", p.k},
          {"n", p.n},
          {"value", nan_to_json(p.value)},
          {"ci95", {nan_to_json(p.low), nan_to_json(p.high)}}};
}

json slice_json(const SliceStats& s) {
  return {{"name", s.name},
          {"rows", s.rows},
          {"coverage", proportion_json(s.coverage)},
          {"agreement", proportion_json(s.agreement)},
          {"e2e_accuracy", proportion_json(s.e2e_accuracy)},
          {"e2e_macro_f1",
           {{"n", s.e2e_macro_f1.n},
            {"value", nan_to_json(s.e2e_macro_f1.value)},
            {"ci95", {nan_to_json(s.e2e_macro_f1.low), nan_to_json(s.e2e_macro_f1.high)}}}},
          {"p_value", nan_to_json(s.p_value)},
          {"flagged", s.flagged}};
}

// Every kind of slice the test split supports, flagged together (one Benjamini–Hochberg family).
json slices_json(const AuditRows& rows, const Dataset& test, double target, double fdr,
                 std::size_t* flagged) {
  const LabelSpace& labels = *test.labels;
  std::vector<std::pair<std::string, std::vector<std::string>>> kinds;
  std::vector<std::string> teacher, predicted;
  for (std::size_t i = 0; i < test.size(); ++i) {
    teacher.push_back(labels.name(test.teacher[i]));
    predicted.push_back(rows.prediction[i] == kNoLabel ? "(none)"
                                                       : labels.name(rows.prediction[i]));
  }
  kinds.emplace_back("teacher_label", teacher);
  kinds.emplace_back("predicted_label", predicted);
  if (!test.texts.empty() && test.texts.size() == test.size()) {
    std::vector<std::size_t> lengths;
    for (const std::string& t : test.texts) lengths.push_back(t.size());
    const std::vector<std::size_t> tertile = length_tertiles(lengths);
    static const char* const kNames[] = {"short", "medium", "long"};
    std::vector<std::string> names;
    for (std::size_t t : tertile) names.emplace_back(kNames[t]);
    kinds.emplace_back("length_tertile", names);
  }
  if (!test.slices.empty() && test.slices.size() == test.size())
    kinds.emplace_back("tag", test.slices);
  for (const auto& [name, values] : test.fields)
    if (values.size() == test.size()) kinds.emplace_back("field:" + name, values);
  std::vector<SliceStats> all;
  std::vector<std::size_t> kind_of;
  for (std::size_t k = 0; k < kinds.size(); ++k)
    for (SliceStats& s : slices_by(rows, kinds[k].second, kinds[k].first, target)) {
      all.push_back(std::move(s));
      kind_of.push_back(k);
    }
  *flagged = flag_slices(all, fdr);
  json out = json::object();
  for (const auto& [kind, keys] : kinds) out[kind] = json::array();
  for (std::size_t i = 0; i < all.size(); ++i)
    out[kinds[kind_of[i]].first].push_back(slice_json(all[i]));
  return out;
}

json gap_json(const AuditRows& rows, const Dataset& d) {
  const AgreementGap g = agreement_gap(rows, 15, 3);
  const LabelSpace& labels = *d.labels;
  json pairs = json::array();
  for (const GapPair& p : g.pairs) {
    json examples = json::array();
    for (std::size_t i : p.examples) {
      json e = {{"row", i}, {"id", d.ids.at(i)}};
      if (!d.texts.empty()) e["text"] = excerpt(d.texts[i], 300);
      examples.push_back(e);
    }
    pairs.push_back({{"answer", labels.name(p.answer)},
                     {"teacher", labels.name(p.teacher)},
                     {"count", p.count},
                     {"examples", examples}});
  }
  json out = {{"handled", g.handled}, {"disagreements", g.disagreements}, {"pairs", pairs}};
  if (!rows.gold.empty())
    out["who_was_right"] = {{"surrogate", g.surrogate_right},
                            {"teacher", g.teacher_right},
                            {"neither", g.both_wrong},
                            {"without_gold", g.without_gold}};
  return out;
}

// A row as the audit shows it: id, text (an excerpt), teacher label.
json row_json(std::size_t i, const Dataset& d) {
  json r = {{"row", i}, {"id", d.ids.at(i)}, {"teacher", d.labels->name(d.teacher[i])}};
  if (!d.texts.empty()) r["text"] = excerpt(d.texts[i], 300);
  return r;
}

json examples_json(const AuditRows& rows, const std::vector<float>& score, const Dataset& d,
                   int threads) {
  const LabelSpace& labels = *d.labels;
  const MatrixView x = d.features.view();
  json pairs = json::array();
  for (const BoundaryPair& p : boundary_pairs(x, rows.prediction, rows.handled, 5, 3, threads)) {
    json h = row_json(p.handled_row, d), def = row_json(p.deferred_row, d);
    h["score"] = score.at(p.handled_row);
    def["score"] = score.at(p.deferred_row);
    pairs.push_back({{"predicted", labels.name(p.predicted)},
                     {"distance", p.distance},
                     {"handled", h},
                     {"deferred", def}});
  }
  json reps = json::array();
  for (const Representatives& r : representatives(x, rows.teacher, rows.handled)) {
    json e = {{"teacher", labels.name(r.label)}, {"rows", r.rows}};
    const auto none = static_cast<std::size_t>(-1);
    e["handled"] = r.handled_row == none ? json() : row_json(r.handled_row, d);
    e["deferred"] = r.deferred_row == none ? json() : row_json(r.deferred_row, d);
    reps.push_back(e);
  }
  json confident = json::array();
  for (std::size_t i :
       confident_disagreements(score, rows.answer, rows.teacher, rows.handled, 10)) {
    json e = row_json(i, d);
    e["answer"] = labels.name(rows.answer[i]);
    e["score"] = score[i];
    confident.push_back(e);
  }
  return {
      {"boundary_pairs", pairs}, {"representatives", reps}, {"confident_disagreements", confident}};
}

// The risk–coverage curve of a score (risk = disagreement), at every tie-block end, thinned to
// at most ~100 points, beside the oracle ordering's.
json curve_json(const FirstStageView& v) {
  const std::size_t n = v.score.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return v.score[a] > v.score[b]; });
  std::size_t errors_total = 0;
  for (std::uint8_t a : v.agrees) errors_total += !a;
  json points = json::array();
  const std::size_t step = std::max<std::size_t>(1, n / 100);
  std::size_t errors = 0, last_k = 0;
  for (std::size_t begin = 0; begin < n;) {
    std::size_t end = begin;
    while (end < n && v.score[order[end]] == v.score[order[begin]])
      errors += !v.agrees[order[end++]];
    if (end - last_k >= step || end == n) {
      const double k = static_cast<double>(end);
      const double oracle_errors = std::max(0.0, k - static_cast<double>(n - errors_total));
      points.push_back(
          {k / static_cast<double>(n), static_cast<double>(errors) / k, oracle_errors / k});
      last_k = end;
    }
    begin = end;
  }
  return points;
}

// The risk–coverage of every stage on the rows that reach it (stage 1: every row).
json stages_curves_json(const AuditInput& in) {
  json out = json::array();
  const RiskCoverage first = risk_coverage(in.first.score, in.first.agrees);
  out.push_back({{"stage", 1},
                 {"rows", in.first.score.size()},
                 {"aurc", nan_to_json(first.aurc)},
                 {"e_aurc", nan_to_json(first.e_aurc)}});
  for (std::size_t k = 0; k < in.later_stages.size(); ++k) {
    const AuditInput::LaterStage& l = in.later_stages[k];
    FirstStageView v;
    for (std::size_t i = 0; i < l.reached.size(); ++i)
      if (l.reached[i]) {
        v.pred.push_back(l.view.pred[i]);
        v.score.push_back(l.view.score[i]);
        v.agrees.push_back(l.view.agrees[i]);
      }
    const RiskCoverage rc = risk_coverage(v.score, v.agrees);
    out.push_back({{"stage", k + 2},
                   {"rows", v.score.size()},
                   {"aurc", nan_to_json(rc.aurc)},
                   {"e_aurc", nan_to_json(rc.e_aurc)},
                   {"curve", v.score.empty() ? json::array() : curve_json(v)}});
  }
  return out;
}

// Coverage and agreement per window in time order, with drift flags (null: no time order).
json temporal_json(const AuditRows& rows, const Dataset& d, const AuditOptions& o) {
  const std::vector<double>& times = d.times;
  const bool has_times = !times.empty() && std::any_of(times.begin(), times.end(),
                                                       [](double t) { return !std::isnan(t); });
  if (o.time == "none" || (o.time == "auto" && !has_times) || rows.size() < 2) return nullptr;
  const bool by_time = o.time == "auto";
  json windows = json::array();
  for (const Window& w :
       temporal_windows(rows, by_time ? times : std::vector<double>{}, o.windows, o.fdr))
    windows.push_back({{"first_rank", w.first_row_rank},
                       {"rows", w.rows},
                       {"time_begin", nan_to_json(w.time_begin)},
                       {"time_end", nan_to_json(w.time_end)},
                       {"coverage", proportion_json(w.coverage)},
                       {"agreement", proportion_json(w.agreement)},
                       {"coverage_change", nan_to_json(w.coverage_change)},
                       {"agreement_change", nan_to_json(w.agreement_change)},
                       {"coverage_p", nan_to_json(w.coverage_p)},
                       {"agreement_p", nan_to_json(w.agreement_p)},
                       {"drift", w.drift}});
  return {{"order", by_time ? "time" : "row_order"}, {"windows", windows}};
}

}  // namespace

std::vector<AuditInput::LaterStage> later_stages_of(const std::vector<Stage>& stages,
                                                    std::vector<FirstStageView> views) {
  std::vector<AuditInput::LaterStage> out;
  const std::size_t k_stages = std::min(views.size(), stages.size());
  if (k_stages < 2) return out;
  const std::size_t n = views.front().pred.size();
  // Every stage's acceptance first (the views are moved out below).
  std::vector<std::vector<std::uint8_t>> accepts;
  for (std::size_t k = 0; k + 1 < k_stages; ++k)
    accepts.push_back(stage_accepts(stages[k], StageOutput{views[k].pred, views[k].score}));
  std::vector<std::uint8_t> reached(n, 1);
  for (std::size_t k = 0; k + 1 < k_stages; ++k) {
    // A row stage 1's out-of-distribution guard rejects (score −∞) goes to the teacher.
    for (std::size_t i = 0; i < n; ++i)
      reached[i] = reached[i] && !accepts[k][i] &&
                   !(k == 0 && views[0].score[i] == -std::numeric_limits<float>::infinity());
    out.push_back({std::move(views[k + 1]), reached});
  }
  return out;
}

AuditInput audit_input_for_run(const Candidate* selected, const Deployment& deployment,
                               const PreparedData& prep, const FittedZoo& zoo) {
  AuditInput in;
  in.rows = &prep.test;
  in.deployed = deployment.deployed;
  in.handled = deployment.test.handled;
  in.answer = deployment.test.answer;
  in.handled_per_stage = deployment.test.handled_per_stage;
  in.agreement_per_stage = deployment.test.agreement_per_stage;
  if (selected) {
    std::vector<FirstStageView> views = stages_on_test(*selected, zoo, prep.test);
    in.first = views.front();
    if (deployment.deployed) in.later_stages = later_stages_of(deployment.stages, std::move(views));
    in.family = selected->family;
    in.model = selected->model;
  }
  return in;
}

json audit_json(double target, const AuditInput& in, const AuditOptions& options) {
  DB_CHECK(in.rows, "audit: no rows");
  const Dataset& d = *in.rows;
  const double fdr = options.fdr;
  const std::size_t n = d.size();
  DB_CHECK(in.handled.size() == n && in.answer.size() == n,
           "audit: decisions for {} / {} of {} rows", in.handled.size(), in.answer.size(), n);
  const bool has_first = !in.first.pred.empty();
  DB_CHECK(!has_first || (in.first.pred.size() == n && in.first.score.size() == n &&
                          in.first.agrees.size() == n),
           "audit: the first stage covers {} of {} rows", in.first.pred.size(), n);
  AuditRows rows;
  rows.teacher = d.teacher;
  rows.gold = d.gold;
  rows.handled = in.handled;
  rows.answer.resize(n);
  for (std::size_t i = 0; i < n; ++i) rows.answer[i] = in.handled[i] ? in.answer[i] : kNoLabel;
  rows.prediction = has_first ? in.first.pred : std::vector<LabelId>(n, kNoLabel);
  std::size_t handled = 0, agreed = 0;
  for (std::size_t i = 0; i < n; ++i) {
    handled += rows.handled[i] != 0;
    agreed += rows.handled[i] && rows.answer[i] == rows.teacher[i];
  }
  std::size_t flagged = 0;
  json out = {
      {"target", target}, {"split", "test"}, {"rows", n}, {"deployed", in.deployed}, {"fdr", fdr}};
  // The traffic split: each stage's answered rows, then the teacher's.
  json stages = json::array();
  std::size_t reaching = n;
  for (std::size_t s = 0; s < in.handled_per_stage.size(); ++s) {
    if (s > 0 && s - 1 < in.later_stages.size())  // counted, out-of-distribution rows left out
      reaching = static_cast<std::size_t>(std::count(in.later_stages[s - 1].reached.begin(),
                                                     in.later_stages[s - 1].reached.end(), 1));
    const double a = s < in.agreement_per_stage.size() ? in.agreement_per_stage[s] : std::nan("");
    stages.push_back({{"stage", s + 1},
                      {"reached", reaching},
                      {"handled", in.handled_per_stage[s]},
                      {"agreement", nan_to_json(a)}});
    reaching -= std::min(reaching, in.handled_per_stage[s]);
  }
  out["routing"] = {{"stages", stages},
                    {"handled", proportion_json(proportion(handled, n))},
                    {"agreement", proportion_json(proportion(agreed, handled))},
                    {"deferred", n - handled}};
  out["slices"] = slices_json(rows, d, target, fdr, &flagged);
  out["flagged_slices"] = flagged;
  out["agreement_gap"] = gap_json(rows, d);
  out["temporal"] = temporal_json(rows, d, options);
  if (has_first) {
    const RiskCoverage rc = risk_coverage(in.first.score, in.first.agrees);
    out["examples"] = examples_json(rows, in.first.score, d, options.threads);
    const double coverage =
        n ? static_cast<double>(handled) / static_cast<double>(n) : std::nan("");
    out["risk_coverage"] = {
        {"family", in.family},
        {"model", in.model},
        {"aurc", nan_to_json(rc.aurc)},
        {"e_aurc", nan_to_json(rc.e_aurc)},
        {"optimal_aurc", nan_to_json(rc.optimal)},
        {"curve_columns", {"coverage", "risk", "oracle_risk"}},
        {"curve", curve_json(in.first)},
        {"stages", stages_curves_json(in)},
        {"deployed_point",
         {nan_to_json(coverage),
          nan_to_json(handled > 0 ? 1.0 - static_cast<double>(agreed) / static_cast<double>(handled)
                                  : std::nan(""))}}};
  } else {
    out["risk_coverage"] = nullptr;
    out["examples"] = nullptr;
  }
  return out;
}

json compare_json(const AuditInput& a, const AuditInput& b, const LabelSpace& labels, double fdr) {
  DB_CHECK(a.rows && a.rows == b.rows, "audit --compare: the policies saw different rows");
  const Dataset& d = *a.rows;
  PolicyPair p;
  p.teacher = d.teacher;
  p.handled_a = a.handled;
  p.handled_b = b.handled;
  for (std::size_t i = 0; i < d.size(); ++i) {
    p.agrees_a.push_back(a.answer.at(i) == d.teacher[i]);
    p.agrees_b.push_back(b.answer.at(i) == d.teacher[i]);
  }
  const PolicyComparison c = compare_policies(p, fdr);
  json classes = json::array();
  for (const ClassShift& s : c.classes)
    classes.push_back({{"teacher", labels.name(s.label)},
                       {"rows", s.rows},
                       {"coverage_a", proportion_json(s.coverage_a)},
                       {"coverage_b", proportion_json(s.coverage_b)},
                       {"agreement_a", proportion_json(s.agreement_a)},
                       {"agreement_b", proportion_json(s.agreement_b)},
                       {"to_handled", s.to_handled},
                       {"to_deferred", s.to_deferred},
                       {"coverage_change", nan_to_json(s.coverage_change)},
                       {"p_value", nan_to_json(s.p_value)},
                       {"flagged", s.flagged}});
  return {{"coverage_a", proportion_json(c.coverage_a)},
          {"coverage_b", proportion_json(c.coverage_b)},
          {"agreement_a", proportion_json(c.agreement_a)},
          {"agreement_b", proportion_json(c.agreement_b)},
          {"to_handled", c.to_handled},
          {"to_deferred", c.to_deferred},
          {"flagged_classes", c.flagged},
          {"classes", classes}};
}

}  // namespace deferbench
