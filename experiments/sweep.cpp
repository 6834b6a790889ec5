#include "experiments/sweep.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "core/config/compose.h"
#include "core/data/csv_reader.h"
#include "core/util/atomic_file.h"
#include "core/util/context.h"
#include "core/util/error.h"
#include "experiments/report.h"
#include "experiments/run.h"
#include "experiments/run_log.h"
#include "experiments/subprocess.h"
#include "experiments/sweep_internal.h"
#include "experiments/sweep_progress.h"

namespace deferbench {
namespace fs = std::filesystem;
using namespace sweep_internal;

using Clock = std::chrono::steady_clock;

namespace sweep_internal {

std::string summary_csv(const fs::path& dir, const SweepPlan& plan) {
  // The swept keys, then what every row has; a swept key named like one of those (seed) is
  // not repeated.
  const std::vector<std::string> fixed = {"dataset", "seed", "mode", "target"};
  std::vector<bool> keep(fixed.size(), true);
  std::string out = "run";
  for (const SweepAxis& a : plan.axes) {
    out += "," + csv_field(a.key);
    for (std::size_t k = 0; k < fixed.size(); ++k) keep[k] = keep[k] && a.key != fixed[k];
  }
  out += ",status";
  for (std::size_t k = 0; k < fixed.size(); ++k)
    if (keep[k]) out += "," + fixed[k];
  out +=
      ",test_coverage,test_agreement,test_e2e_accuracy,test_e2e_macro_f1,"
      "test_oracle_coverage,efficiency,test_certifiable_coverage,family,model,guarantee_met,"
      "seconds,message\n";
  auto num = [](const nlohmann::json& v) {
    return v.is_number() ? format_csv_number(v.get<double>(), 6) : std::string();
  };
  auto row = [&](const std::string& prefix, const std::string& status,
                 const std::vector<std::string>& fixed_values,
                 const std::vector<std::string>& rest) {
    std::string line = prefix + "," + status;
    for (std::size_t k = 0; k < fixed.size(); ++k)
      if (keep[k]) line += "," + (fixed_values.empty() ? std::string() : fixed_values[k]);
    for (const std::string& v : rest) line += "," + v;
    return line + "\n";
  };
  const std::vector<std::string> nothing(12);
  for (std::size_t n = 0; n < plan.runs.size(); ++n) {
    std::string prefix = std::to_string(n);
    for (const SweepAxis& a : plan.axes)
      prefix += "," + csv_field(parse_override(plan.runs[n][a.position]).value);
    const fs::path run_dir = dir / "runs" / std::to_string(n);
    const fs::path metrics_file = run_dir / "metrics.json";
    if (fs::exists(metrics_file)) {
      try {
        // Not const: a missing key reads as null (and a type error below) instead of UB.
        nlohmann::json m = nlohmann::json::parse(read_file(metrics_file));
        const std::string kind = m.value("kind", "");
        if (kind == "experts" || kind == "stream") {  // results in experts.csv / stream.csv
          std::vector<std::string> rest(nothing);
          rest[10] = fmt::format("{:.3f}", m["seconds"]["total"].get<double>());
          out += row(prefix, "ok",
                     {csv_field(m["dataset"].get<std::string>()),
                      std::to_string(m["seed"].get<std::uint64_t>()), kind, ""},
                     rest);
          continue;
        }
        for (auto& t : m.at("targets")) {
          auto& test = t["test"];
          const double target = t["target"].get<double>();
          std::string met;
          if (test["teacher_agreement"].is_number())
            met = test["teacher_agreement"].get<double>() >= target ? "1" : "0";
          const bool sel = t["selected"].is_object() && t["deployed"].get<bool>();
          out +=
              row(prefix, "ok",
                  {csv_field(m["dataset"].get<std::string>()),
                   std::to_string(m["seed"].get<std::uint64_t>()),
                   m["calibration"]["mode"].get<std::string>(), num(t["target"])},
                  {num(test["coverage"]), num(test["teacher_agreement"]), num(test["e2e_accuracy"]),
                   num(test["e2e_macro_f1"]), num(test["oracle_coverage"]), num(test["efficiency"]),
                   num(test.value("certifiable_coverage", nlohmann::json())),
                   sel ? csv_field(t["selected"]["family"].get<std::string>()) : "teacher",
                   sel ? csv_field(t["selected"]["model"].get<std::string>()) : "", met,
                   fmt::format("{:.3f}", m["seconds"]["total"].get<double>()), ""});
        }
      } catch (const nlohmann::json::exception& e) {
        // A metrics.json this build did not write (truncated, edited): name it and how to redo it.
        fail(Where{metrics_file.string(), 0, ""},
             fmt::format("not a complete run's metrics ({}); delete {} to run it again",
                         excerpt(e.what()), run_dir.string()));
      }
    } else if (fs::exists(run_dir / "error.txt")) {
      std::string msg = read_file(run_dir / "error.txt");
      std::vector<std::string> rest(nothing);
      rest.back() = csv_field(msg.substr(0, msg.find('\n')));
      out += row(prefix, "failed", {}, rest);
    } else {
      out += row(prefix, "pending", {}, nothing);
    }
  }
  return out;
}

void write_summary(const fs::path& dir, const SweepPlan& plan) {
  write_file_atomic(dir / "summary.csv", summary_csv(dir, plan));
}

}  // namespace sweep_internal

namespace {

YAML::Node string_list(const std::vector<std::string>& v) {
  YAML::Node n(YAML::NodeType::Sequence);
  for (const auto& s : v) n.push_back(s);
  return n;
}

std::vector<std::string> read_string_list(const YAML::Node& n, const fs::path& file,
                                          const char* key) {
  DB_CHECK(n && n.IsSequence(), "{}: field '{}': expected a list of strings", file.string(), key);
  std::vector<std::string> out;
  for (const auto& v : n) {
    DB_CHECK(v.IsScalar(), "{}:{}: field '{}': expected a list of strings", file.string(),
             v.Mark().line + 1, key);
    out.push_back(v.Scalar());
  }
  return out;
}

// A sweep.yaml as --resume reads it: a YAML mapping, or an error naming the file and line.
YAML::Node load_sweep_file(const fs::path& file) {
  YAML::Node saved;
  try {
    saved = YAML::LoadFile(file.string());
  } catch (const YAML::Exception& e) {
    fail(Where{file.string(), static_cast<std::size_t>(e.mark.line + 1), ""},
         fmt::format("not valid YAML: {}", excerpt(e.msg)));
  }
  if (!saved.IsMap()) fail(Where{file.string(), 0, ""}, "expected a mapping (a sweep.yaml)");
  return saved;
}

}  // namespace

int sweep_exit_status(const SweepResult& result) {
  return static_cast<int>(std::min<std::size_t>(result.failed, 100));
}

namespace {

// Where a sweep runs and with what: the command line's overrides, or (--resume) the saved
// sweep's, with its jobs and config folder unless given again. Launcher overrides are kept
// apart from the runs': a resume may give new ones (a longer time limit) and nothing else.
struct SweepSetup {
  std::vector<std::string> overrides, launcher_overrides;
  fs::path config_dir;
  int jobs = 0;  // resolved (≥ 1)
  fs::path dir;  // the sweep folder being resumed ("": a new one)
};

void split_launcher_overrides(const std::vector<std::string>& given, SweepSetup& setup) {
  for (const std::string& o : given) {
    if (!is_launcher_override(o)) {
      setup.overrides.push_back(o);
      continue;
    }
    DB_CHECK(!is_sweep_override(o),
             "override '{}': the launcher's keys take one value (a sweep runs on one launcher)",
             excerpt(o));
    setup.launcher_overrides.push_back(o);
  }
}

SweepSetup resolve_setup(const std::vector<std::string>& given, const SweepOptions& options) {
  SweepSetup setup;
  split_launcher_overrides(given, setup);
  setup.config_dir = options.config_dir.empty() ? options.project_root / "experiments" / "configs"
                                                : options.config_dir;
  setup.jobs = options.jobs;
  if (!options.resume.empty()) {
    // Resolved (a `latest` link moves when another sweep starts; Slurm tasks must not follow).
    setup.dir = fs::weakly_canonical(fs::absolute(options.resume));
    const fs::path file = setup.dir / "sweep.yaml";
    DB_CHECK(fs::exists(file), "--resume {}: no sweep.yaml there (not a sweep folder)",
             setup.dir.string());
    const YAML::Node saved = load_sweep_file(file);
    const std::vector<std::string> saved_overrides =
        read_string_list(saved["overrides"], file, "overrides");
    DB_CHECK(setup.overrides.empty() || setup.overrides == saved_overrides,
             "--resume {}: the overrides differ from the sweep's ({}); give none or the same "
             "(launcher overrides may differ)",
             setup.dir.string(),
             excerpt(fmt::format("{}", fmt::join(saved_overrides, " ")), 3 * kExcerptBytes));
    setup.overrides = saved_overrides;
    if (setup.launcher_overrides.empty() && saved["launcher_overrides"])
      setup.launcher_overrides =
          read_string_list(saved["launcher_overrides"], file, "launcher_overrides");
    int jobs = 0;
    DB_CHECK(!saved["jobs"] || (YAML::convert<int>::decode(saved["jobs"], jobs) && jobs >= 1),
             "{}: field 'jobs': expected a whole number ≥ 1", file.string());
    if (setup.jobs <= 0 && jobs > 0) setup.jobs = jobs;
    DB_CHECK(!saved["config_dir"] || saved["config_dir"].IsScalar(),
             "{}: field 'config_dir': expected a folder path", file.string());
    if (options.config_dir.empty() && saved["config_dir"])
      setup.config_dir = saved["config_dir"].Scalar();
  }
  if (setup.jobs <= 0) setup.jobs = resolve_threads(0);
  return setup;
}

// Every run's composed config. With several jobs, runs share the cores: each gets cores / jobs
// threads (recorded in its config.yaml); `cores` > 0 (a Slurm task's CPUs) replaces threads=0.
std::vector<YAML::Node> compose_runs(const SweepPlan& plan, const fs::path& config_dir, int jobs,
                                     int cores) {
  std::vector<YAML::Node> configs;
  for (const auto& run : plan.runs) {
    YAML::Node c = compose_config(config_dir, run).config;
    c.remove("sweep");  // the sweep's, not the run's
    c.remove("launcher");
    int requested = 0;
    if (c["threads"] && !YAML::convert<int>::decode(c["threads"], requested)) requested = -1;
    if (requested == 0 && cores > 0) c["threads"] = cores;
    if (jobs > 1 && requested >= 0) {
      const int available = requested == 0 && cores > 0 ? cores : resolve_threads(requested);
      c["threads"] = std::max(1, available / jobs);
    }
    configs.push_back(c);
  }
  return configs;
}

// The launcher: the `launcher` section composed with run 0's overrides and the launcher's.
LauncherSettings compose_launcher(const SweepSetup& setup, const SweepPlan& plan) {
  std::vector<std::string> overrides = plan.runs.front();
  overrides.insert(overrides.end(), setup.launcher_overrides.begin(),
                   setup.launcher_overrides.end());
  return LauncherSettings::from_yaml(
      compose_config(setup.config_dir, overrides).config["launcher"]);
}

// A new sweep folder <results_dir>/<name>/<stamp> with sweep.yaml (what --resume reads) and
// run 0's config.yaml; <results_dir>/<name>/latest points at it.
fs::path create_sweep_folder(const SweepSetup& setup, const SweepPlan& plan, const YAML::Node& c0) {
  const std::string name = c0["name"] ? c0["name"].as<std::string>() : "default";
  fs::path results = c0["results_dir"] ? c0["results_dir"].as<std::string>() : "results";
  if (!results.is_absolute()) results = fs::current_path() / results;
  DB_CHECK(!name.empty() && name.find('/') == std::string::npos && name[0] != '.',
           "config: 'name': expected a folder name (no '/', not starting with '.'), got '{}'",
           excerpt(name));
  check_output_folder(results.lexically_normal() / name, "results_dir");
  const fs::path dir = new_stamped_folder(results.lexically_normal() / name);
  YAML::Node sweep;
  sweep["overrides"] = string_list(setup.overrides);
  if (!setup.launcher_overrides.empty())
    sweep["launcher_overrides"] = string_list(setup.launcher_overrides);
  YAML::Node axes(YAML::NodeType::Map);
  for (const SweepAxis& a : plan.axes) {
    std::vector<std::string> values;
    for (const auto& o : a.overrides) values.push_back(parse_override(o).value);
    axes[a.key] = string_list(values);
  }
  sweep["axes"] = axes;
  sweep["runs"] = plan.runs.size();
  sweep["jobs"] = setup.jobs;
  sweep["config_dir"] = fs::absolute(setup.config_dir).lexically_normal().string();
  write_file_atomic(dir / "sweep.yaml", to_yaml_text(sweep));
  write_file_atomic(dir / "config.yaml", to_yaml_text(c0));
  update_symlink(dir.parent_path() / "latest", dir.filename());
  return dir;
}

}  // namespace

fs::path sweep_internal::clean_runs_dir(const fs::path& dir) {
  const fs::path runs_dir = dir / "runs";
  fs::create_directories(runs_dir);
  for (const auto& entry : fs::directory_iterator(runs_dir))
    if (entry.path().filename().string().rfind(".tmp-", 0) == 0) fs::remove_all(entry.path());
  return runs_dir;
}

std::string sweep_internal::prep_key_of(const YAML::Node& config, const RunOptions& run_options) {
  try {
    const std::vector<std::string> keys = run_cache_keys(config, run_options);
    return keys.empty() ? std::string() : keys.front();
  } catch (const std::exception&) {
    return "";  // the run will fail and be recorded as such; it shares nothing
  }
}

std::vector<std::size_t> sweep_internal::runs_without_metrics(
    const fs::path& dir, const std::vector<std::size_t>& runs) {
  std::vector<std::size_t> out;
  for (std::size_t n : runs)
    if (!fs::exists(dir / "runs" / std::to_string(n) / "metrics.json")) out.push_back(n);
  return out;
}

namespace {

// The runs still to do and the cached work each declared.
struct Schedule {
  std::vector<std::size_t> pending;            // in the order they start
  std::vector<std::vector<std::string>> keys;  // per run: its cache keys (empty: shares nothing)
  std::size_t skipped = 0;                     // already complete
};

// Pending runs, ordered so that runs sharing prepared data run together (the cache then holds
// one preparation's fits at a time); each declares the cached work it will use.
// `runs`: the runs this process is to do (every run of the plan, or a Slurm task's).
Schedule schedule_runs(const SweepPlan& plan, const std::vector<YAML::Node>& configs,
                       const std::vector<std::size_t>& runs, const fs::path& runs_dir,
                       const RunOptions& run_options, FitCache& cache) {
  Schedule s;
  s.keys.resize(plan.runs.size());
  std::map<std::string, std::size_t> first_use;
  for (std::size_t n : runs) {
    if (fs::exists(runs_dir / std::to_string(n) / "metrics.json")) {
      ++s.skipped;
      continue;
    }
    s.pending.push_back(n);
    try {
      s.keys[n] = run_cache_keys(configs[n], run_options);
    } catch (const std::exception&) {
      // The run will fail and be recorded as such; it shares nothing.
    }
    cache.expect(s.keys[n]);
    if (!s.keys[n].empty()) first_use.emplace(s.keys[n].front(), n);
  }
  auto group_of = [&](std::size_t n) {
    return s.keys[n].empty() ? n : first_use[s.keys[n].front()];
  };
  std::stable_sort(s.pending.begin(), s.pending.end(),
                   [&](std::size_t a, std::size_t b) { return group_of(a) < group_of(b); });
  return s;
}

// The runs of a sweep executing: each written into a temporary folder renamed to runs/<n>, the
// summary rewritten after each, progress reported.
class SweepExecution {
 public:
  SweepExecution(const SweepPlan& plan, const std::vector<YAML::Node>& configs, const fs::path& dir,
                 const Schedule& schedule, FitCache& cache, const RunOptions& run_options,
                 SweepProgress& progress, bool write_summary)
      : plan_(plan),
        configs_(configs),
        dir_(dir),
        schedule_(schedule),
        cache_(cache),
        run_options_(run_options),
        progress_(progress),
        write_summary_(write_summary) {}

