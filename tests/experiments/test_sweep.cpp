#include "experiments/sweep.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "core/config/compose.h"
#include "core/util/atomic_file.h"
#include "experiments/run.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::TempDir;

const fs::path kRoot = DEFERBENCH_ROOT;

// ---- sweep syntax ----

TEST(SweepValues, ListsRangesAndChoices) {
  EXPECT_THAT(sweep_values("a,b,c"), ElementsAre("a", "b", "c"));
  EXPECT_THAT(sweep_values("0.8, 0.9"), ElementsAre("0.8", "0.9"));
  // Brackets, braces and quotes protect their commas: one value each.
  EXPECT_THAT(sweep_values("[1,2],[3]"), ElementsAre("[1,2]", "[3]"));
  EXPECT_THAT(sweep_values("{name: rf, n_trees: 10},dt"),
              ElementsAre("{name: rf, n_trees: 10}", "dt"));
  EXPECT_THAT(sweep_values("'a,b'"), ElementsAre("'a,b'"));
  // Python's range: stop excluded.
  EXPECT_THAT(sweep_values("range(3)"), ElementsAre("0", "1", "2"));
  EXPECT_THAT(sweep_values("range(2,8,3)"), ElementsAre("2", "5"));
  EXPECT_THAT(sweep_values("range(3,0,-1)"), ElementsAre("3", "2", "1"));
  // Decimal steps give clean decimals (0.8 + 3 × 0.05 is 0.95, not 0.9500000000000001).
  EXPECT_THAT(sweep_values("range(0.8,1.0,0.05)"), ElementsAre("0.8", "0.85", "0.9", "0.95"));
  EXPECT_THAT(sweep_values("choice(x,y),z"), ElementsAre("x", "y", "z"));
  EXPECT_THAT(testing::error_of([] { sweep_values("range(0,3,0)"); }), HasSubstr("step"));
  EXPECT_THAT(testing::error_of([] { sweep_values("range(a,3)"); }),
              HasSubstr("expected a number"));
}

// Fuzzer finding 7 (tests/fuzz/README.md): a few range(100000) axes expanded into billions of
// runs (out of memory). The product of the axes' sizes is counted first and refused above
// kMaxSweepRuns, before anything is materialized.
TEST(ExpandSweep, RefusesMoreRunsThanTheLimitBeforeExpanding) {
  EXPECT_EQ(kMaxSweepRuns, 100000u);
  EXPECT_EQ(sweep_run_count({"a=range(100000)", "b=1,2", "c=3"}), 200000.0);
  EXPECT_EQ(sweep_value_count("range(0,10,3),x,choice(y,z)"), 7.0);
  // 10^20 runs: refused at once (materializing them would never end).
  const std::string msg = testing::error_of([] {
    expand_sweep({"a=range(100000)", "b=range(100000)", "c=range(100000)", "d=range(100000)"});
  });
  EXPECT_THAT(msg, AllOf(HasSubstr("sweep: 1e+20 runs"),
                         HasSubstr("more than the 100000 a sweep may run")));
  EXPECT_EQ(msg.find('\n'), std::string::npos);
  EXPECT_THAT(testing::error_of([] {
                expand_sweep({"a=range(1000)", "b=range(101)"});
              }),
              HasSubstr("sweep: 101000 runs"));
  // At the limit: expanded.
  EXPECT_EQ(expand_sweep({"a=range(1000)", "b=range(100)", "seed=1"}).runs.size(), 100000u);
  // One override whose ranges add up beyond the limit is refused by sweep_values itself (each
  // range alone is within its own limit).
  EXPECT_THAT(testing::error_of([] { sweep_values("range(100000),range(100000)"); }),
              HasSubstr("200000 values, more than a sweep may run (100000 runs at most)"));
}

