// The launcher's parts that need no Slurm: settings and their errors, the grouping of runs into
// array tasks, the task list, the sbatch script's text, and the parsers of Slurm's output
// (checked against output captured from Slurm 22.05). The real Slurm tests: tests/slurm/.
#include <algorithm>
#include <cstdlib>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/config/compose.h"
#include "core/util/atomic_file.h"
#include "experiments/launcher.h"
#include "experiments/slurm.h"
#include "experiments/subprocess.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::TempDir;

const fs::path kConfigs = fs::path(DEFERBENCH_ROOT) / "experiments" / "configs";

LauncherSettings launcher_of(const std::vector<std::string>& overrides) {
  return LauncherSettings::from_yaml(compose_config(kConfigs, overrides).config["launcher"]);
}

TEST(Launcher, DefaultIsLocalAndSlurmReadsEveryKey) {
  EXPECT_EQ(launcher_of({}).kind, "local");
  const LauncherSettings l =
      launcher_of({"launcher=slurm", "launcher.timeout_min=0.25", "launcher.cpus_per_task=3",
                   "launcher.gpus_per_node=1", "launcher.mem_gb=1.5", "launcher.partition=gpu",
                   "launcher.qos=high", "launcher.account=lab-7", "launcher.constraint=a100|h100",
                   "launcher.setup=[module load cuda, echo hi]", "launcher.array_parallelism=4",
                   "launcher.runs_per_task=2", "launcher.additional_parameters={mail_type: END}"});
  EXPECT_EQ(l.kind, "slurm");
  EXPECT_DOUBLE_EQ(l.slurm.timeout_min, 0.25);
  EXPECT_EQ(l.slurm.cpus_per_task, 3);
  EXPECT_EQ(l.slurm.gpus_per_node, 1);
  EXPECT_DOUBLE_EQ(l.slurm.mem_gb, 1.5);
  EXPECT_EQ(l.slurm.partition, "gpu");
  EXPECT_EQ(l.slurm.constraint, "a100|h100");
  EXPECT_THAT(l.slurm.setup, ElementsAre("module load cuda", "echo hi"));
  EXPECT_EQ(l.slurm.array_parallelism, 4);
  EXPECT_EQ(l.slurm.runs_per_task, 2);
  ASSERT_EQ(l.slurm.additional_parameters.size(), 1u);
  EXPECT_EQ(l.slurm.additional_parameters.at("mail-type"), "END");
}

TEST(Launcher, BadKeysAreOneLineErrorsNamingTheKey) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"launcher=slurm", "+launcher.timeout=5"}, "timeout"},
      {{"launcher=slurm", "launcher.cpus_per_task=0"}, "launcher.cpus_per_task"},
      {{"launcher=slurm", "launcher.timeout_min=-1"}, "launcher.timeout_min"},
      {{"launcher=slurm", "launcher.mem_gb=lots"}, "launcher.mem_gb"},
      {{"launcher=slurm", "launcher.partition='a b'"}, "launcher.partition"},
      {{"launcher=slurm", "launcher.account='x\\nrm -rf /'"}, "launcher.account"},
      {{"launcher=slurm", "launcher.additional_parameters={'bad key': 1}"},
       "launcher.additional_parameters"},
      {{"launcher=slurm", "launcher.additional_parameters={mail_user: 'a b'}"},
       "launcher.additional_parameters.mail_user"},
      {{"launcher=slurm", "launcher.setup=[\"a\\nb\"]"}, "launcher.setup"},
      {{"+launcher.kind=pbs"}, "launcher.kind"},
  };
  for (const auto& [overrides, key] : cases) {
    std::string msg;
    try {
      launcher_of(overrides);
    } catch (const Error& e) {
      msg = e.what();
    }
    EXPECT_THAT(msg, HasSubstr(key)) << overrides.back();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(Launcher, LauncherOverridesAreTold) {
  EXPECT_TRUE(is_launcher_override("launcher=slurm"));
  EXPECT_TRUE(is_launcher_override("launcher.mem_gb=4"));
  EXPECT_TRUE(is_launcher_override("+launcher.additional_parameters.x=1"));
  EXPECT_TRUE(is_launcher_override("~launcher.setup"));
  EXPECT_FALSE(is_launcher_override("launchers=1"));
  EXPECT_FALSE(is_launcher_override("seed=1"));
}

TEST(Launcher, TasksGroupRunsOfOnePreparationCappedInOrderOfFirstUse) {
  // Runs 0..6 with keys a b a b c "" a, 2 per task: a → {0,2},{6}; b → {1,3}; c → {4}; "" → {5}.
  const auto tasks =
      group_runs_into_tasks({0, 1, 2, 3, 4, 5, 6}, {"a", "b", "a", "b", "c", "", "a"}, 2);
  const std::vector<std::vector<std::size_t>> expected = {{0, 2}, {6}, {1, 3}, {4}, {5}};
  EXPECT_EQ(tasks, expected);
  EXPECT_EQ(task_list_text(tasks), "0 2\n6\n1 3\n4\n5\n");
  EXPECT_EQ(group_runs_into_tasks({3, 9}, {"k", "k"}, 16),
            (std::vector<std::vector<std::size_t>>{{3, 9}}));
}

TEST(Launcher, TaskListsReadBackAndBadOnesNameTheLine) {
  TempDir dir;
  const fs::path f = dir.write("tasks.txt", "0 2\n6\n1 3\n");
  EXPECT_THAT(read_task(f, 2, 7), ElementsAre(1, 3));
  EXPECT_EQ(read_task_list(f, 7).size(), 3u);
  EXPECT_THAT(testing::error_of([&] { read_task(f, 3, 7); }), HasSubstr("no task 3"));
  EXPECT_THAT(testing::error_of([&] { read_task(f, 0, 5); }),
              HasSubstr("tasks.txt:2: '6': expected a run number below 5"));
  const fs::path bad = dir.write("bad.txt", "0\n1 x\n");
  EXPECT_THAT(testing::error_of([&] { read_task_list(bad, 5); }), HasSubstr("bad.txt:2: 'x'"));
  const fs::path empty = dir.write("empty.txt", "0\n\n");
  EXPECT_THAT(testing::error_of([&] { read_task_list(empty, 5); }),
              HasSubstr("empty.txt:2: expected the task's run numbers"));
}

TEST(Launcher, ShellQuoteSurvivesARealShell) {
  for (const std::string s : {std::string("plain"), std::string("it's $HOME `id` \"q\" \\ ;|&"),
                              std::string("'"), std::string("")}) {
    const ProgramOutput r = run_capture("/bin/sh", {"-c", "printf %s " + shell_quote(s)}, "");
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out, s);
  }
}