  // Runs the pending runs on min(jobs, pending) threads; returns how many failed.
  std::size_t run_all(int jobs) {
    const std::vector<std::size_t>& pending = schedule_.pending;
    const std::size_t workers =
        std::min<std::size_t>(static_cast<std::size_t>(jobs), pending.size());
    std::vector<std::thread> threads;
    for (std::size_t w = 0; w < workers; ++w)
      threads.emplace_back([&] {
        for (std::size_t i; (i = next_++) < pending.size();) {
          try {
            run_one(pending[i]);
          } catch (const std::exception& e) {  // the run's folder could not be written
            ++failed_;
            spdlog::error("run {}: {}", pending[i], e.what());
          }
        }
      });
    for (auto& t : threads) t.join();
    return failed_;
  }

 private:
  std::string label_of(std::size_t n) const {
    std::vector<std::string> v;
    for (const SweepAxis& a : plan_.axes) v.push_back(plan_.runs[n][a.position]);
    return v.empty() ? std::string("single run") : fmt::format("{}", fmt::join(v, " "));
  }

  void run_one(std::size_t n) {
    progress_.started(n, label_of(n));
    const auto t0 = Clock::now();
    const fs::path runs_dir = dir_ / "runs";
    const fs::path final_dir = runs_dir / std::to_string(n);
    const fs::path tmp = runs_dir / fmt::format(".tmp-{}-{}", n, getpid());
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    const std::string error = write_run(n, tmp, final_dir);
    cache_.release(schedule_.keys[n]);
    fs::remove_all(final_dir);  // a failed attempt of an earlier sweep
    fs::rename(tmp, final_dir);
    if (write_summary_) {  // (a Slurm task leaves the summary to `deferbench status`)
      std::lock_guard<std::mutex> lock(summary_mu_);
      write_summary(dir_, plan_);
    }
    progress_.finished(n, error.empty(), std::chrono::duration<double>(Clock::now() - t0).count(),
                       error);
  }