// Fuzzer finding 7: sweep messages quoted whole overrides; they quote through excerpt() now.
TEST(ExpandSweep, MessagesQuoteOverridesCapped) {
  const std::string huge(100000, 'v');
  for (const std::string& msg :
       {testing::error_of([&] { sweep_values("range(" + huge + ")"); }),
        testing::error_of([&] { sweep_values("range(1," + huge + ",2,3)"); }),
        testing::error_of([&] { sweep_values("range(5,2)," + huge); }),
        testing::error_of([&] { expand_sweep({"k=a,," + huge}); }), testing::error_of([&] {
          expand_sweep({huge + "=0,1", huge + "=2,3"});
        })}) {
    EXPECT_FALSE(msg.empty());
    EXPECT_LT(msg.size(), 400u) << msg.substr(0, 200);
    EXPECT_THAT(msg, HasSubstr("…"));
  }
}

TEST(SweepValues, WhichOverridesSweep) {
  EXPECT_TRUE(is_sweep_override("seed=0,1"));
  EXPECT_TRUE(is_sweep_override("seed=range(0,10)"));
  EXPECT_TRUE(is_sweep_override("+extra.key=1,2"));
  EXPECT_FALSE(is_sweep_override("seed=0"));
  EXPECT_FALSE(is_sweep_override("calibration.target=[0.8,0.9]"));
  EXPECT_FALSE(is_sweep_override("~pipeline.zoo"));
}

TEST(ExpandSweep, CartesianProductFirstAxisSlowest) {
  const SweepPlan p = expand_sweep({"dataset=a,b", "threads=1", "seed=range(0,3)"});
  ASSERT_EQ(p.axes.size(), 2u);
  EXPECT_EQ(p.axes[0].key, "dataset");
  EXPECT_EQ(p.axes[1].key, "seed");
  ASSERT_EQ(p.runs.size(), 6u);
  EXPECT_THAT(p.runs[0], ElementsAre("dataset=a", "threads=1", "seed=0"));
  EXPECT_THAT(p.runs[1], ElementsAre("dataset=a", "threads=1", "seed=1"));
  EXPECT_THAT(p.runs[3], ElementsAre("dataset=b", "threads=1", "seed=0"));
  EXPECT_THAT(p.runs[5], ElementsAre("dataset=b", "threads=1", "seed=2"));
  // No sweep: one run with the overrides as given.
  const SweepPlan one = expand_sweep({"seed=4"});
  ASSERT_EQ(one.runs.size(), 1u);
  EXPECT_TRUE(one.axes.empty());
  EXPECT_THAT(testing::error_of([] {
                expand_sweep({"seed=0,1", "seed=2,3"});
              }),
              HasSubstr("swept twice"));
}

TEST(ExpandSweep, GroupOptionsAndListsComposeOneConfigEach) {
  const SweepPlan p = expand_sweep({"model=logreg,dt", "calibration.target=[0.8,0.9]"});
  ASSERT_EQ(p.runs.size(), 2u);  // the list value is one value, not an axis
  std::vector<std::string> names;
  for (const auto& run : p.runs) {
    const YAML::Node c = compose_config(kRoot / "experiments" / "configs", run).config;
    names.push_back(c["model"]["name"].as<std::string>());
    EXPECT_EQ(c["calibration"]["target"].size(), 2u);
  }
  EXPECT_THAT(names, ElementsAre("logreg", "dt"));
}

TEST(ExpandSweep, ConfigSweepKeysAddAxesAndTheCommandLineWins) {
  TempDir dir;
  const fs::path configs = dir.path() / "configs";
  fs::create_directories(configs / "experiment");
  write_file_atomic(configs / "config.yaml",
                    "defaults:\n  - _self_\n  - experiment: none\nseed: 0\nname: x\n");
  write_file_atomic(configs / "experiment" / "none.yaml", "# @package _global_\nname: none\n");
  write_file_atomic(configs / "experiment" / "swept.yaml",
                    "# @package _global_\nname: swept\nsweep:\n  seed: range(0,3)\n"
                    "  name: [a, b]\n");
  EXPECT_THAT(with_config_axes({"experiment=swept"}, configs),
              ElementsAre("experiment=swept", "seed=range(0,3)", "name=a,b"));
  EXPECT_THAT(with_config_axes({"experiment=swept", "seed=7"}, configs),
              ElementsAre("experiment=swept", "seed=7", "name=a,b"));
  EXPECT_THAT(with_config_axes({"experiment=none"}, configs), ElementsAre("experiment=none"));
}