TEST(Launcher, SbatchScriptHasTheOptionsAndQuotedPaths) {
  SlurmSettings s;
  s.timeout_min = 0.25;
  s.cpus_per_task = 3;
  s.mem_gb = 1.5;
  s.partition = "debug";
  s.job_name = "sweep";
  s.array_parallelism = 2;
  s.additional_parameters = {{"mail-type", "END"}, {"exclusive", ""}};
  s.setup = {"echo set up"};
  TaskCommand c;
  c.executable = "/opt/deferbench/bin/deferbench";
  c.project_root = "/src/it's here";
  c.working_dir = "/home/me";
  c.sweep_dir = "/home/me/results/t/2026";
  c.task_file = "/home/me/results/t/2026/.slurm/tasks-1.txt";
  c.tasks = 5;
  const std::string text = sbatch_script(s, c);
  for (const std::string line :
       {"#!/bin/bash\n", "#SBATCH --array=0-4%2\n", "#SBATCH --output=%A_%a.out\n",
        "#SBATCH --time=0:15\n", "#SBATCH --cpus-per-task=3\n", "#SBATCH --mem=1536M\n",
        "#SBATCH --partition=debug\n", "#SBATCH --job-name=sweep\n", "#SBATCH --mail-type=END\n",
        "#SBATCH --exclusive\n", "\necho set up\n", "export DEFERBENCH_ROOT='/src/it'\\''s here'\n",
        "cd '/home/me'\n",
        "exec '/opt/deferbench/bin/deferbench' run --resume '/home/me/results/t/2026' "
        "--task-file '/home/me/results/t/2026/.slurm/tasks-1.txt' --task "
        "\"$SLURM_ARRAY_TASK_ID\"\n"})
    EXPECT_THAT(text, HasSubstr(line));
  EXPECT_THAT(text, Not(HasSubstr("--gpus-per-node")));  // 0: not asked
  EXPECT_THAT(text, Not(HasSubstr("--qos")));            // "": the cluster's default
  s.timeout_min = 90;
  EXPECT_THAT(sbatch_script(s, c), HasSubstr("#SBATCH --time=90:00\n"));
}

