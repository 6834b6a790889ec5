// The last step of a run: its results as metrics.json and frontier.csv, the run folder they are
// written into (atomically), the deployed policies and the summary on stdout.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "core/experts/expert_policy.h"
#include "core/routing/calibration.h"
#include "core/routing/policy.h"
#include "experiments/prepare.h"
#include "experiments/run_settings.h"
#include "experiments/run_steps.h"

namespace deferbench {

// What a run computed, before anything is written.
struct RunOutput {
  YAML::Node config;  // the composed config it ran
  RunSettings settings;
  nlohmann::json metrics;
  std::string frontier_csv;  // empty for an experts run
  std::string experts_csv;   // an experts run (experiments/experts_run.h): experts.csv
  std::string stream_csv;    // a stream run (experiments/stream_run.h): stream.csv
  // An experts run: the policy of each learned method's deployment, by name
  // (<method>_budget_<B>, <method>_target_<A>), what save_policy writes.
  std::vector<std::pair<std::string, ExpertPolicy>> expert_policies;
  std::vector<std::vector<Stage>> deployed;  // per target (empty: teacher only)
  std::shared_ptr<const PreparedData> prep;
  nlohmann::json audit;  // null: no audit; else audit.json (one entry per target)
};

// A number as JSON, NaN (an undefined metric) as null.
nlohmann::json nan_to_json(double x);

// frontier.csv: its header line, then one line per candidate of each target.
std::string frontier_csv_header();
std::string frontier_csv_rows(double target, const std::vector<Candidate>& candidates,
                              const Selection& selection);

// metrics.json's entry for one target: the selection and the deployed policy's test metrics.
nlohmann::json target_json(double target, const std::vector<Candidate>& candidates,
                           const Selection& selection, const Deployment& deployment);

// metrics.json: the run, its data, the zoo, the calibration and every target's entry.
nlohmann::json run_metrics(const RunPlan& plan, const PreparedData& prep, const FittedZoo& zoo,
                           const CalibrationSettings& calib, const nlohmann::json& per_target,
                           double total_seconds);

// report.html of a run with audit=true: its audit.json as a page (experiments/report/audit_page.h)
// with the run's metrics and config.
std::string run_audit_page(const RunOutput& out);

// Writes config.yaml, metrics.json, frontier.csv and log.txt (with audit=true also audit.json
// and report.html) of a run into `dir` (which exists).
void write_run_files(const RunOutput& out, const std::filesystem::path& dir,
                     const std::string& log_text);

// Writes the run's files into <results_dir>/<name>/<YYYY-MM-DD_HH-MM-SS> (a temporary folder
// renamed when complete: a failed write leaves nothing behind) and points
// <results_dir>/<name>/latest at it. Returns the run folder.
std::filesystem::path write_run_folder(const RunOutput& out, const std::string& log_text);

// Saves the deployed policies for `deferbench route`: into `dir`, or dir/target-<t> for each
// target when the run has several; an experts run's into dir/<method>_budget_<B> and
// dir/<method>_target_<A> (experiments/expert_policy_io.h).
void save_run_policies(const RunOutput& out, const std::filesystem::path& dir,
                       const std::filesystem::path& run_dir);

// The run's summary on stdout: its data, and per target who answers and the test metrics.
void print_run_summary(const RunOutput& out, const std::filesystem::path& run_dir);

// An experts run's summary on stdout (single choices, each method at the budgets and targets).
void print_experts_summary(const RunOutput& out, const std::filesystem::path& run_dir);

// A stream run's summary on stdout (per variant: teacher calls, coverage, agreement, refits).
void print_stream_summary(const RunOutput& out, const std::filesystem::path& run_dir);

// Local time as YYYY-MM-DD_HH-MM-SS (folder names).
std::string timestamp_now();

// A new folder parent/<stamp> (parent/<stamp>_1, _2, ... when taken), created.
std::filesystem::path new_stamped_folder(const std::filesystem::path& parent);

// Points `link` at `target` (a sibling name) atomically; a warning if that fails.
void update_symlink(const std::filesystem::path& link, const std::filesystem::path& target);

}  // namespace deferbench