// ---- sweeps end to end (small synthetic runs) ----

std::vector<std::string> small(const fs::path& results) {
  return {"results_dir=" + results.string(), "device=cpu", "threads=2",
          "dataset.synthetic.rows=3000", "pipeline.families=[global,l2d]"};
}

SweepOptions quiet_sweep() {
  SweepOptions o;
  o.project_root = kRoot;
  o.progress = ProgressMode::kNone;
  o.report = false;
  return o;
}

std::vector<std::vector<std::string>> read_csv(const fs::path& file) {
  std::ifstream in(file);
  std::vector<std::vector<std::string>> rows;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> cols;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) cols.push_back(c);
    if (!line.empty() && line.back() == ',') cols.push_back("");
    rows.push_back(cols);
  }
  return rows;
}

std::size_t column(const std::vector<std::vector<std::string>>& csv, const std::string& name) {
  for (std::size_t i = 0; i < csv.at(0).size(); ++i)
    if (csv[0][i] == name) return i;
  ADD_FAILURE() << "no column " << name;
  return 0;
}

TEST(Sweep, RunsTheProductSharesFitsAndEachRunReproducesFromItsConfig) {
  TempDir out;
  auto overrides = small(out.path());
  overrides.push_back("seed=0,1");
  overrides.push_back("calibration.target=0.8,0.9");
  SweepOptions o = quiet_sweep();
  o.jobs = 2;
  const SweepResult r = run_sweep(overrides, o);
  EXPECT_EQ(r.runs, 4u);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_EQ(r.dir.parent_path(), out.path() / "synthetic");
  EXPECT_TRUE(fs::is_symlink(out.path() / "synthetic" / "latest"));
  // Shared work: per seed one preparation and one fit (the logreg), each reused by the other
  // target's run: 4 computed, 4 reused.
  EXPECT_EQ(r.fits_computed, 4u);
  EXPECT_EQ(r.fits_reused, 4u);
  for (int n = 0; n < 4; ++n)
    for (const char* f :
         {"config.yaml", "overrides.yaml", "metrics.json", "frontier.csv", "log.txt"})
      EXPECT_TRUE(fs::exists(r.dir / "runs" / std::to_string(n) / f)) << n << " " << f;
  EXPECT_TRUE(fs::exists(r.dir / "config.yaml"));
  EXPECT_TRUE(fs::exists(r.dir / "sweep.yaml"));
  // Run 1 is seed=0, target=0.9; its overrides.yaml lists the run's overrides.
  const YAML::Node ov = YAML::LoadFile((r.dir / "runs/1/overrides.yaml").string());
  EXPECT_EQ(ov[ov.size() - 2].as<std::string>(), "seed=0");
  EXPECT_EQ(ov[ov.size() - 1].as<std::string>(), "calibration.target=0.9");
  // The log of a run holds its own lines, not the other runs': of runs 0 and 1 (seed 0, in
  // parallel), one fitted the logreg and the other reused that fit.
  const std::string log0 = read_file(r.dir / "runs/0/log.txt");
  const std::string log1 = read_file(r.dir / "runs/1/log.txt");
  const auto reused = [](const std::string& log) {
    return log.find("reused from the sweep's cache") != std::string::npos;
  };
  const auto fitted = [](const std::string& log) {
    return log.find("logreg: fitted") != std::string::npos;
  };
  EXPECT_NE(reused(log0), reused(log1)) << log0 << "---\n" << log1;
  EXPECT_NE(fitted(log0), fitted(log1)) << log0 << "---\n" << log1;
  EXPECT_NE(reused(log0), fitted(log0)) << log0;

  const auto csv = read_csv(r.dir / "summary.csv");
  ASSERT_EQ(csv.size(), 5u);
  EXPECT_EQ(csv[0][0], "run");
  EXPECT_EQ(csv[0][1], "seed");
  EXPECT_EQ(csv[0][2], "calibration.target");
  const std::size_t status = column(csv, "status"), target = column(csv, "target"),
                    seed = column(csv, "seed"), cov = column(csv, "test_coverage");
  for (int n = 0; n < 4; ++n) {
    EXPECT_EQ(csv[n + 1][status], "ok");
    EXPECT_EQ(csv[n + 1][seed], n < 2 ? "0" : "1");
    EXPECT_EQ(std::stod(csv[n + 1][target]), n % 2 ? 0.9 : 0.8);
  }
  // A lower target never hands less traffic to the surrogate (same fits, looser test).
  EXPECT_GE(std::stod(csv[1][cov]), std::stod(csv[2][cov]));

  // Every run's saved config.yaml reproduces its numbers outside the sweep (no cache): the
  // cache and the parallel jobs change nothing.
  for (int n : {1, 2}) {
    const fs::path rd = r.dir / "runs" / std::to_string(n);
    YAML::Node cfg = YAML::LoadFile((rd / "config.yaml").string());
    cfg["results_dir"] = (out.path() / "single").string();
    RunOptions ro;
    ro.project_root = kRoot;
    ro.quiet = true;
    const RunResult single = run_experiment(cfg, ro);
    const auto saved = nlohmann::json::parse(read_file(rd / "metrics.json"));
    EXPECT_EQ(single.metrics["targets"], saved["targets"]) << "run " << n;
    EXPECT_EQ(saved["threads"].get<int>(), 1);  // 2 threads shared by 2 jobs
  }
}

