#include "experiments/launcher.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <fmt/format.h>

#include "core/config/fields.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"
#include "experiments/sweep.h"

namespace deferbench {
namespace fs = std::filesystem;

namespace {

// What may stand in an #SBATCH value: sbatch reads these lines itself (no shell) and splits
// them at spaces, honouring quotes; so a value is printable ASCII without spaces, quotes,
// backslashes or '#', and stays one option on one line (constraints keep their | & * [ ]).
bool sbatch_safe(const std::string& v) {
  return std::all_of(v.begin(), v.end(), [](unsigned char c) {
    return c > 0x20 && c < 0x7f &&
           std::string_view("'\"\\#`").find(static_cast<char>(c)) == std::string_view::npos;
  });
}

std::string get_sbatch_value(FieldReader& r, const std::string& key) {
  const std::string v = r.get_string(key, "");
  DB_CHECK(sbatch_safe(v),
           "config: '{}': expected printable characters without spaces, quotes, backslashes or "
           "'#' (the value goes on an #SBATCH line), got '{}'",
           r.key_path(key), excerpt(v));
  return v;
}

SlurmSettings read_slurm(FieldReader& r) {
  SlurmSettings s;
  s.timeout_min = r.get_double("timeout_min", s.timeout_min, 1.0 / 60, 1e7);
  s.cpus_per_task = static_cast<int>(r.get_int("cpus_per_task", s.cpus_per_task, 1, 4096));
  s.gpus_per_node = static_cast<int>(r.get_int("gpus_per_node", s.gpus_per_node, 0, 1024));
  s.mem_gb = r.get_double("mem_gb", s.mem_gb, 0, 1e6);
  s.partition = get_sbatch_value(r, "partition");
  s.qos = get_sbatch_value(r, "qos");
  s.account = get_sbatch_value(r, "account");
  s.constraint = get_sbatch_value(r, "constraint");
  s.job_name = get_sbatch_value(r, "job_name");
  s.array_parallelism =
      static_cast<int>(r.get_int("array_parallelism", s.array_parallelism, 1, 1000000));
  s.runs_per_task = static_cast<int>(r.get_int("runs_per_task", s.runs_per_task, 1, 1000000));
  const YAML::Node extra = r.get_map("additional_parameters");
  const std::string extra_path = r.key_path("additional_parameters");
  DB_CHECK(!extra || extra.IsNull() || extra.IsMap(),
           "config: '{}': expected a mapping of sbatch option: value, got {}", extra_path,
           yaml_type_name(extra));
  if (extra && extra.IsMap()) {
    FieldReader e(extra, extra_path);
    for (const auto& kv : extra) {
      const std::string key = kv.first.as<std::string>();
      const bool name_ok = !key.empty() && std::isalpha(static_cast<unsigned char>(key[0])) &&
                           std::all_of(key.begin(), key.end(), [](unsigned char c) {
                             return std::isalnum(c) || c == '_' || c == '-';
                           });
      DB_CHECK(name_ok, "config: '{}': '{}' is not an sbatch option name (letters, digits, _ -)",
               extra_path, excerpt(key));
      std::string name = key;
      std::replace(name.begin(), name.end(), '_', '-');
      s.additional_parameters[name] = get_sbatch_value(e, key);
    }
    e.finish();
  }
  s.setup = r.get_string_list("setup", {});
  for (const std::string& line : s.setup)
    DB_CHECK(std::none_of(line.begin(), line.end(),
                          [](unsigned char c) { return c < 0x20 || c == 0x7f; }),
             "config: '{}': expected shell lines without line breaks or control characters, "
             "got '{}'",
             r.key_path("setup"), excerpt(line));
  return s;
}

// Minutes as Slurm's minutes:seconds, rounded up to a whole second.
std::string slurm_time(double minutes) {
  const auto seconds = static_cast<long long>(std::ceil(minutes * 60 - 1e-9));
  return fmt::format("{}:{:02}", seconds / 60, seconds % 60);
}

}  // namespace

LauncherSettings LauncherSettings::from_yaml(const YAML::Node& node) {
  LauncherSettings l;
  if (!node || node.IsNull()) return l;
  DB_CHECK(node.IsMap(),
           "config: 'launcher': expected a mapping (launcher=local or "
           "launcher=slurm), got {}",
           yaml_type_name(node));
  FieldReader r(node, "launcher");
  l.kind = r.get_choice("kind", "local", {"local", "slurm"});
  if (l.kind == "slurm") l.slurm = read_slurm(r);
  r.finish();
  return l;
}

bool is_launcher_override(const std::string& override_text) {
  const std::string key = parse_override(override_text).key;
  return key == "launcher" || key.rfind("launcher.", 0) == 0;
}

std::vector<std::vector<std::size_t>> group_runs_into_tasks(
    const std::vector<std::size_t>& runs, const std::vector<std::string>& prep_keys,
    int runs_per_task) {
  DB_ASSERT(runs.size() == prep_keys.size() && runs_per_task >= 1);
  std::vector<std::vector<std::size_t>> groups;
  std::map<std::string, std::size_t> group_of;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (prep_keys[i].empty()) {
      groups.push_back({runs[i]});
      continue;
    }
    auto [it, added] = group_of.emplace(prep_keys[i], groups.size());
    if (added) groups.emplace_back();
    groups[it->second].push_back(runs[i]);
  }
  std::vector<std::vector<std::size_t>> tasks;
  const auto cap = static_cast<std::size_t>(runs_per_task);
  for (const auto& g : groups)
    for (std::size_t b = 0; b < g.size(); b += cap)
      tasks.emplace_back(g.begin() + static_cast<std::ptrdiff_t>(b),
                         g.begin() + static_cast<std::ptrdiff_t>(std::min(g.size(), b + cap)));
  return tasks;
}

