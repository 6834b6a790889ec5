#include "experiments/audit_command.h"

#include <set>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/routing/policy.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"
#include "experiments/report/audit_page.h"
#include "experiments/run_output.h"

namespace deferbench {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// A label space holding the policy's labels and every teacher and gold answer of the traffic
// (a class the policy never saw is still a class of the traffic: it can only be deferred or
// disagreed with).
std::shared_ptr<const LabelSpace> traffic_labels(const std::vector<const SavedPolicy*>& policies,
                                                 const Traces& t) {
  std::vector<std::string> names;
  for (const SavedPolicy* p : policies)
    names.insert(names.end(), p->labels->names().begin(), p->labels->names().end());
  names.insert(names.end(), t.teacher.begin(), t.teacher.end());
  for (const std::string& g : t.gold)
    if (!g.empty()) names.push_back(g);
  return std::make_shared<const LabelSpace>(names);
}

LabelId remap(LabelId id, const LabelSpace& from, const LabelSpace& to) {
  return id == kNoLabel ? kNoLabel : to.id(from.name(id));
}

// A saved policy's decisions on the rows, in the audit's label space.
AuditInput policy_on(const SavedPolicy& policy, MatrixView x, const Dataset& rows,
                     const Context& ctx) {
  AuditInput in;
  in.rows = &rows;
  const std::size_t n = rows.size();
  in.deployed = !policy.stages.empty();
  in.handled.assign(n, 0);
  in.answer.assign(n, kNoLabel);
  if (policy.stages.empty()) return in;
  const LabelSpace& from = *policy.labels;
  const LabelSpace& to = *rows.labels;
  // Every stage on every row once: the routing and the views below both read these outputs.
  std::vector<StageOutput> outputs;
  for (const Stage& stage : policy.stages) outputs.push_back(evaluate_stage(stage, x, ctx));
  const Routed r = route_outputs(policy.stages, outputs);
  const std::size_t k = policy.stages.size();
  in.handled_per_stage.assign(k, 0);
  std::vector<std::size_t> agreed(k, 0);
  for (std::size_t i = 0; i < n; ++i) {
    if (r.stage[i] < 0) continue;
    const auto s = static_cast<std::size_t>(r.stage[i]);
    in.handled[i] = 1;
    in.answer[i] = remap(r.label[i], from, to);
    ++in.handled_per_stage[s];
    agreed[s] += in.answer[i] == rows.teacher[i];
  }
  for (std::size_t s = 0; s < k; ++s)
    in.agreement_per_stage.push_back(in.handled_per_stage[s]
                                         ? static_cast<double>(agreed[s]) /
                                               static_cast<double>(in.handled_per_stage[s])
                                         : std::nan(""));
  // The views in the policy's label space (what its thresholds read), then in the audit's.
  std::vector<FirstStageView> views;
  for (StageOutput& out : outputs) views.push_back({std::move(out.pred), std::move(out.score), {}});
  in.first = views.front();
  in.later_stages = later_stages_of(policy.stages, std::move(views));
  auto to_audit_labels = [&](FirstStageView& v) {
    for (LabelId& p : v.pred) p = remap(p, from, to);
    v.agrees.resize(n);
    for (std::size_t i = 0; i < n; ++i) v.agrees[i] = v.pred[i] == rows.teacher[i];
  };
  to_audit_labels(in.first);
  for (AuditInput::LaterStage& l : in.later_stages) to_audit_labels(l.view);
  const json& info = policy.manifest.contains("info") ? policy.manifest["info"] : json::object();
  if (info.contains("selected") && info["selected"].is_object()) {
    const json& sel = info["selected"];
    if (sel.contains("family") && sel["family"].is_string()) in.family = sel["family"];
    if (sel.contains("model") && sel["model"].is_string()) in.model = sel["model"];
  }
  return in;
}

json policy_json(const fs::path& dir, const SavedPolicy& p) {
  const json& info = p.manifest.contains("info") ? p.manifest["info"] : json::object();
  json out = {{"dir", dir.string()}, {"stages", p.stages.size()}};
  for (const char* key : {"experiment", "target", "selected", "calibration"})
    if (info.contains(key)) out[key] = info[key];
  return out;
}

}  // namespace

