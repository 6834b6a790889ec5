#include "experiments/slurm.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "core/util/error.h"
#include "experiments/subprocess.h"

namespace deferbench {
namespace fs = std::filesystem;

namespace {

fs::path slurm_command(const std::string& name) {
  const fs::path p = find_executable(name);
  DB_CHECK(!p.empty(),
           "launcher=slurm: '{}' not found on PATH; expected a machine with Slurm's client "
           "commands (a login node)",
           name);
  return p;
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() < 19 &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

std::string first_word(const std::string& s) {
  const std::size_t b = s.find_first_not_of(' ');
  if (b == std::string::npos) return "";
  return s.substr(b, s.find(' ', b) - b);
}

// The value of `key=` in a `scontrol -o` line (space-separated key=value pairs).
std::string field_of(const std::string& line, const std::string& key) {
  std::size_t at = 0;
  while ((at = line.find(key + "=", at)) != std::string::npos) {
    if (at == 0 || line[at - 1] == ' ') {
      const std::size_t b = at + key.size() + 1;
      return line.substr(b, line.find(' ', b) - b);
    }
    at += key.size();
  }
  return "";
}

}  // namespace

std::vector<std::size_t> parse_array_indices(const std::string& text) {
  std::string t = text;
  if (const std::size_t pct = t.find('%'); pct != std::string::npos) t.erase(pct);
  t.erase(std::remove_if(t.begin(), t.end(), [](char c) { return c == '[' || c == ']'; }), t.end());
  std::vector<std::size_t> out;
  std::istringstream parts(t);
  for (std::string part; std::getline(parts, part, ',');) {
    std::size_t step = 1;
    if (const std::size_t colon = part.find(':'); colon != std::string::npos) {
      if (!all_digits(part.substr(colon + 1))) return {};
      step = std::max<std::size_t>(1, std::stoull(part.substr(colon + 1)));
      part.erase(colon);
    }
    const std::size_t dash = part.find('-');
    const std::string lo = part.substr(0, dash);
    const std::string hi = dash == std::string::npos ? lo : part.substr(dash + 1);
    if (!all_digits(lo) || !all_digits(hi)) return {};
    for (std::size_t i = std::stoull(lo); i <= std::stoull(hi); i += step) out.push_back(i);
  }
  return out;
}

std::map<std::size_t, std::string> parse_sacct_states(const std::string& text,
                                                      const std::string& job) {
  std::map<std::size_t, std::string> states;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const std::size_t bar = line.find('|');
    if (bar == std::string::npos) continue;
    const std::string id = line.substr(0, bar);
    if (id.rfind(job + "_", 0) != 0) continue;  // steps (17_0.batch) and other jobs
    const std::string index = id.substr(job.size() + 1);
    if (index.find('.') != std::string::npos) continue;
    const std::string state = first_word(line.substr(bar + 1));
    for (std::size_t task : parse_array_indices(index)) states[task] = state;
  }
  return states;
}

std::map<std::size_t, std::string> parse_scontrol_states(const std::string& text,
                                                         const std::string& job) {
  std::map<std::size_t, std::string> states;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (field_of(line, "ArrayJobId") != job) continue;
    const std::string state = field_of(line, "JobState");
    for (std::size_t task : parse_array_indices(field_of(line, "ArrayTaskId")))
      states[task] = state;
  }
  return states;
}

bool is_active_state(const std::string& state) {
  static const std::set<std::string> active = {
      "PENDING",     "RUNNING",      "CONFIGURING",   "COMPLETING",    "REQUEUED",
      "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING",      "SUSPENDED",     "STOPPED",
      "SIGNALING",   "STAGE_OUT",    "RESV_DEL_HOLD", "POWER_UP_NODE", "UPDATE_DB"};
  return active.count(state) > 0;
}

std::string sbatch_submit(const fs::path& script, const fs::path& dir) {
  const ProgramOutput r =
      run_capture(slurm_command("sbatch"), {"--parsable", script.string()}, dir);
  const std::string id = first_word(last_line(r.out));
  const std::string job = id.substr(0, id.find(';'));  // "17;cluster" on federated clusters
  DB_CHECK(r.status == 0 && all_digits(job), "launcher=slurm: sbatch {} failed: {}",
           script.string(),
           excerpt(r.status < 0 ? std::string("it could not run")
                                : last_line(r.err.empty() ? r.out : r.err)));
  return job;
}

std::map<std::size_t, std::string> array_task_states(const std::string& job) {
  const fs::path sacct = find_executable("sacct");
  if (!sacct.empty()) {
    const ProgramOutput r =
        run_capture(sacct, {"-n", "-P", "-X", "-j", job, "-o", "JobID,State"}, "");
    // Without accounting sacct fails ("Slurm accounting storage is disabled"): ask the controller.
    if (r.status == 0) {
      auto states = parse_sacct_states(r.out, job);
      if (!states.empty()) return states;
    }
  }
  const ProgramOutput r = run_capture(slurm_command("scontrol"), {"show", "job", "-o", job}, "");
  if (r.status != 0 && r.err.find("Invalid job id") != std::string::npos) return {};
  DB_CHECK(r.status == 0, "launcher=slurm: scontrol show job {} failed: {}", job,
           excerpt(last_line(r.err.empty() ? r.out : r.err)));
  return parse_scontrol_states(r.out, job);
}

}  // namespace deferbench