// At the command line: exit 2, one line naming the key, no sweep folder created.
TEST(Launcher, BadLauncherKeysStopTheSweepBeforeAnyFolder) {
  TempDir dir;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"launcher=slurm", "launcher.partition=a b"}, "launcher.partition"},
      {{"launcher=slurm", "+launcher.nodes=2"}, "nodes"},
      {{"launcher=slurm", "launcher.mem_gb=1,2"}, "one value"},
      {{"launcher=pbs"}, "launcher"},
  };
  for (const auto& [overrides, needle] : cases) {
    std::vector<std::string> args = {"run", "-m", "seed=0,1", "results_dir=out"};
    args.insert(args.end(), overrides.begin(), overrides.end());
    const ProgramOutput r = run_capture(DEFERBENCH_BINARY, args, dir.path());
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_THAT(r.err, HasSubstr(needle));
    EXPECT_FALSE(fs::exists(dir / "out")) << overrides.back();
  }
  // Without sbatch on PATH a new Slurm sweep stops before any folder.
  const char* path = std::getenv("PATH");
  const std::string saved = path ? path : "";
  ::setenv("PATH", "/nonexistent", 1);
  const ProgramOutput no_sbatch =
      run_capture(DEFERBENCH_BINARY, {"run", "-m", "seed=0,1", "results_dir=out", "launcher=slurm"},
                  dir.path());
  ::setenv("PATH", saved.c_str(), 1);
  EXPECT_EQ(no_sbatch.status, 2) << no_sbatch.err;
  EXPECT_THAT(no_sbatch.err, HasSubstr("'sbatch' not found on PATH"));
  EXPECT_FALSE(fs::exists(dir / "out"));
  const ProgramOutput single =
      run_capture(DEFERBENCH_BINARY, {"run", "launcher=slurm", "results_dir=out"}, dir.path());
  EXPECT_EQ(single.status, 2);
  EXPECT_THAT(single.err, HasSubstr("add -m"));
  EXPECT_FALSE(fs::exists(dir / "out"));
}

TEST(SlurmParse, ArrayIndexExpressions) {
  EXPECT_THAT(parse_array_indices("3"), ElementsAre(3));
  EXPECT_THAT(parse_array_indices("[1-3,5]"), ElementsAre(1, 2, 3, 5));
  EXPECT_THAT(parse_array_indices("0-3%2"), ElementsAre(0, 1, 2, 3));
  EXPECT_THAT(parse_array_indices("[2-4%1]"), ElementsAre(2, 3, 4));
  EXPECT_THAT(parse_array_indices("1-7:3"), ElementsAre(1, 4, 7));
  EXPECT_TRUE(parse_array_indices("x").empty());
}

TEST(SlurmParse, SacctLinesGiveEachTasksState) {
  const std::string out =
      "17_0|COMPLETED\n17_1|CANCELLED by 0\n17_[2-3%1]|PENDING\n17_4|TIMEOUT\n"
      "17_4.batch|CANCELLED\n170_5|FAILED\n";
  const auto states = parse_sacct_states(out, "17");
  ASSERT_EQ(states.size(), 5u);
  EXPECT_EQ(states.at(0), "COMPLETED");
  EXPECT_EQ(states.at(1), "CANCELLED");
  EXPECT_EQ(states.at(2), "PENDING");
  EXPECT_EQ(states.at(3), "PENDING");
  EXPECT_EQ(states.at(4), "TIMEOUT");
}

TEST(SlurmParse, ScontrolLinesGiveEachTasksState) {
  const std::string out =
      "JobId=18 ArrayJobId=17 ArrayTaskId=0 JobName=deferbench UserId=root(0) "
      "JobState=COMPLETED Reason=None Dependency=(null)\n"
      "JobId=19 ArrayJobId=17 ArrayTaskId=1 JobName=deferbench JobState=OUT_OF_MEMORY "
      "Reason=OutOfMemory\n"
      "JobId=17 ArrayJobId=17 ArrayTaskId=2-3%1 ArrayTaskThrottle=1 JobState=PENDING "
      "Reason=JobArrayTaskLimit\n"
      "JobId=40 ArrayJobId=170 ArrayTaskId=0 JobState=FAILED\n";
  const auto states = parse_scontrol_states(out, "17");
  ASSERT_EQ(states.size(), 4u);
  EXPECT_EQ(states.at(0), "COMPLETED");
  EXPECT_EQ(states.at(1), "OUT_OF_MEMORY");
  EXPECT_EQ(states.at(2), "PENDING");
  EXPECT_EQ(states.at(3), "PENDING");
  EXPECT_TRUE(is_active_state("PENDING"));
  EXPECT_TRUE(is_active_state("RUNNING"));
  EXPECT_TRUE(is_active_state("COMPLETING"));
  EXPECT_FALSE(is_active_state("TIMEOUT"));
  EXPECT_FALSE(is_active_state("COMPLETED"));
}

}  // namespace
}  // namespace deferbench