fs::path default_audit_output(const fs::path& input) {
  return fs::path("audit-" + input.stem().string());
}

AuditCommandResult run_audit_command(const AuditCommandOptions& o, const Context& ctx) {
  const fs::path out_dir = o.output.empty() ? default_audit_output(o.input) : o.output;
  check_output_folder(out_dir, "audit -o");
  const SavedPolicy a = load_policy(o.policy);
  std::optional<SavedPolicy> b;
  if (!o.compare.empty()) b = load_policy(o.compare);
  Traffic traffic = read_traffic(a, o.input, o.read, ctx, true);
  DB_CHECK(traffic.traces.size() > 0, "{}: no rows to audit", o.input.string());
  std::vector<const SavedPolicy*> policies{&a};
  if (b) policies.push_back(&*b);
  Matrix x_b;
  if (b) x_b = read_traffic(*b, o.input, o.read, ctx, true).x;
  const std::shared_ptr<const LabelSpace> labels = traffic_labels(policies, traffic.traces);
  Matrix x = std::move(traffic.x);
  traffic.traces.embeddings = Matrix();
  Dataset rows = to_dataset(std::move(traffic.traces), labels);
  rows.features = std::move(x);
  rows.labels = labels;

  const AuditInput in_a = policy_on(a, rows.features.view(), rows, ctx);
  const json info = a.manifest.contains("info") ? a.manifest["info"] : json::object();
  const double target = info.contains("target") && info["target"].is_number()
                            ? info["target"].get<double>()
                            : std::nan("");
  json entry = audit_json(target, in_a, o.audit);
  entry["split"] = "input";
  entry["input"] = o.input.string();
  entry["policy"] = policy_json(o.policy, a);
  if (b) {
    const AuditInput in_b = policy_on(*b, x_b.view(), rows, ctx);
    entry["compare"] = compare_json(in_a, in_b, *labels, o.audit.fdr);
    entry["compare"]["policy_b"] = policy_json(o.compare, *b);
  }
  const json audit = json::array({entry});

  report::AuditPage page;
  page.title =
      fmt::format("Audit of {} on {}", o.policy.filename().string(), o.input.filename().string());
  page.subtitle =
      fmt::format("{} rows of new traffic · {} classes · policy {}{}", rows.size(), labels->size(),
                  o.policy.string(), b ? " compared with " + o.compare.string() : std::string());
  page.facts = {{"policy", o.policy.string()}, {"input", o.input.string()}};
  if (b) page.facts.emplace_back("compared with", o.compare.string());
  if (info.contains("experiment") && info["experiment"].is_string())
    page.facts.emplace_back("trained by experiment", info["experiment"].get<std::string>());
  if (info.contains("run_dir") && info["run_dir"].is_string())
    page.facts.emplace_back("training run", info["run_dir"].get<std::string>());
  page.audit = audit;
  page.calibration = info.contains("calibration") && info["calibration"].is_object()
                         ? info["calibration"]
                         : json();
  if (info.contains("config_yaml") && info["config_yaml"].is_string())
    page.config_text = info["config_yaml"].get<std::string>();

  // Both files rendered before anything is written (trace text that is not valid UTF-8 is
  // written with U+FFFD in its place).
  const std::string audit_text = audit.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
  const std::string html = report::audit_page(page);
  fs::create_directories(out_dir);
  write_file_atomic(out_dir / "audit.json", audit_text);
  write_file_atomic(out_dir / "report.html", html);
  AuditCommandResult r;
  r.dir = out_dir;
  r.rows = rows.size();
  for (std::uint8_t h : in_a.handled) r.handled += h;
  r.flagged_slices = entry.value("flagged_slices", std::size_t{0});
  return r;
}

}  // namespace deferbench
