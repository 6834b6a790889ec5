#include "experiments/run.h"

#include <utility>

#include <spdlog/spdlog.h>

#include "core/config/compose.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"
#include "experiments/audit.h"
#include "experiments/experts_run.h"
#include "experiments/run_log.h"
#include "experiments/run_steps.h"
#include "experiments/stream_run.h"

namespace deferbench {
namespace fs = std::filesystem;

namespace {

// One target's share of the run's output.
struct TargetResult {
  nlohmann::json json;       // its entry in metrics.json's `targets`
  std::string frontier_csv;  // its candidates' lines of frontier.csv
  std::vector<Stage> deployed;
  nlohmann::json audit;  // audit=true: its audit.json entry
};

// Candidates at one target: selection on val, deployment calibrated on cal, test metrics.
TargetResult run_target(double target, const RunPlan& plan, const PreparedData& prep,
                        const FittedZoo& zoo, const CalibrationSettings& calib) {
  std::vector<Candidate> candidates = candidates_at(target, plan, prep, zoo, calib);
  candidates = with_val_fallback(std::move(candidates), target, plan, prep, zoo, calib);
  const Selection selection = select_on_val(candidates);
  Deployment deployment =
      deploy(candidates, selection, prep, zoo, target, calib, plan.settings.pipeline);
  if (!deployment.diagnostic.empty()) spdlog::info("{}", deployment.diagnostic);
  TargetResult r;
  r.frontier_csv = frontier_csv_rows(target, candidates, selection);
  r.json = target_json(target, candidates, selection, deployment);
  if (plan.settings.audit)
    r.audit =
        audit_json(target,
                   audit_input_for_run(selection.chosen >= 0
                                           ? &candidates[static_cast<std::size_t>(selection.chosen)]
                                           : nullptr,
                                       deployment, prep, zoo),
                   AuditOptions{plan.settings.audit_fdr, plan.settings.audit_time,
                                static_cast<std::size_t>(plan.settings.audit_windows)});
  r.deployed = std::move(deployment.stages);
  return r;
}

}  // namespace

RunOutput compute_run(const YAML::Node& config, const RunOptions& options) {
  if (config["experts"]) return compute_experts_run(config, options);
  if (config["stream"] && config["stream"]["enabled"] &&
      config["stream"]["enabled"].as<bool>(false))
    return compute_stream_run(config, options);
  const auto t_start = RunClock::now();
  const RunPlan plan = plan_run(config, options);
  const RunSettings& s = plan.settings;
  // Every output path is checked before any work: a bad one costs nothing.
  check_output_folder(s.results_dir / s.name, "results_dir");
  if (!s.save_policy.empty()) check_output_folder(s.save_policy, "save_policy", true);

  RunOutput out;
  out.prep =
      cached_prepared(options.cache, plan.prep_key, [&] { return prepare_data(s, plan.ctx); });
  const PreparedData& prep = *out.prep;
  const FittedZoo zoo = fit_zoo(plan, prep, options.cache);
  const CalibrationSettings calib = run_calibration(s, prep);

  out.frontier_csv = frontier_csv_header();
  nlohmann::json per_target = nlohmann::json::array();
  for (double target : calib.targets) {
    TargetResult r = run_target(target, plan, prep, zoo, calib);
    out.frontier_csv += r.frontier_csv;
    per_target.push_back(std::move(r.json));
    out.deployed.push_back(std::move(r.deployed));
    if (s.audit) {
      if (out.audit.is_null()) out.audit = nlohmann::json::array();
      out.audit.push_back(std::move(r.audit));
    }
  }
  out.metrics = run_metrics(plan, prep, zoo, calib, per_target, seconds_since(t_start));
  out.config = clone(config);
  out.settings = s;
  return out;
}

std::vector<std::string> run_cache_keys(const YAML::Node& config, const RunOptions& options) {
  const RunPlan p = plan_run(config, options);
  std::vector<std::string> keys{p.prep_key};
  keys.insert(keys.end(), p.fit_keys.begin(), p.fit_keys.end());
  return keys;
}

RunResult run_experiment(const YAML::Node& config, const RunOptions& options) {
  std::string log_text;
  RunOutput out;
  {
    RunLogCapture capture(&log_text);
    out = compute_run(config, options);
  }
  const fs::path run_dir = write_run_folder(out, log_text);
  if (!out.settings.save_policy.empty()) save_run_policies(out, out.settings.save_policy, run_dir);
  if (!out.experts_csv.empty()) {
    if (!options.quiet) print_experts_summary(out, run_dir);
    return RunResult{run_dir, out.metrics, {}};
  }
  if (!out.stream_csv.empty()) {
    if (!options.quiet) print_stream_summary(out, run_dir);
    return RunResult{run_dir, out.metrics, {}};
  }
  if (!options.quiet) print_run_summary(out, run_dir);
  return RunResult{run_dir, out.metrics, out.deployed.front()};
}

}  // namespace deferbench
