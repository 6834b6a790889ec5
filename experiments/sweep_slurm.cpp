// launcher=slurm: a sweep's runs without metrics.json submitted as one job array (a task per
// group of runs sharing a preparation), and the sweep followed from its folder and Slurm's
// states. The folder's .slurm/ holds, per submission k: array-k.sbatch, tasks-k.txt (a line of
// run numbers per task), and jobs.txt (a line "JOB tasks-k.txt" per submission); the tasks'
// logs are .slurm/<job>_<task>.out.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/config/compose.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"
#include "experiments/slurm.h"
#include "experiments/sweep_internal.h"
#include "experiments/sweep_progress.h"

namespace deferbench {
namespace fs = std::filesystem;
using namespace sweep_internal;

namespace {

constexpr std::string_view kSlurmFailure = "slurm task ";

fs::path slurm_dir(const fs::path& dir) {
  return dir / ".slurm";
}

struct Submission {
  std::string job;
  std::vector<std::vector<std::size_t>> tasks;
};

// .slurm/jobs.txt: the sweep's submissions, oldest first.
std::vector<Submission> read_submissions(const fs::path& dir, std::size_t runs) {
  const fs::path file = slurm_dir(dir) / "jobs.txt";
  std::vector<Submission> subs;
  if (!fs::exists(file)) return subs;
  std::istringstream in(read_file(file));
  std::size_t line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    std::istringstream words(line);
    std::string job, tasks_file;
    words >> job >> tasks_file;
    const bool ok =
        !job.empty() &&
        std::all_of(job.begin(), job.end(), [](unsigned char c) { return std::isdigit(c); }) &&
        !tasks_file.empty() && tasks_file.find('/') == std::string::npos;
    if (!ok)
      fail(Where{file.string(), line_no, ""},
           fmt::format("'{}': expected a job id and a task list file of .slurm/", excerpt(line)));
    subs.push_back({job, read_task_list(slurm_dir(dir) / tasks_file, runs)});
  }
  return subs;
}

fs::path task_log(const fs::path& dir, const std::string& job, std::size_t task) {
  return slurm_dir(dir) / fmt::format("{}_{}.out", job, task);
}

// Records run n as failed because its task ended (`line`): error.txt, log.txt, overrides.yaml
// and config.yaml in runs/<n>, written as a run folder is (a temporary folder renamed). A
// failure the run recorded itself is kept; an earlier task's record is replaced.
bool record_task_failure(const PreparedSweep& p, std::size_t n, const std::string& line) {
  const fs::path run_dir = p.dir / "runs" / std::to_string(n);
  if (fs::exists(run_dir / "metrics.json")) return false;
  if (fs::exists(run_dir / "error.txt")) {
    const std::string old = read_file(run_dir / "error.txt");
    if (old.rfind(kSlurmFailure, 0) != 0 || old == line + "\n") return false;
  }
  const fs::path tmp = p.dir / "runs" / fmt::format(".tmp-slurm-{}-{}", n, getpid());
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  YAML::Node overrides(YAML::NodeType::Sequence);
  for (const std::string& o : p.plan.runs[n]) overrides.push_back(o);
  write_file_atomic(tmp / "overrides.yaml", to_yaml_text(overrides));
  write_file_atomic(tmp / "config.yaml", to_yaml_text(p.configs[n]));
  write_file_atomic(tmp / "log.txt", "error: " + line + "\n");
  write_file_atomic(tmp / "error.txt", line + "\n");
  fs::remove_all(run_dir);
  fs::rename(tmp, run_dir);
  return true;
}

std::string first_line(const fs::path& file) {
  const std::string text = read_file(file);
  return text.substr(0, text.find('\n'));
}

// Where every run stands, from the folder and Slurm; records the runs of ended tasks that
// wrote nothing. `new_failures` receives the lines recorded by this call.
SweepStatus compute_status(const PreparedSweep& p, std::vector<std::string>* new_failures) {
  SweepStatus st;
  st.dir = p.dir;
  st.runs = p.plan.runs.size();
  const std::vector<Submission> subs = read_submissions(p.dir, st.runs);
  // The latest submission of each run, and each job's task states (asked before the files are
  // read: a task that ends in between is seen active, never as ended without its files).
  std::map<std::size_t, std::pair<std::size_t, std::size_t>> latest;  // run → (sub, task)
  std::vector<std::map<std::size_t, std::string>> states;
  for (std::size_t s = 0; s < subs.size(); ++s) {
    states.push_back(array_task_states(subs[s].job));
    std::map<std::string, std::size_t> counts;
    for (std::size_t t = 0; t < subs[s].tasks.size(); ++t) {
      for (std::size_t n : subs[s].tasks[t]) latest[n] = {s, t};
      const auto it = states[s].find(t);
      ++counts[it == states[s].end() ? "UNKNOWN" : it->second];
    }
    std::string text;
    for (const auto& [state, count] : counts)
      text += fmt::format("{}{} {}", text.empty() ? "" : ", ", state, count);
    st.jobs.emplace_back(subs[s].job, text);
  }
  for (std::size_t n = 0; n < st.runs; ++n) {
    const fs::path run_dir = p.dir / "runs" / std::to_string(n);
    if (fs::exists(run_dir / "metrics.json")) {
      ++st.complete;
      continue;
    }
    if (const auto it = latest.find(n); it != latest.end()) {
      const auto [s, t] = it->second;
      const auto found = states[s].find(t);
      const std::string state = found == states[s].end() ? "UNKNOWN" : found->second;
      if (is_active_state(state)) {
        ++st.active;
        continue;
      }
      if (state != "UNKNOWN" && (state != "COMPLETED" || !fs::exists(run_dir))) {
        const std::string line =
            fmt::format("{}{}_{} ended {} before this run finished; log: {}", kSlurmFailure,
                        subs[s].job, t, state, task_log(p.dir, subs[s].job, t).string());
        if (record_task_failure(p, n, line) && new_failures)
          new_failures->push_back(fmt::format("run {}: {}", n, line));
      }
    }
    if (fs::exists(run_dir / "error.txt")) {
      ++st.failed;
      st.failures.emplace_back(n, first_line(run_dir / "error.txt"));
    } else {
      ++st.pending;
    }
  }
  return st;
}

// Polls until no task is active, showing the progress; then the summary and the report.
SweepStatus follow_sweep(const PreparedSweep& p, const SweepOptions& options) {
  SweepProgress progress(options.progress, p.plan.runs.size(), 0);
  SweepStatus st;
  for (bool first = true;; first = false) {
    std::vector<std::string> failures;
    st = compute_status(p, &failures);
    for (const std::string& f : failures) progress.note(f);
    progress.show(st.complete + st.failed,
                  fmt::format("{} runs in Slurm, {} failed", st.active, st.failed), first);
    if (st.active == 0) break;
    std::this_thread::sleep_for(std::chrono::duration<double>(options.poll_seconds));
  }
  progress.close();
  return st;
}

void finish_status(const PreparedSweep& p, const SweepOptions& options, const SweepStatus& st) {
  write_summary(p.dir, p.plan);
  if (options.report && st.active == 0 && st.failed < st.runs) write_sweep_report(p.dir);
}

// The path of this executable (what the array's tasks run).
fs::path this_executable() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  DB_CHECK(!ec, "launcher=slurm: cannot find this program's path (/proc/self/exe): {}",
           ec.message());
  return exe;
}

}  // namespace