std::string task_list_text(const std::vector<std::vector<std::size_t>>& tasks) {
  std::string out;
  for (const auto& t : tasks) out += fmt::format("{}\n", fmt::join(t, " "));
  return out;
}

std::vector<std::vector<std::size_t>> read_task_list(const fs::path& file, std::size_t runs) {
  std::istringstream in(read_file(file));
  std::vector<std::vector<std::size_t>> tasks;
  for (std::string line; std::getline(in, line);) {
    const Where where{file.string(), tasks.size() + 1, ""};
    std::vector<std::size_t> task;
    std::istringstream words(line);
    for (std::string w; words >> w;) {
      const bool digits =
          !w.empty() && w.size() < 19 &&
          std::all_of(w.begin(), w.end(), [](unsigned char c) { return std::isdigit(c); });
      if (!digits || std::stoull(w) >= runs)
        fail(where, fmt::format("'{}': expected a run number below {}", excerpt(w), runs));
      task.push_back(std::stoull(w));
    }
    if (task.empty()) fail(where, "expected the task's run numbers, got an empty line");
    tasks.push_back(std::move(task));
  }
  return tasks;
}

std::vector<std::size_t> read_task(const fs::path& file, std::size_t task, std::size_t runs) {
  std::vector<std::vector<std::size_t>> tasks = read_task_list(file, runs);
  if (task >= tasks.size())
    fail(Where{file.string(), 0, ""},
         fmt::format("no task {}: the list has {} tasks", task, tasks.size()));
  return tasks[task];
}

std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string sbatch_script(const SlurmSettings& s, const TaskCommand& c) {
  std::string out =
      "#!/bin/bash\n# Written by deferbench run -m (launcher=slurm): one array task per line of\n";
  out +=
      fmt::format("# {}. Logs: %A_%a.out beside this script.\n", c.task_file.filename().string());
  auto line = [&](const std::string& option) { out += "#SBATCH --" + option + "\n"; };
  line(fmt::format("job-name={}", s.job_name.empty() ? "deferbench" : s.job_name));
  line(fmt::format("array=0-{}%{}", c.tasks - 1, s.array_parallelism));
  line("output=%A_%a.out");
  line(fmt::format("time={}", slurm_time(s.timeout_min)));
  line(fmt::format("cpus-per-task={}", s.cpus_per_task));
  if (s.gpus_per_node > 0) line(fmt::format("gpus-per-node={}", s.gpus_per_node));
  if (s.mem_gb > 0)
    line(fmt::format("mem={}M", static_cast<long long>(std::ceil(s.mem_gb * 1024 - 1e-9))));
  for (const auto& [key, value] :
       std::vector<std::pair<const char*, std::string>>{{"partition", s.partition},
                                                        {"qos", s.qos},
                                                        {"account", s.account},
                                                        {"constraint", s.constraint}})
    if (!value.empty()) line(fmt::format("{}={}", key, value));
  for (const auto& [key, value] : s.additional_parameters)
    line(value.empty() ? key : fmt::format("{}={}", key, value));
  out += "\nset -e\n";
  out += fmt::format("cd {}\n", shell_quote(c.working_dir.string()));
  out += fmt::format("export DEFERBENCH_ROOT={}\n", shell_quote(c.project_root.string()));
  if (!s.setup.empty()) {
    out += "# launcher.setup\n";
    for (const std::string& l : s.setup) out += l + "\n";
  }
  out += fmt::format("exec {} run --resume {} --task-file {} --task \"$SLURM_ARRAY_TASK_ID\"\n",
                     shell_quote(c.executable.string()), shell_quote(c.sweep_dir.string()),
                     shell_quote(c.task_file.string()));
  return out;
}

}  // namespace deferbench
