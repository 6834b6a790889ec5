#include "experiments/cli.h"

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

}  // namespace

int cli_main(int argc, char** argv) {
  CLI::App app{
      "deferbench: learn to defer — a cheap surrogate answers what it can, with a "
      "teacher-agreement target, and defers the rest to the expensive teacher"};
  app.set_version_flag("--version", std::string("deferbench ") + DEFERBENCH_VERSION);
  app.require_subcommand(0, 1);

  std::vector<std::string> overrides;
  bool print_cfg = false, quiet = false, verbose = false;
  std::string config_dir;
  CLI::App* run = app.add_subcommand("run", "Run an experiment (default: experiment=synthetic)");
  run->add_option("overrides", overrides,
                  "Hydra-style overrides: GROUP=OPTION, key=value, +key=value, ~key");
  run->add_flag("--cfg", print_cfg, "Print the composed config and exit");
  run->add_option("--config-dir", config_dir,
                  "Config folder (default: experiments/configs of the source tree)");
  run->add_flag("-q,--quiet", quiet, "No summary and no log lines, errors only");
  run->add_flag("-v,--verbose", verbose, "Debug log lines");
  bool multirun = false;
  std::string resume_dir;
  int jobs = 0;
  run->add_flag("-m,--multirun", multirun,
                "Sweep: KEY=a,b,c and KEY=range(start,stop[,step]) expand to the Cartesian "
                "product of runs, in one resumable folder");
  run->add_option("--resume", resume_dir,
                  "Complete an interrupted sweep folder (reruns runs without metrics.json)");
  run->add_option("-j,--jobs", jobs, "Sweep runs at once (default: the cores; also jobs=N)")
      ->check(CLI::Range(1, 1024));
  std::string progress = "auto";
  run->add_option("--progress", progress, "Sweep progress: auto | bar | lines | none")
      ->check(CLI::IsMember({"auto", "bar", "lines", "none"}));

  std::string report_dir;
  double report_target = -1;
  bool no_plots = false;
  CLI::App* report = app.add_subcommand(
      "report", "Tables (Markdown, LaTeX, CSV) and gnuplot plots of a sweep folder");
  report->add_option("dir", report_dir, "Sweep folder (results/<name>/<stamp> or .../latest)")
      ->required();
  report->add_option("--target", report_target, "Table 2's target (default: 0.9 or the median)");
  report->add_flag("--no-plots", no_plots, "Tables only");
  report->add_flag("-q,--quiet", quiet, "No file list on stdout");

  std::vector<std::string> feat_overrides;
  std::string feat_out;
  CLI::App* featurize = app.add_subcommand(
      "featurize", "Write the features of every row (featurizer fitted on train) to a folder");
  featurize->add_option("overrides", feat_overrides, "Overrides, as for run");
  featurize->add_option("-o,--out", feat_out, "Output folder (must not exist or be empty)")
      ->required();
  featurize->add_option("--config-dir", config_dir, "Config folder");
  featurize->add_flag("-q,--quiet", quiet, "No summary and no log lines, errors only");

  std::string policy_dir, route_input, route_output, route_device = "auto";
  RouteOptions route_opts;
  int route_threads = 0;
  CLI::App* route_cmd = app.add_subcommand(
      "route", "Route new traffic with a saved policy (run ... save_policy=DIR)");
  route_cmd->add_option("--policy", policy_dir, "Policy folder")->required();
  route_cmd->add_option("--input", route_input, "JSONL, CSV or .npy file")->required();
  route_cmd->add_option("-o,--output", route_output, "Output JSONL (default: stdout)");
  route_cmd->add_option("--format", route_opts.format, "auto | jsonl | csv | npy")
      ->check(CLI::IsMember({"auto", "jsonl", "csv", "npy"}));
  route_cmd->add_option("--text-column", route_opts.text_column, "CSV text column");
  route_cmd->add_option("--id-column", route_opts.id_column, "CSV id column");
  route_cmd->add_option("--threads", route_threads, "Threads (0: all cores)");
  route_cmd->add_option("--device", route_device, "cpu | cuda | cuda:N | auto")
      ->check([](const std::string& v) {
        try {
          parse_device_request(v);
          return std::string();
        } catch (const Error& e) {
          return std::string(e.what());
        }
      });
  route_cmd->add_flag("-q,--quiet", quiet, "No summary on stderr");

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
  spdlog::set_level(quiet ? spdlog::level::warn
                          : (verbose ? spdlog::level::debug : spdlog::level::info));
  const fs::path root = project_root();
  const fs::path dir = config_dir.empty() ? root / "experiments" / "configs" : fs::path(config_dir);
  if (route_cmd->parsed()) {
    const Context ctx = make_context(parse_device_request(route_device), 0, route_threads);
    const SavedPolicy policy = load_policy(policy_dir);
    const RoutedFile routed = route_file(policy, route_input, route_opts, ctx);
    if (route_output.empty())
      fmt::print("{}", routed.lines);
    else
      write_file_atomic(route_output, routed.lines);
    if (!quiet)
      fmt::print(stderr, "deferbench route: {} rows, {} handled by the surrogate, {} deferred\n",
                 routed.rows, routed.handled, routed.rows - routed.handled);
    return 0;
  }
  if (report->parsed()) {
    ReportOptions ro;
    ro.zoo_target = report_target;
    ro.plots = !no_plots;
    const ReportResult r = write_report(report_dir, ro);
    if (!r.warning.empty()) spdlog::warn("{}", r.warning);
    if (!quiet) {
      fmt::print("report of {} runs ({} without metrics.json skipped):\n", r.runs, r.skipped_runs);
      for (const fs::path& f : r.files) fmt::print("  {}\n", f.string());
    }
    return 0;
  }
  if (featurize->parsed()) {
    RunOptions options;
    options.project_root = root;
    options.quiet = quiet;
    featurize_to(compose_config(dir, feat_overrides).config, options, feat_out);
    return 0;
  }
  // `jobs=N` among the overrides is the sweep launcher's setting, not part of the config.
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
  if (multirun || !resume_dir.empty()) {
    DB_CHECK(!print_cfg, "--cfg prints one composed config: drop -m (or give one value per key)");
    SweepOptions so;
    so.project_root = root;
    so.config_dir = config_dir;
    so.jobs = jobs;
    so.resume = resume_dir;
    so.progress = quiet                 ? ProgressMode::kNone
                  : progress == "bar"   ? ProgressMode::kBar
                  : progress == "lines" ? ProgressMode::kLines
                  : progress == "none"  ? ProgressMode::kNone
                                        : ProgressMode::kAuto;
    const SweepResult r = run_sweep(overrides, so);
    if (!quiet || r.failed > 0)
      fmt::print(
          "sweep: {} runs ({} already complete, {} failed) in {}; shared work: {} "
          "computed, {} reused\n",
          r.runs, r.skipped, r.failed, r.dir.string(), r.fits_computed, r.fits_reused);
    return sweep_exit_status(r);
  }
  for (const std::string& o : overrides)
    DB_CHECK(!is_sweep_override(o), "override '{}' lists several values: add -m to sweep them", o);
  ComposedConfig composed = compose_config(dir, overrides);
  if (print_cfg) {
    fmt::print("{}", to_yaml_text(composed.config));
    return 0;
  }
  RunOptions options;
  options.project_root = root;
  options.quiet = quiet;
  run_experiment(composed.config, options);
  return 0;
}

}  // namespace deferbench