  // Computes run n into `tmp`: its files, or (when it throws) config.yaml, log.txt and
  // error.txt. Returns the error ("" when the run succeeded).
  std::string write_run(std::size_t n, const fs::path& tmp, const fs::path& final_dir) {
    YAML::Node config = clone(configs_[n]);
    const bool save = config["save_policy"] && !config["save_policy"].as<std::string>().empty();
    if (save) config["save_policy"] = (final_dir / "policy").string();
    write_file_atomic(tmp / "overrides.yaml", to_yaml_text(string_list(plan_.runs[n])));
    std::string log_text, error;
    try {
      RunOutput out;
      {
        RunLogCapture capture(&log_text);
        YAML::Node run_config = clone(config);
        if (save) run_config["save_policy"] = "";
        out = compute_run(run_config, run_options_);
        out.config = config;
      }
      out.metrics["run"] = n;
      out.metrics["overrides"] = plan_.runs[n];
      if (save) save_run_policies(out, tmp / "policy", final_dir);
      write_run_files(out, tmp, log_text);
    } catch (const std::exception& e) {
      error = e.what();
      write_file_atomic(tmp / "config.yaml", to_yaml_text(config));
      write_file_atomic(tmp / "log.txt", log_text + "error: " + error + "\n");
      write_file_atomic(tmp / "error.txt", error + "\n");
      for (const char* f : {"metrics.json", "frontier.csv"}) fs::remove(tmp / f);
      ++failed_;
    }
    return error;
  }

