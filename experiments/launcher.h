// Where a sweep's runs execute: the `launcher` config group. `launcher=local` (the default) runs
// them in this process (experiments/sweep.h); `launcher=slurm` submits one Slurm job array whose
// tasks are groups of runs sharing a preparation (experiments/slurm.h), after Hydra's submitit
// launcher: timeout_min, cpus_per_task, gpus_per_node, mem_gb, partition, qos, account,
// constraint, additional_parameters, setup, array_parallelism, plus runs_per_task.
//
// This file holds what needs no Slurm: the validated settings, which overrides are the
// launcher's, the grouping of runs into tasks, the task list and the sbatch script's text.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace deferbench {

struct SlurmSettings {
  double timeout_min = 60;  // the task's time limit (--time), minutes (decimals allowed)
  int cpus_per_task = 1;
  int gpus_per_node = 0;  // 0: no --gpus-per-node line
  double mem_gb = 0;      // 0: the partition's default (no --mem line)
  std::string partition, qos, account, constraint, job_name;  // "": no line
  // Further `#SBATCH --KEY=VALUE` lines (KEY with '_' written as '-'), in key order.
  std::map<std::string, std::string> additional_parameters;
  std::vector<std::string> setup;  // shell lines run before deferbench in every task
  int array_parallelism = 256;     // tasks running at once (the array's %N)
  int runs_per_task = 16;          // the most runs of one preparation grouped into a task
};

struct LauncherSettings {
  std::string kind = "local";  // local | slurm
  SlurmSettings slurm;

  // Reads the composed config's `launcher` section (absent: local); unknown keys and values
  // that cannot go on an #SBATCH line are one-line errors naming the key.
  static LauncherSettings from_yaml(const YAML::Node& node);
};

// Whether a command-line override sets the launcher (`launcher=slurm`, `launcher.KEY=V`,
// `+launcher.additional_parameters.KEY=V`, `~launcher.setup`) rather than the runs' config.
bool is_launcher_override(const std::string& override_text);

// Groups runs into array tasks: runs with the same preparation key (data set, split seed,
// featurizer) stay together, in order of first appearance, at most `runs_per_task` per task; a
// run with an empty key (it will fail before preparing anything) is a task of its own.
// `runs[i]` is a run number, `prep_keys[i]` its key.
std::vector<std::vector<std::size_t>> group_runs_into_tasks(
    const std::vector<std::size_t>& runs, const std::vector<std::string>& prep_keys,
    int runs_per_task);

// The task list file: line i holds task i's run numbers, separated by spaces.
std::string task_list_text(const std::vector<std::vector<std::size_t>>& tasks);
// Every task of a task list file; a one-line error naming the file and line at a line that is
// not a list of run numbers below `runs`.
std::vector<std::vector<std::size_t>> read_task_list(const std::filesystem::path& file,
                                                     std::size_t runs);
// Task `task` of a task list file; a one-line error naming the file and line when it is not
// there or not a list of run numbers below `runs`.
std::vector<std::size_t> read_task(const std::filesystem::path& file, std::size_t task,
                                   std::size_t runs);

// `text` quoted for a POSIX shell: in single quotes, each ' written as '\''.
std::string shell_quote(const std::string& text);

// What the sbatch script runs: the deferbench executable, the project root it reads data
// against, the folder relative paths resolve against, the sweep folder and the task list.
struct TaskCommand {
  std::filesystem::path executable, project_root, working_dir, sweep_dir, task_file;
  std::size_t tasks = 0;  // the array's size
};

// The sbatch script of one job array: #SBATCH lines from the settings (output to
// %A_%a.out in the folder sbatch is run from: the sweep's .slurm/), the setup lines, then
// `deferbench run --resume DIR --task-file FILE --task $SLURM_ARRAY_TASK_ID`.
std::string sbatch_script(const SlurmSettings& s, const TaskCommand& command);

}  // namespace deferbench
