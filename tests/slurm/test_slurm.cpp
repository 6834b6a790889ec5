// launcher=slurm against a real Slurm: a single-node cluster (munged, slurmctld, slurmd from
// Debian's slurm-wlm and munge) started by tests/slurm/slurm-cluster.sh in a temporary folder
// for this test program and stopped at its end. Where that cannot be done (not root, a
// package missing) every test skips, naming what is missing.
//
// One program, one ctest test (RUN_SERIAL): the cluster starts once for all of them.
#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/data/csv_reader.h"
#include "core/util/atomic_file.h"
#include "experiments/subprocess.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

const fs::path kRoot = DEFERBENCH_ROOT;

class SlurmCluster : public ::testing::Environment {
 public:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("deferbench-slurm-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    const auto t0 = Clock::now();
    const ProgramOutput r = run_capture(
        "/bin/bash", {(kRoot / "tests/slurm/slurm-cluster.sh").string(), "start", dir_.string()},
        "");
    if (r.status != 0) {
      // 3: something is missing (the script names it): the tests skip.
      skip_reason_ = r.status == 3 ? last_line(r.err) : "";
      failure_ = r.status == 3 ? "" : "the Slurm cluster did not start: " + r.err;
      return;
    }
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("export ", 0) != 0) continue;
      const std::string kv = line.substr(7);
      const auto eq = kv.find('=');
      ::setenv(kv.substr(0, eq).c_str(), kv.substr(eq + 1).c_str(), 1);
    }
    up_ = true;
    std::printf("[slurm] cluster up in %.1f s (%s)\n",
                std::chrono::duration<double>(Clock::now() - t0).count(), dir_.c_str());
  }
  void TearDown() override {
    run_capture("/bin/bash",
                {(kRoot / "tests/slurm/slurm-cluster.sh").string(), "stop", dir_.string()}, "");
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  static bool up_;
  static std::string skip_reason_, failure_;

 private:
  fs::path dir_;
};
bool SlurmCluster::up_ = false;
std::string SlurmCluster::skip_reason_, SlurmCluster::failure_;

#define REQUIRE_SLURM()                                                                 \
  do {                                                                                  \
    ASSERT_TRUE(SlurmCluster::failure_.empty()) << SlurmCluster::failure_;              \
    if (!SlurmCluster::up_) GTEST_SKIP() << "no Slurm: " << SlurmCluster::skip_reason_; \
  } while (false)

ProgramOutput deferbench(const std::vector<std::string>& args, const fs::path& dir) {
  return run_capture(DEFERBENCH_BINARY, args, dir);
}

ProgramOutput slurm(const std::string& command, const std::vector<std::string>& args) {
  return run_capture(find_executable(command), args, "");
}

// summary.csv without its `seconds` column (wall times differ between launchers).
std::string summary_without_seconds(const fs::path& sweep) {
  const CsvFile csv = read_csv_file(sweep / "summary.csv");
  std::size_t seconds = csv.header.size();
  for (std::size_t c = 0; c < csv.header.size(); ++c)
    if (csv.header[c] == "seconds") seconds = c;
  auto line = [&](const std::vector<std::string>& row) {
    std::string out;
    for (std::size_t c = 0; c < row.size(); ++c)
      if (c != seconds) out += row[c] + "|";
    return out + "\n";
  };
  std::string out = line(csv.header);
  for (const CsvRecord& r : csv.records) out += line(r.fields);
  return out;
}

// The job id in "submitted slurm job N (...)".
std::string job_of(const std::string& out) {
  const std::string marker = "submitted slurm job ";
  const auto at = out.find(marker);
  if (at == std::string::npos) return "";
  const auto b = at + marker.size();
  return out.substr(b, out.find(' ', b) - b);
}

const std::vector<std::string> kSweep = {"calibration.target=0.85,0.9", "seed=range(0,4)"};
// The launcher of the tests: one CPU per task (the local sweep's jobs=2 gives each run one
// thread too), a short poll.
const std::vector<std::string> kSlurm = {"launcher=slurm", "launcher.cpus_per_task=1",
                                         "launcher.timeout_min=5"};

std::vector<std::string> cat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The summary of the uninterrupted local sweep (computed once).
const std::string& local_summary(const fs::path& work) {
  static std::string summary;
  if (!summary.empty()) return summary;
  const auto t0 = Clock::now();
  const ProgramOutput r = deferbench(
      cat({"run", "-m", "name=local", "results_dir=out", "-j", "2", "-q"}, kSweep), work);
  EXPECT_EQ(r.status, 0) << r.err;
  std::printf("[slurm] local launcher: 8 runs in %.2f s\n", seconds_since(t0));
  summary = summary_without_seconds(work / "out/local/latest");
  return summary;
}