TEST(Sweep, FailedRunsAreRecordedAndTheSweepGoesOn) {
  TempDir out;
  auto overrides = small(out.path());
  overrides.push_back("calibration.delta=0.1,7");  // δ = 7 is out of range: run 1 fails
  const SweepResult r = run_sweep(overrides, quiet_sweep());
  EXPECT_EQ(r.runs, 2u);
  EXPECT_EQ(r.failed, 1u);
  EXPECT_EQ(sweep_exit_status(r), 1);
  EXPECT_TRUE(fs::exists(r.dir / "runs/0/metrics.json"));
  EXPECT_FALSE(fs::exists(r.dir / "runs/1/metrics.json"));
  EXPECT_THAT(read_file(r.dir / "runs/1/error.txt"), HasSubstr("calibration.delta"));
  const auto csv = read_csv(r.dir / "summary.csv");
  ASSERT_EQ(csv.size(), 3u);
  EXPECT_EQ(csv[1][column(csv, "status")], "ok");
  EXPECT_EQ(csv[2][column(csv, "status")], "failed");
  // The message column holds the error (quoted: it has commas).
  std::string raw = read_file(r.dir / "summary.csv");
  raw = raw.substr(raw.find("\n1,"));
  EXPECT_THAT(raw, HasSubstr("failed"));
  EXPECT_THAT(raw, HasSubstr("\"config: 'calibration.delta'"));
  // Resuming reruns only what has no metrics.json (the failed run, which fails again).
  SweepOptions again = quiet_sweep();
  again.resume = r.dir;
  const SweepResult r2 = run_sweep({}, again);
  EXPECT_EQ(r2.skipped, 1u);
  EXPECT_EQ(r2.failed, 1u);
  // Resuming with other overrides than the sweep's is refused.
  EXPECT_THAT(testing::error_of([&] { run_sweep({"seed=3"}, again); }),
              HasSubstr("overrides differ"));
}