  const SweepPlan& plan_;
  const std::vector<YAML::Node>& configs_;
  const fs::path dir_;
  const Schedule& schedule_;
  FitCache& cache_;
  const RunOptions& run_options_;
  SweepProgress& progress_;
  const bool write_summary_;
  std::mutex summary_mu_;
  std::atomic<std::size_t> next_{0}, failed_{0};
};

}  // namespace

void sweep_internal::write_sweep_report(const fs::path& dir) {
  // Experts and stream sweeps have no frontier to report: their tables and plots come from their
  // runs' experts.csv / stream.csv.
  using Pointer = std::pair<const char*, const char*>;
  const Pointer pointers[] = {
      {"experts.csv",
       "experts sweep: Table 4 and the cost-accuracy plot: scripts/experts_report.py"},
      {"stream.csv", "stream sweep: the table and the plots over time: scripts/stream_report.py"}};
  std::error_code ec;
  for (const auto& run : fs::directory_iterator(dir / "runs", ec))
    for (const auto& [file, what] : pointers)
      if (fs::exists(run.path() / file)) return spdlog::info("{} {} OUT_DIR", what, dir.string());
  try {
    const ReportResult report = write_report(dir, ReportOptions{});
    if (!report.warning.empty()) spdlog::warn("{}", report.warning);
  } catch (const std::exception& e) {
    spdlog::warn("report of {} not written: {}", dir.string(), e.what());
  }
}

PreparedSweep sweep_internal::prepare_sweep(const std::vector<std::string>& given,
                                            const SweepOptions& options, int cores) {
  const SweepSetup setup = resolve_setup(given, options);
  PreparedSweep p;
  p.overrides = setup.overrides;
  p.launcher_overrides = setup.launcher_overrides;
  p.config_dir = setup.config_dir;
  p.jobs = setup.jobs;
  p.plan = expand_sweep(with_config_axes(setup.overrides, setup.config_dir));
  p.launcher = compose_launcher(setup, p.plan);
  const int jobs = p.launcher.kind == "local" ? setup.jobs : 1;
  p.configs = compose_runs(p.plan, setup.config_dir, jobs, cores);
  p.resumed = !setup.dir.empty();
  // A new Slurm sweep on a machine without sbatch stops before its folder exists.
  DB_CHECK(p.resumed || p.launcher.kind != "slurm" || !find_executable("sbatch").empty(),
           "launcher=slurm: 'sbatch' not found on PATH; expected a machine with Slurm's client "
           "commands (a login node)");
  p.dir = p.resumed ? setup.dir : create_sweep_folder(setup, p.plan, p.configs.front());
  return p;
}

namespace {

RunOptions sweep_run_options(const SweepOptions& options, FitCache* cache) {
  RunOptions run_options;
  run_options.project_root = options.project_root;
  run_options.quiet = true;
  run_options.cache = cache;
  return run_options;
}

// The CPUs Slurm gave this task (0: not in a Slurm task, or not said).
int slurm_task_cpus() {
  const char* v = std::getenv("SLURM_CPUS_PER_TASK");
  const int cpus = v ? std::atoi(v) : 0;
  return cpus > 0 ? cpus : 0;
}

// One task of a Slurm array (--task-file F --task K): its runs without metrics.json, one at a
// time with the task's CPUs, sharing their preparation; the summary and the report are left to
// `deferbench status`.
SweepResult run_slurm_task(const SweepOptions& options) {
  const PreparedSweep p = prepare_sweep({}, options, slurm_task_cpus());
  const std::vector<std::size_t> runs =
      read_task(options.task_file, options.task, p.plan.runs.size());
  fmt::print(stderr, "[sweep] {}: task {} of {}: runs {}\n", p.dir.string(), options.task,
             options.task_file.filename().string(), fmt::join(runs, " "));
  SweepResult result;
  result.dir = p.dir;
  result.runs = runs.size();
  FitCache cache;
  const RunOptions run_options = sweep_run_options(options, &cache);
  const Schedule schedule =
      schedule_runs(p.plan, p.configs, runs, p.dir / "runs", run_options, cache);
  result.skipped = schedule.skipped;
  SweepProgress progress(ProgressMode::kLines, runs.size(), result.skipped);
  SweepExecution execution(p.plan, p.configs, p.dir, schedule, cache, run_options, progress, false);
  install_run_log_sink(false);
  result.failed = execution.run_all(1);
  install_run_log_sink(true);
  result.fits_computed = cache.computed();
  result.fits_reused = cache.reused();
  return result;
}

}  // namespace

SweepResult run_sweep(const std::vector<std::string>& given, const SweepOptions& options) {
  if (!options.task_file.empty()) return run_slurm_task(options);
  // Expand and compose every run first: a bad override stops the sweep before anything runs.
  const PreparedSweep p = prepare_sweep(given, options, 0);
  if (p.launcher.kind == "slurm") return submit_slurm_sweep(p, options);
  if (p.resumed) check_no_slurm_task_active(p);  // a Slurm sweep resumed here
  SweepResult result;
  result.runs = p.plan.runs.size();
  result.dir = p.dir;
  const fs::path runs_dir = clean_runs_dir(result.dir);

  FitCache cache;
  const RunOptions run_options = sweep_run_options(options, &cache);
  std::vector<std::size_t> all(p.plan.runs.size());
  for (std::size_t n = 0; n < all.size(); ++n) all[n] = n;
  const Schedule schedule = schedule_runs(p.plan, p.configs, all, runs_dir, run_options, cache);
  result.skipped = schedule.skipped;
  // The summary before any run (every run pending, or a resumed sweep's finished ones): a sweep
  // killed at any moment leaves one, and a damaged finished run stops a resume before any work.
  write_summary(result.dir, p.plan);

  SweepProgress progress(options.progress, p.plan.runs.size(), result.skipped);
  SweepExecution execution(p.plan, p.configs, result.dir, schedule, cache, run_options, progress,
                           true);
  // Messages logged inside runs go to their log.txt only (the progress shows on the console).
  install_run_log_sink(false);
  result.failed = execution.run_all(p.jobs);
  install_run_log_sink(true);
  progress.close();
  write_summary(result.dir, p.plan);

  result.fits_computed = cache.computed();
  result.fits_reused = cache.reused();
  if (options.report && result.failed < result.runs) write_sweep_report(result.dir);
  return result;
}

}  // namespace deferbench