void sweep_internal::check_no_slurm_task_active(const PreparedSweep& p) {
  if (!fs::exists(slurm_dir(p.dir) / "jobs.txt")) return;
  const SweepStatus st = compute_status(p, nullptr);  // records the earlier tasks' failures
  DB_CHECK(st.active == 0,
           "--resume {}: {} runs still have a Slurm task pending or running; wait for them "
           "(deferbench status {} --wait) or scancel their job",
           p.dir.string(), st.active, p.dir.string());
}

SweepResult sweep_internal::submit_slurm_sweep(const PreparedSweep& p,
                                               const SweepOptions& options) {
  SweepResult result;
  result.dir = p.dir;
  result.runs = p.plan.runs.size();
  if (p.resumed) check_no_slurm_task_active(p);
  clean_runs_dir(p.dir);
  write_summary(p.dir, p.plan);
  std::vector<std::size_t> all(result.runs);
  for (std::size_t n = 0; n < all.size(); ++n) all[n] = n;
  const std::vector<std::size_t> pending = runs_without_metrics(p.dir, all);
  result.skipped = result.runs - pending.size();
  if (pending.empty()) return result;

  RunOptions run_options;
  run_options.project_root = options.project_root;
  run_options.quiet = true;
  std::vector<std::string> keys;
  for (std::size_t n : pending) keys.push_back(prep_key_of(p.configs[n], run_options));
  const auto tasks = group_runs_into_tasks(pending, keys, p.launcher.slurm.runs_per_task);

  const fs::path sdir = slurm_dir(p.dir);
  fs::create_directories(sdir);
  const std::size_t k = read_submissions(p.dir, result.runs).size() + 1;
  const fs::path task_file = sdir / fmt::format("tasks-{}.txt", k);
  const fs::path script = sdir / fmt::format("array-{}.sbatch", k);
  write_file_atomic(task_file, task_list_text(tasks));
  TaskCommand command;
  command.executable = this_executable();
  command.project_root = fs::absolute(options.project_root).lexically_normal();
  command.working_dir = fs::current_path();
  command.sweep_dir = p.dir;
  command.task_file = task_file;
  command.tasks = tasks.size();
  write_file_atomic(script, sbatch_script(p.launcher.slurm, command));
  try {
    result.job_id = sbatch_submit(script, sdir);
  } catch (const Error& e) {
    DB_THROW(
        "{}; the sweep folder {} is kept: deferbench run --resume {} with corrected "
        "launcher overrides submits it",
        e.what(), p.dir.string(), p.dir.string());
  }
  result.tasks = tasks.size();
  const fs::path jobs = sdir / "jobs.txt";
  write_file_atomic(jobs, (fs::exists(jobs) ? read_file(jobs) : std::string()) +
                              fmt::format("{} {}\n", result.job_id, task_file.filename().string()));
  if (!options.wait) {
    result.active = pending.size();
    return result;
  }
  const SweepStatus st = follow_sweep(p, options);
  finish_status(p, options, st);
  result.failed = st.failed;
  result.active = st.active;
  return result;
}

SweepStatus sweep_status(const fs::path& dir, const SweepOptions& options) {
  SweepOptions o = options;
  o.resume = dir;
  const PreparedSweep p = prepare_sweep({}, o, 0);
  const SweepStatus st = options.wait ? follow_sweep(p, options) : compute_status(p, nullptr);
  finish_status(p, options, st);
  return st;
}

}  // namespace deferbench