TEST(SlurmLauncher, ASweepThroughAJobArrayEqualsTheLocalOne) {
  REQUIRE_SLURM();
  testing::TempDir work;
  const std::string expected = local_summary(work.path());
  const auto t0 = Clock::now();
  const ProgramOutput r = deferbench(cat(cat({"run", "-m", "name=slurm", "results_dir=out",
                                              "--wait", "--poll", "0.5", "--progress", "lines"},
                                             kSweep),
                                         kSlurm),
                                     work.path());
  std::printf("[slurm] slurm launcher: 8 runs in %.2f s (submit to summary)\n", seconds_since(t0));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  const fs::path sweep = fs::canonical(work / "out/slurm/latest");
  EXPECT_EQ(summary_without_seconds(sweep), expected);
  // Tasks are the runs sharing a preparation: the two targets of each seed (runs n and n + 4).
  EXPECT_EQ(read_file(sweep / ".slurm/tasks-1.txt"), "0 4\n1 5\n2 6\n3 7\n");
  const std::string jobs = read_file(sweep / ".slurm/jobs.txt");
  const std::string job = jobs.substr(0, jobs.find(' '));
  for (int t = 0; t < 4; ++t) {
    const fs::path log = sweep / ".slurm" / (job + "_" + std::to_string(t) + ".out");
    EXPECT_TRUE(fs::exists(log)) << log;
  }
  EXPECT_TRUE(fs::exists(sweep / "tables/table1_selection.md"));  // the report, at the end
  const ProgramOutput st = deferbench({"status", sweep.string(), "--no-report"}, work.path());
  EXPECT_EQ(st.status, 0);
  EXPECT_THAT(st.out, HasSubstr("8 runs: 8 complete, 0 failed, 0 in Slurm"));
  EXPECT_THAT(st.out, HasSubstr("slurm job " + job + ": tasks COMPLETED 4"));
}