// The command line, as a child process (its pid, so that the test can SIGKILL it).
pid_t spawn(const std::vector<std::string>& args, const fs::path& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    FILE* f = std::freopen(log.c_str(), "w", stderr);
    (void)f;
    if (!std::freopen("/dev/null", "w", stdout)) _exit(99);
    std::vector<char*> argv;
    std::string bin = DEFERBENCH_BINARY;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

int wait_status(pid_t pid) {
  int raw = 0;
  waitpid(pid, &raw, 0);
  return WIFEXITED(raw) ? WEXITSTATUS(raw) : -WTERMSIG(raw);
}

// The summary without its `seconds` column (wall time differs between any two runs).
std::string summary_without_seconds(const fs::path& dir) {
  auto csv = read_csv(dir / "summary.csv");
  const std::size_t s = column(csv, "seconds");
  std::string out;
  for (auto& row : csv) {
    row.erase(row.begin() + static_cast<std::ptrdiff_t>(s));
    for (const auto& c : row) out += c + ",";
    out += "\n";
  }
  return out;
}

TEST(SweepCli, KilledAndResumedEndsWithTheSameSummary) {
  TempDir out;
  std::vector<std::string> args = {"run", "-m", "--progress", "lines"};
  for (auto& o : small(out.path() / "a")) args.push_back(o);
  args.push_back("seed=0,1,2");
  args.push_back("calibration.target=0.8,0.9");
  // Uninterrupted.
  ASSERT_EQ(wait_status(spawn(args, out.path() / "a.log")), 0) << read_file(out.path() / "a.log");
  const fs::path full = fs::read_symlink(out.path() / "a/synthetic/latest");
  const std::string expected = summary_without_seconds(out.path() / "a/synthetic" / full);
  // The progress lines name each finished run.
  const std::string log = read_file(out.path() / "a.log");
  EXPECT_THAT(log, HasSubstr("[sweep] 6/6 run"));
  EXPECT_THAT(log, HasSubstr("seed=2 calibration.target=0.9"));

  // Killed (SIGKILL) while its second run is under way, then resumed.
  for (auto& a : args)
    if (a.rfind("results_dir=", 0) == 0) a = "results_dir=" + (out.path() / "b").string();
  const pid_t pid = spawn(args, out.path() / "b.log");
  const fs::path b = out.path() / "b/synthetic";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  bool killed = false;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(b / "latest") && fs::exists(b / "latest/runs/0/metrics.json")) {
      kill(pid, SIGKILL);
      killed = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const int st = wait_status(pid);
  ASSERT_TRUE(killed);
  ASSERT_EQ(st, -SIGKILL) << "the sweep finished before it could be killed";
  const fs::path dir = b / fs::read_symlink(b / "latest");
  const std::string partial = read_file(dir / "summary.csv");
  EXPECT_THAT(partial, HasSubstr("pending"));
  ASSERT_EQ(wait_status(spawn({"run", "-q", "--resume", dir.string()}, out.path() / "c.log")), 0)
      << read_file(out.path() / "c.log");
  EXPECT_EQ(summary_without_seconds(dir), expected);
  for (const auto& e : fs::directory_iterator(dir / "runs"))
    EXPECT_NE(e.path().filename().string().rfind(".tmp-", 0), 0u) << "left over: " << e.path();
}

TEST(SweepCli, SeveralValuesWithoutDashMAreAnError) {
  TempDir out;
  const int st = wait_status(
      spawn({"run", "results_dir=" + out.path().string(), "seed=0,1"}, out.path() / "err.log"));
  EXPECT_EQ(st, 2);
  EXPECT_THAT(read_file(out.path() / "err.log"), HasSubstr("add -m"));
  EXPECT_FALSE(fs::exists(out.path() / "synthetic"));
}

TEST(SweepCli, ExitStatusCountsFailedRuns) {
  TempDir out;
  std::vector<std::string> args = {"run", "-m", "-q"};
  for (auto& o : small(out.path())) args.push_back(o);
  args.push_back("calibration.delta=7,8,0.1");
  EXPECT_EQ(wait_status(spawn(args, out.path() / "err.log")), 2);  // two runs failed
}

}  // namespace
}  // namespace deferbench
