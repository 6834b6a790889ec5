#include "experiments/cli.h"

#include "experiments/launcher.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "core/config/compose.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"
#include "experiments/audit_command.h"
#include "experiments/expert_policy_io.h"
#include "experiments/policy_io.h"
#include "experiments/report.h"
#include "experiments/run.h"
#include "experiments/sweep.h"
#include "models/backend.h"

namespace deferbench {
namespace fs = std::filesystem;

namespace {

fs::path project_root() {
  if (const char* env = std::getenv("DEFERBENCH_ROOT")) return env;
  return DEFERBENCH_ROOT;
}

// Options bound by several subcommands.
struct CommonArgs {
  bool quiet = false;
  std::string config_dir;
};

struct RunArgs {
  std::vector<std::string> overrides;
  bool print_cfg = false, verbose = false, multirun = false;
  std::string resume_dir;
  int jobs = 0;
  std::string progress = "auto";
  bool wait = false;
  double poll = 10;
  std::string task_file;  // a Slurm array task (hidden options: the sbatch script's)
  std::size_t task = 0;
};

struct StatusArgs {
  std::string dir;
  bool wait = false, no_report = false;
  double poll = 10;
  std::string progress = "auto";
};

struct ReportArgs {
  std::string dir;
  double target = -1;
  bool no_plots = false;
};

struct FeaturizeArgs {
  std::vector<std::string> overrides;
  std::string out;
};

struct AuditArgs {
  AuditCommandOptions o;
  std::string policy, input, output, compare;
  int threads = 0;
};

struct RouteArgs {
  std::string policy_dir, input, output, device = "auto";
  RouteOptions opts;
  int threads = 0;
};

CLI::App* add_run_command(CLI::App& app, RunArgs& a, CommonArgs& c) {
  CLI::App* run = app.add_subcommand("run", "Run an experiment (default: experiment=synthetic)");
  run->add_option("overrides", a.overrides,
                  "Hydra-style overrides: GROUP=OPTION, key=value, +key=value, ~key");
  run->add_flag("--cfg", a.print_cfg, "Print the composed config and exit");
  run->add_option("--config-dir", c.config_dir,
                  "Config folder (default: experiments/configs of the source tree)");
  run->add_flag("-q,--quiet", c.quiet, "No summary and no log lines, errors only");
  run->add_flag("-v,--verbose", a.verbose, "Debug log lines");
  run->add_flag("-m,--multirun", a.multirun,
                "Sweep: KEY=a,b,c and KEY=range(start,stop[,step]) expand to the Cartesian "
                "product of runs, in one resumable folder");
  run->add_option("--resume", a.resume_dir,
                  "Complete an interrupted sweep folder (reruns runs without metrics.json)");
  run->add_option("-j,--jobs", a.jobs, "Sweep runs at once (default: the cores; also jobs=N)")
      ->check(CLI::Range(1, 1024));
  run->add_option("--progress", a.progress, "Sweep progress: auto | bar | lines | none")
      ->check(CLI::IsMember({"auto", "bar", "lines", "none"}));
  run->add_flag("--wait", a.wait,
                "launcher=slurm: follow the job array to its end, then write the summary and "
                "the report (as deferbench status DIR --wait)");
  run->add_option("--poll", a.poll, "launcher=slurm --wait: seconds between Slurm queries")
      ->check(CLI::Range(0.1, 3600.0));
  // What the sbatch script of launcher=slurm runs in each array task.
  run->add_option("--task-file", a.task_file)->group("");
  run->add_option("--task", a.task)->group("");
  return run;
}

CLI::App* add_status_command(CLI::App& app, StatusArgs& a, CommonArgs& c) {
  CLI::App* status = app.add_subcommand(
      "status", "Where a sweep folder stands: runs complete, failed, pending, and its Slurm tasks");
  status->add_option("dir", a.dir, "Sweep folder (results/<name>/<stamp> or .../latest)")
      ->required();
  status->add_flag("--wait", a.wait,
                   "Poll Slurm until no task of the sweep is pending or running (a progress "
                   "bar), then write the summary and the report");
  status->add_option("--poll", a.poll, "Seconds between Slurm queries (--wait)")
      ->check(CLI::Range(0.1, 3600.0));
  status->add_option("--progress", a.progress, "Progress: auto | bar | lines | none")
      ->check(CLI::IsMember({"auto", "bar", "lines", "none"}));
  status->add_flag("--no-report", a.no_report, "Do not write tables/ and plots/");
  status->add_flag("-q,--quiet", c.quiet, "Errors only");
  return status;
}

CLI::App* add_report_command(CLI::App& app, ReportArgs& a, CommonArgs& c) {
  CLI::App* report = app.add_subcommand(
      "report", "Tables (Markdown, LaTeX, CSV) and gnuplot plots of a sweep folder");
  report->add_option("dir", a.dir, "Sweep folder (results/<name>/<stamp> or .../latest)")
      ->required();
  report->add_option("--target", a.target, "Table 2's target (default: 0.9 or the median)");
  report->add_flag("--no-plots", a.no_plots, "Tables only");
  report->add_flag("-q,--quiet", c.quiet, "No file list on stdout");
  return report;
}

CLI::App* add_featurize_command(CLI::App& app, FeaturizeArgs& a, CommonArgs& c) {
  CLI::App* featurize = app.add_subcommand(
      "featurize", "Write the features of every row (featurizer fitted on train) to a folder");
  featurize->add_option("overrides", a.overrides, "Overrides, as for run");
  featurize->add_option("-o,--out", a.out, "Output folder (must not exist or be empty)")
      ->required();
  featurize->add_option("--config-dir", c.config_dir, "Config folder");
  featurize->add_flag("-q,--quiet", c.quiet, "No summary and no log lines, errors only");
  return featurize;
}

CLI::App* add_route_command(CLI::App& app, RouteArgs& a, CommonArgs& c) {
  CLI::App* route = app.add_subcommand(
      "route", "Route new traffic with a saved policy (run ... save_policy=DIR)");
  route->add_option("--policy", a.policy_dir, "Policy folder")->required();
  route->add_option("--input", a.input, "JSONL, CSV or .npy file")->required();
  route->add_option("-o,--output", a.output, "Output JSONL (default: stdout)");
  route->add_option("--format", a.opts.format, "auto | jsonl | csv | npy")
      ->check(CLI::IsMember({"auto", "jsonl", "csv", "npy"}));
  route->add_option("--text-column", a.opts.text_column, "CSV text column");
  route->add_option("--id-column", a.opts.id_column, "CSV id column");
  route->add_option("--threads", a.threads, "Threads (0: all cores)");
  route->add_option("--device", a.device, "cpu | cuda | cuda:N | auto")
      ->check([](const std::string& v) {
        try {
          parse_device_request(v);
          return std::string();
        } catch (const Error& e) {
          return std::string(e.what());
        }
      });
  route->add_flag("-q,--quiet", c.quiet, "No summary on stderr");
  return route;
}

CLI::App* add_audit_command(CLI::App& app, AuditArgs& a, CommonArgs& c) {
  CLI::App* audit = app.add_subcommand(
      "audit",
      "Audit a saved policy on traffic with the teacher's answers: audit.json and report.html");
  audit->add_option("--policy", a.policy, "Policy folder (run ... save_policy=DIR)")->required();
  audit->add_option("--input", a.input, "JSONL traces or CSV with the teacher's answers")
      ->required();
  audit->add_option("-o,--output", a.output, "Output folder (default: audit-<input stem>)");
  audit->add_option("--compare", a.compare,
                    "A second policy folder: which classes move between answered and deferred");
  audit->add_option("--format", a.o.read.format, "auto | jsonl | csv")
      ->check(CLI::IsMember({"auto", "jsonl", "csv"}));
  audit->add_option("--text-column", a.o.read.text_column, "CSV text column");
  audit->add_option("--teacher-column", a.o.read.teacher_column, "CSV teacher column");
  audit->add_option("--gold-column", a.o.read.gold_column, "CSV gold column (optional)");
  audit->add_option("--time-column", a.o.read.time_column, "CSV time column (optional)");
  audit->add_option("--slice-column", a.o.read.slice_column, "CSV slice-tag column (optional)");
  audit->add_option("--id-column", a.o.read.id_column, "CSV id column");
  audit->add_option("--field", a.o.read.fields,
                    "Slice also by this metadata key (JSONL) or column (CSV); repeatable");
  audit->add_option("--fdr", a.o.audit.fdr, "Benjamini–Hochberg rate of the flags")
      ->check(CLI::Range(1e-6, 0.5));
  audit->add_option("--time", a.o.audit.time, "Temporal windows: auto | row_order | none")
      ->check(CLI::IsMember({"auto", "row_order", "none"}));
  audit->add_option("--windows", a.o.audit.windows, "Temporal windows")->check(CLI::Range(2, 1000));
  audit->add_option("--threads", a.threads, "Threads (0: all cores)");
  audit->add_flag("-q,--quiet", c.quiet, "No summary");
  return audit;
}

int audit_command(AuditArgs a, bool quiet) {
  const Context ctx = make_context(parse_device_request("cpu"), 0, a.threads);
  a.o.audit.threads = ctx.threads;
  a.o.policy = a.policy;
  a.o.input = a.input;
  a.o.output = a.output;
  a.o.compare = a.compare;
  if (a.o.read.format == "auto" && fs::path(a.input).extension() == ".npy")
    a.o.read.format = "npy";  // refused by the reader with the reason
  const AuditCommandResult r = run_audit_command(a.o, ctx);
  if (!quiet)
    fmt::print(
        "deferbench audit: {} rows, {} answered by the policy, {} flagged slices\n  {}\n  {}\n",
        r.rows, r.handled, r.flagged_slices, (r.dir / "audit.json").string(),
        (r.dir / "report.html").string());
  return 0;
}

int route_command(const RouteArgs& a, bool quiet) {
  const Context ctx = make_context(parse_device_request(a.device), 0, a.threads);
  if (!a.output.empty()) {
    check_output_file(a.output, "route -o");
    DB_CHECK(!same_file(a.output, a.input),
             "route -o: {} is the --input file; expected another file (routing would overwrite "
             "its input)",
             excerpt(a.output));
  }
  // An experts policy (run with an `experts` section) routes to one choice per query.
  const bool experts = [&] {
    try {
      const auto m = nlohmann::json::parse(read_file(fs::path(a.policy_dir) / "manifest.json"));
      return m.is_object() && m.value("kind", "") == kExpertsKind;
    } catch (const std::exception&) {
      return false;  // load_policy says what is wrong with the folder
    }
  }();
  const RoutedFile routed =
      experts ? route_expert_file(load_expert_policy(a.policy_dir), a.input, a.opts, ctx)
              : route_file(load_policy(a.policy_dir), a.input, a.opts, ctx);
  if (a.output.empty())
    fmt::print("{}", routed.lines);
  else
    write_file_atomic(a.output, routed.lines);
  if (!quiet)
    fmt::print(stderr, "deferbench route: {} rows, {} handled by the surrogate, {} {}\n",
               routed.rows, routed.handled, routed.rows - routed.handled,
               experts ? "sent to experts" : "deferred");
  return 0;
}

int report_command(const ReportArgs& a, bool quiet) {
  ReportOptions ro;
  ro.zoo_target = a.target;
  ro.plots = !a.no_plots;
  const ReportResult r = write_report(a.dir, ro);
  if (!r.warning.empty()) spdlog::warn("{}", r.warning);
  if (!quiet) {
    fmt::print("report of {} runs ({} without metrics.json skipped):\n", r.runs, r.skipped_runs);
    for (const fs::path& f : r.files) fmt::print("  {}\n", f.string());
  }
  return 0;
}

int featurize_command(const FeaturizeArgs& a, bool quiet, const fs::path& root,
                      const fs::path& config_dir) {
  RunOptions options;
  options.project_root = root;
  options.quiet = quiet;
  featurize_to(compose_config(config_dir, a.overrides).config, options, a.out);
  return 0;
}

// `jobs=N` among the overrides is the sweep launcher's setting, not part of the config: removed
// from them. Returns N (the last one given), else `jobs`.
int take_jobs_override(std::vector<std::string>& overrides, int jobs) {
  for (auto it = overrides.begin(); it != overrides.end();) {
    if (it->rfind("jobs=", 0) == 0) {
      try {
        jobs = std::stoi(it->substr(5));
      } catch (const std::exception&) {
        jobs = 0;
      }
      DB_CHECK(jobs >= 1, "override '{}': jobs: expected an integer ≥ 1", *it);
      it = overrides.erase(it);
    } else {
      ++it;
    }
  }
  return jobs;
}

ProgressMode progress_mode(const std::string& progress, bool quiet) {
  return quiet                 ? ProgressMode::kNone
         : progress == "bar"   ? ProgressMode::kBar
         : progress == "lines" ? ProgressMode::kLines
         : progress == "none"  ? ProgressMode::kNone
                               : ProgressMode::kAuto;
}

void print_status(const SweepStatus& st) {
  fmt::print("sweep {}: {} runs: {} complete, {} failed, {} in Slurm, {} not started\n",
             st.dir.string(), st.runs, st.complete, st.failed, st.active, st.pending);
  for (const auto& [job, states] : st.jobs) fmt::print("  slurm job {}: tasks {}\n", job, states);
  constexpr std::size_t kShown = 20;
  for (std::size_t i = 0; i < st.failures.size() && i < kShown; ++i)
    fmt::print("  run {} failed: {}\n", st.failures[i].first, st.failures[i].second);
  if (st.failures.size() > kShown)
    fmt::print("  ... and {} more failed runs (summary.csv lists them)\n",
               st.failures.size() - kShown);
  if (st.active == 0 && st.complete < st.runs)
    fmt::print("  deferbench run --resume {} runs the {} runs without metrics.json again\n",
               st.dir.string(), st.runs - st.complete);
}

int status_command(const StatusArgs& a, const CommonArgs& c, const fs::path& root) {
  SweepOptions so;
  so.project_root = root;
  so.wait = a.wait;
  so.poll_seconds = a.poll;
  so.report = !a.no_report;
  so.progress = progress_mode(a.progress, c.quiet);
  const SweepStatus st = sweep_status(a.dir, so);
  if (!c.quiet) print_status(st);
  return static_cast<int>(std::min<std::size_t>(st.failed, 100));
}

int sweep_command(const RunArgs& a, const CommonArgs& c, const fs::path& root) {
  DB_CHECK(!a.print_cfg, "--cfg prints one composed config: drop -m (or give one value per key)");
  SweepOptions so;
  so.project_root = root;
  so.config_dir = c.config_dir;
  so.jobs = a.jobs;
  so.resume = a.resume_dir;
  so.progress = progress_mode(a.progress, c.quiet);
  so.wait = a.wait;
  so.poll_seconds = a.poll;
  so.task_file = a.task_file;
  so.task = a.task;
  if (!a.task_file.empty())
    DB_CHECK(!a.resume_dir.empty(), "--task-file: expected --resume DIR (the sweep folder)");
  const SweepResult r = run_sweep(a.overrides, so);
  if (!r.job_id.empty() && !c.quiet && !a.wait)
    fmt::print(
        "sweep: submitted slurm job {} ({} tasks, {} runs; {} already complete) for {}\n"
        "  follow it: deferbench status {} --wait\n",
        r.job_id, r.tasks, r.active, r.skipped, r.dir.string(), r.dir.string());
  if (!r.job_id.empty() && !a.wait) return 0;
  if (!c.quiet || r.failed > 0)
    fmt::print(
        "sweep: {} runs ({} already complete, {} failed) in {}; shared work: {} "
        "computed, {} reused\n",
        r.runs, r.skipped, r.failed, r.dir.string(), r.fits_computed, r.fits_reused);
  return sweep_exit_status(r);
}

int run_command(RunArgs a, const CommonArgs& c, const fs::path& root, const fs::path& config_dir) {
  a.jobs = take_jobs_override(a.overrides, a.jobs);
  if (a.multirun || !a.resume_dir.empty()) return sweep_command(a, c, root);
  for (const std::string& o : a.overrides)
    DB_CHECK(!is_sweep_override(o), "override '{}' lists several values: add -m to sweep them", o);
  ComposedConfig composed = compose_config(config_dir, a.overrides);
  const LauncherSettings launcher = LauncherSettings::from_yaml(composed.config["launcher"]);
  DB_CHECK(a.print_cfg || launcher.kind == "local",
           "launcher={}: the launcher runs sweeps; add -m (a sweep of one run is fine)",
           launcher.kind);
  if (a.print_cfg) {
    fmt::print("{}", to_yaml_text(composed.config));
    return 0;
  }
  RunOptions options;
  options.project_root = root;
  options.quiet = c.quiet;
  run_experiment(composed.config, options);
  return 0;
}

}  // namespace

int cli_main(int argc, char** argv) {
  CLI::App app{
      "deferbench: learn to defer — a cheap surrogate answers what it can, with a "
      "teacher-agreement target, and defers the rest to the expensive teacher"};
  app.set_version_flag("--version", std::string("deferbench ") + DEFERBENCH_VERSION);
  app.require_subcommand(0, 1);
  CommonArgs common;
  RunArgs run_args;
  ReportArgs report_args;
  FeaturizeArgs featurize_args;
  RouteArgs route_args;
  StatusArgs status_args;
  AuditArgs audit_args;
  add_run_command(app, run_args, common);
  CLI::App* status = add_status_command(app, status_args, common);
  CLI::App* report = add_report_command(app, report_args, common);
  CLI::App* featurize = add_featurize_command(app, featurize_args, common);
  CLI::App* route = add_route_command(app, route_args, common);
  CLI::App* audit = add_audit_command(app, audit_args, common);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (app.get_subcommands().empty()) {
    fmt::print("{}", app.help());
    return 0;
  }

  spdlog::set_pattern("[%H:%M:%S] %v");
  spdlog::set_level(common.quiet ? spdlog::level::warn
                                 : (run_args.verbose ? spdlog::level::debug : spdlog::level::info));
  const fs::path root = project_root();
  const fs::path dir =
      common.config_dir.empty() ? root / "experiments" / "configs" : fs::path(common.config_dir);
  if (route->parsed()) return route_command(route_args, common.quiet);
  if (audit->parsed()) return audit_command(audit_args, common.quiet);
  if (report->parsed()) return report_command(report_args, common.quiet);
  if (status->parsed()) return status_command(status_args, common, root);
  if (featurize->parsed()) return featurize_command(featurize_args, common.quiet, root, dir);
  return run_command(run_args, common, root, dir);
}

}  // namespace deferbench