// Waits until the task's state is `state` (squeue), at most `seconds`.
bool wait_for_task_state(const std::string& task, const std::string& state, double seconds) {
  const auto t0 = Clock::now();
  while (seconds_since(t0) < seconds) {
    const ProgramOutput q = slurm("squeue", {"-h", "-r", "-j", task, "-o", "%T"});
    if (last_line(q.out) == state) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

TEST(SlurmLauncher, ACancelledTaskIsReportedAndResumeResubmitsExactlyItsRuns) {
  REQUIRE_SLURM();
  testing::TempDir work;
  const std::string expected = local_summary(work.path());
  // Task 2 holds in its setup line until cancelled; the others run through.
  const ProgramOutput r = deferbench(
      cat(cat({"run", "-m", "name=cancel", "results_dir=out"}, kSweep),
          cat(kSlurm,
              {"launcher.setup=['if [ \"$SLURM_ARRAY_TASK_ID\" = 2 ]; then sleep 300; fi']"})),
      work.path());
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string job = job_of(r.out);
  ASSERT_FALSE(job.empty()) << r.out;
  const fs::path sweep = fs::canonical(work / "out/cancel/latest");
  ASSERT_TRUE(wait_for_task_state(job + "_2", "RUNNING", 60));

  // While a task runs, --resume refuses (it would submit its runs twice).
  const ProgramOutput early = deferbench({"run", "--resume", sweep.string()}, work.path());
  EXPECT_EQ(early.status, 2);
  EXPECT_THAT(early.err, HasSubstr("still have a Slurm task pending or running"));

  ASSERT_EQ(slurm("scancel", {job + "_2"}).status, 0);
  const ProgramOutput st = deferbench(
      {"status", sweep.string(), "--wait", "--poll", "0.5", "--progress", "lines"}, work.path());
  EXPECT_EQ(st.status, 2) << st.out << st.err;  // two runs failed
  EXPECT_THAT(st.out, HasSubstr("8 runs: 6 complete, 2 failed, 0 in Slurm"));
  EXPECT_THAT(st.out, HasSubstr("CANCELLED 1, COMPLETED 3"));
  const std::string log = (sweep / ".slurm" / (job + "_2.out")).string();
  for (const char* run : {"2", "6"}) {
    const std::string error = read_file(sweep / "runs" / run / "error.txt");
    EXPECT_THAT(error, HasSubstr("slurm task " + job + "_2 ended CANCELLED"));
    EXPECT_THAT(error, HasSubstr(log));
  }
  const std::string summary = read_file(sweep / "summary.csv");
  EXPECT_THAT(summary, HasSubstr("slurm task " + job + "_2 ended CANCELLED"));

  // Resumed without the holding setup line: exactly runs 2 and 6 go to Slurm again.
  const ProgramOutput resumed = deferbench(
      cat({"run", "--resume", sweep.string(), "--wait", "--poll", "0.5"}, kSlurm), work.path());
  EXPECT_EQ(resumed.status, 0) << resumed.out << resumed.err;
  EXPECT_EQ(read_file(sweep / ".slurm/tasks-2.txt"), "2 6\n");
  EXPECT_EQ(summary_without_seconds(sweep), expected);
}

TEST(SlurmLauncher, ATaskOverItsTimeLimitIsRecordedAsTimeout) {
  REQUIRE_SLURM();
  testing::TempDir work;
  const auto t0 = Clock::now();
  const ProgramOutput r = deferbench(
      {"run", "-m", "name=timeout", "results_dir=out", "launcher=slurm", "launcher.cpus_per_task=1",
       "launcher.timeout_min=0.1", "launcher.setup=[sleep 300]", "--wait", "--poll", "0.5"},
      work.path());
  std::printf("[slurm] the TIMEOUT was seen after %.1f s\n", seconds_since(t0));
  EXPECT_EQ(r.status, 1) << r.out << r.err;  // one failed run
  const fs::path sweep = fs::canonical(work / "out/timeout/latest");
  const std::string jobs = read_file(sweep / ".slurm/jobs.txt");
  const std::string job = jobs.substr(0, jobs.find(' '));
  const std::string error = read_file(sweep / "runs/0/error.txt");
  EXPECT_THAT(error, HasSubstr("slurm task " + job + "_0 ended TIMEOUT"));
  EXPECT_THAT(error, HasSubstr((sweep / ".slurm" / (job + "_0.out")).string()));
  EXPECT_THAT(read_file(sweep / "summary.csv"), HasSubstr("failed"));
  EXPECT_THAT(read_file(sweep / "summary.csv"), HasSubstr("ended TIMEOUT"));
}

// A task whose script fails (its setup line exits 3) is FAILED: each of its runs is recorded so.
TEST(SlurmLauncher, ATaskThatFailsIsRecordedAsFailed) {
  REQUIRE_SLURM();
  testing::TempDir work;
  const ProgramOutput r =
      deferbench({"run", "-m", "name=fails", "results_dir=out", "seed=0,1", "launcher=slurm",
                  "launcher.cpus_per_task=1", "launcher.setup=[exit 3]", "--wait", "--poll", "0.5"},
                 work.path());
  EXPECT_EQ(r.status, 2) << r.out << r.err;  // two failed runs
  const fs::path sweep = fs::canonical(work / "out/fails/latest");
  EXPECT_EQ(read_file(sweep / ".slurm/tasks-1.txt"), "0\n1\n");  // two seeds: two preparations
  for (const char* run : {"0", "1"})
    EXPECT_THAT(read_file(sweep / "runs" / run / "error.txt"), HasSubstr("ended FAILED"));
  const ProgramOutput st = deferbench({"status", sweep.string(), "--no-report"}, work.path());
  EXPECT_THAT(st.out, HasSubstr("2 runs: 0 complete, 2 failed"));
  EXPECT_THAT(st.out, HasSubstr("tasks FAILED 2"));
}

// sbatch refusing the script (an unknown partition) is a one-line error that keeps the folder;
// --resume with corrected launcher overrides submits it.
TEST(SlurmLauncher, ARefusedSubmissionCanBeResubmittedWithOtherLauncherKeys) {
  REQUIRE_SLURM();
  testing::TempDir work;
  const ProgramOutput r = deferbench({"run", "-m", "name=refused", "results_dir=out", "seed=0,1",
                                      "launcher=slurm", "launcher.partition=nope"},
                                     work.path());
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("sbatch"));
  EXPECT_THAT(r.err, HasSubstr("partition"));
  EXPECT_THAT(r.err, HasSubstr("--resume"));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  const fs::path sweep = fs::canonical(work / "out/refused/latest");
  const ProgramOutput resumed = deferbench(
      cat({"run", "--resume", sweep.string(), "--wait", "--poll", "0.5"}, kSlurm), work.path());
  EXPECT_EQ(resumed.status, 0) << resumed.out << resumed.err;
  EXPECT_TRUE(fs::exists(sweep / "runs/0/metrics.json"));
  EXPECT_TRUE(fs::exists(sweep / "runs/1/metrics.json"));
}

}  // namespace
}  // namespace deferbench

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new deferbench::SlurmCluster);
  return RUN_ALL_TESTS();
}
