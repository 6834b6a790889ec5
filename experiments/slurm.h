// Talking to Slurm: submitting a job array with sbatch and reading its tasks' states, from
// sacct where accounting is on, else from `scontrol show job` (what the controller still holds;
// a cluster without a database keeps finished jobs for MinJobAge seconds). The commands run
// without a shell (experiments/subprocess.h); their output is parsed here.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace deferbench {

// Submits `script` with `sbatch --parsable`, run in `dir` (relative #SBATCH paths resolve there);
// returns the job id. Errors: sbatch missing, or what sbatch printed.
std::string sbatch_submit(const std::filesystem::path& script, const std::filesystem::path& dir);

// The state of each task of array job `job` that Slurm still knows (task → state, the first
// word of Slurm's: PENDING, RUNNING, COMPLETED, FAILED, TIMEOUT, OUT_OF_MEMORY, CANCELLED, ...).
// Tasks Slurm has forgotten are absent. Errors: neither sacct nor scontrol answered.
std::map<std::size_t, std::string> array_task_states(const std::string& job);

// Whether a state is one a task leaves by itself (pending, running, completing, ...).
bool is_active_state(const std::string& state);

// Parsers of the commands' output, for `job`'s tasks (exposed for the tests):
// `sacct -n -P -X -j JOB -o JobID,State` ("17_0|COMPLETED", "17_[2-4%1]|PENDING",
// "17_1|CANCELLED by 0");
std::map<std::size_t, std::string> parse_sacct_states(const std::string& text,
                                                      const std::string& job);
// `scontrol show job -o JOB` (one line per task or pending range: "JobId=18 ArrayJobId=17
// ArrayTaskId=0 ... JobState=COMPLETED ...", "ArrayTaskId=2-3%1").
std::map<std::size_t, std::string> parse_scontrol_states(const std::string& text,
                                                         const std::string& job);
// An array index expression: "3", "[1-3,5]", "1-7:2", "0-3%2" (the throttle ignored).
std::vector<std::size_t> parse_array_indices(const std::string& text);

}  // namespace deferbench
