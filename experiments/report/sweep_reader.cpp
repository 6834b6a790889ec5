#include "experiments/report/sweep_reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <set>
#include <system_error>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "core/data/csv_reader.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"

namespace deferbench::report {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::optional<double> parse_number(const std::string& s) {
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::vector<Candidate> read_frontier(const fs::path& file) {
  const CsvFile csv = read_csv_file(file);
  if (csv.header.empty()) fail(Where{file.string(), 0, ""}, "empty: expected a header line");
  const std::vector<std::string>& header = csv.header;
  auto column = [&](const char* name) {
    const auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end())
      fail(Where{file.string(), csv.header_line, name},
           fmt::format("missing column (header: {})", fmt::join(header, ",")));
    return static_cast<std::size_t>(it - header.begin());
  };
  const std::size_t target = column("target"), family = column("family"), model = column("model"),
                    val_coverage = column("val_coverage"), val_feasible = column("val_feasible"),
                    on_frontier = column("on_frontier"), test_coverage = column("test_coverage"),
                    test_agreement = column("test_agreement");
  // Written since December 2026 (AURC): absent from older frontier.csv files.
  const auto optional_column = [&](const char* name) {
    const auto it = std::find(header.begin(), header.end(), name);
    return it == header.end() ? header.size() : static_cast<std::size_t>(it - header.begin());
  };
  const std::size_t test_aurc = optional_column("test_aurc"),
                    test_e_aurc = optional_column("test_e_aurc");
  std::vector<Candidate> out;
  for (const CsvRecord& record : csv.records) {
    const std::size_t line = record.line;
    const std::vector<std::string>& fields = record.fields;
    if (fields.size() != header.size())
      fail(Where{file.string(), line, ""},
           fmt::format("{} fields, expected {} as in the header", fields.size(), header.size()));
    auto number = [&](std::size_t c) {
      if (fields[c].empty()) return kNaN;  // undefined
      const auto v = parse_number(fields[c]);
      if (!v)
        fail(Where{file.string(), line, header[c]},
             fmt::format("expected a number, got '{}'", fields[c]));
      return *v;
    };
    auto flag = [&](std::size_t c) {
      if (fields[c] != "0" && fields[c] != "1")
        fail(Where{file.string(), line, header[c]},
             fmt::format("expected 0 or 1, got '{}'", fields[c]));
      return fields[c] == "1";
    };
    Candidate c;
    c.target = number(target);
    if (std::isnan(c.target))
      fail(Where{file.string(), line, "target"}, "expected a number, got an empty field");
    c.family = fields[family];
    c.model = fields[model];
    c.val_coverage = number(val_coverage);
    c.val_feasible = flag(val_feasible);
    c.on_frontier = flag(on_frontier);
    c.test_coverage = number(test_coverage);
    c.test_agreement = number(test_agreement);
    if (test_aurc < header.size()) c.test_aurc = number(test_aurc);
    if (test_e_aurc < header.size()) c.test_e_aurc = number(test_e_aurc);
    out.push_back(std::move(c));
  }
  return out;
}

// Typed access to metrics.json fields; a missing or mistyped one is an Error naming the file and
// the field's path (e.g. targets[1].test.coverage).
struct JsonIn {
  std::string file;

  const json& at(const json& j, const std::string& key, const std::string& path) const {
    if (!j.is_object() || !j.contains(key)) fail(Where{file, 0, path + key}, "missing");
    return j[key];
  }
  double number(const json& j, const std::string& key, const std::string& path = "",
                bool null_ok = false) const {
    const json& v = at(j, key, path);
    if (null_ok && v.is_null()) return kNaN;
    if (!v.is_number())
      fail(Where{file, 0, path + key},
           fmt::format("expected a number{}, got {}", null_ok ? " or null" : "", v.dump()));
    return v.get<double>();
  }
  std::string text(const json& j, const std::string& key, const std::string& path = "") const {
    const json& v = at(j, key, path);
    if (!v.is_string())
      fail(Where{file, 0, path + key}, fmt::format("expected a string, got {}", v.dump()));
    return v.get<std::string>();
  }
  const json& array(const json& j, const std::string& key) const {
    const json& v = at(j, key, "");
    if (!v.is_array()) fail(Where{file, 0, key}, "expected an array");
    return v;
  }
};

// Keys that never split groups: the seed (what a group aggregates over) and the keys that decide
// the dataset, the calibration mode and the targets (columns of their own).
bool is_grouping_key(const std::string& key) {
  static const std::set<std::string> kOwnColumns = {
      "seed", "calibration.target", "dataset", "experiment", "calibration", "calibration.mode"};
  return kOwnColumns.count(key) == 0;
}

// The run's overrides (overrides.yaml, else metrics.json "overrides") as key → value.
std::map<std::string, std::string> read_overrides(const fs::path& run_dir, const json& metrics) {
  const fs::path file = run_dir / "overrides.yaml";
  std::vector<std::string> list;
  if (fs::exists(file)) {
    YAML::Node node;
    try {
      node = YAML::LoadFile(file.string());
    } catch (const YAML::Exception& e) {
      fail(Where{file.string(), static_cast<std::size_t>(e.mark.line + 1), ""},
           fmt::format("not valid YAML: {}", e.msg));
    }
    if (!node.IsNull() && !node.IsSequence())
      fail(Where{file.string(), 0, ""}, "expected a list of override strings");
    for (const YAML::Node& item : node) {
      if (!item.IsScalar())
        fail(Where{file.string(), static_cast<std::size_t>(item.Mark().line + 1), ""},
             "expected a list of override strings");
      list.push_back(item.as<std::string>());
    }
  } else if (metrics.contains("overrides") && metrics["overrides"].is_array()) {
    for (const json& item : metrics["overrides"])
      if (item.is_string()) list.push_back(item.get<std::string>());
  }
  std::map<std::string, std::string> out;
  for (const std::string& o : list) {
    const std::size_t eq = o.find('=');
    std::string key = o.substr(0, eq);
    key.erase(0, key.find_first_not_of("+~"));
    if (is_grouping_key(key)) out[key] = eq == std::string::npos ? "" : o.substr(eq + 1);
  }
  return out;
}

Run read_run(const fs::path& run_dir) {
  const fs::path file = run_dir / "metrics.json";
  const JsonIn in{file.string()};
  json m;
  try {
    m = json::parse(read_file(file));
  } catch (const json::parse_error& e) {
    fail(Where{file.string(), 0, ""}, fmt::format("not valid JSON: {}", e.what()));
  }
  if (!m.is_object()) fail(Where{file.string(), 0, ""}, "expected a JSON object");
  Run run;
  run.dataset = in.text(m, "dataset");
  const json& calibration = in.at(m, "calibration", "");
  run.mode = in.text(calibration, "mode", "calibration.");
  // The window guarantee is another promise: its runs are a mode of their own.
  if (calibration.contains("window_spec") && calibration["window_spec"].is_string() &&
      calibration["window_spec"] != "none" && run.mode == "guaranteed")
    run.mode += " (window " + calibration["window_spec"].get<std::string>() + ")";
  run.delta = in.number(calibration, "delta", "calibration.");
  const json& targets = in.array(m, "targets");
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const std::string path = fmt::format("targets[{}].", i);
    const json& t = targets[i];
    TargetResult r;
    r.target = in.number(t, "target", path);
    const json& selected = in.at(t, "selected", path);
    const json& deployed = in.at(t, "deployed", path);
    if (!deployed.is_boolean()) fail(Where{file.string(), 0, path + "deployed"}, "expected a bool");
    r.selection = "teacher only";
    if (!selected.is_null() && deployed.get<bool>())
      r.selection = in.text(selected, "family", path + "selected.") + "/" +
                    in.text(selected, "model", path + "selected.");
    const json& test = in.at(t, "test", path);
    r.coverage = in.number(test, "coverage", path + "test.");
    r.agreement = in.number(test, "teacher_agreement", path + "test.", true);
    r.macro_f1 = in.number(test, "e2e_macro_f1", path + "test.", true);
    if (test.contains("oracle_coverage"))
      r.oracle_coverage = in.number(test, "oracle_coverage", path + "test.", true);
    if (test.contains("efficiency"))
      r.efficiency = in.number(test, "efficiency", path + "test.", true);
    run.targets.push_back(r);
  }
  const json& zoo = in.array(m, "zoo");
  for (std::size_t i = 0; i < zoo.size(); ++i) {
    const std::string path = fmt::format("zoo[{}].", i);
    run.fit_seconds.emplace_back(in.text(zoo[i], "model", path),
                                 in.number(zoo[i], "fit_seconds", path, true));
  }
  run.overrides = read_overrides(run_dir, m);
  run.candidates = read_frontier(run_dir / "frontier.csv");
  return run;
}

}  // namespace

Sweep read_sweep(const fs::path& dir) {
  const fs::path runs_dir = dir / "runs";
  DB_CHECK(fs::is_directory(runs_dir),
           "{}: not a sweep folder: it has no runs/ folder (expected the output of "
           "deferbench run -m ...)",
           dir.string());
  std::vector<std::pair<unsigned long, fs::path>> numbered;  // runs/<n>, not temporaries
  for (const fs::directory_entry& e : fs::directory_iterator(runs_dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && !name.empty() && name.size() < 10 &&
        std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }))
      numbered.emplace_back(std::stoul(name), e.path());
  }
  std::sort(numbered.begin(), numbered.end());
  Sweep s;
  s.dir = dir;
  for (const auto& [n, path] : numbered) {
    if (fs::exists(path / "metrics.json"))
      s.runs.push_back(read_run(path));
    else
      ++s.skipped;
  }
  DB_CHECK(!s.runs.empty(),
           "{}: no finished run: none of the {} folders in runs/ has a metrics.json", dir.string(),
           numbered.size());
  // Keys whose value differs between runs (absent = the config's default) split groups.
  std::set<std::string> keys;
  for (const Run& r : s.runs)
    for (const auto& kv : r.overrides) keys.insert(kv.first);
  for (const std::string& key : keys) {
    std::set<std::string> values;
    for (const Run& r : s.runs) {
      const auto it = r.overrides.find(key);
      values.insert(it == r.overrides.end() ? "(default)" : it->second);
    }
    if (values.size() > 1) s.setting_keys.push_back(key);
  }
  std::set<double> target_set;
  std::set<std::string> family_set;
  for (Run& r : s.runs) {
    for (const std::string& key : s.setting_keys) {
      const auto it = r.overrides.find(key);
      r.setting.push_back(it == r.overrides.end() ? "(default)" : it->second);
    }
    for (const TargetResult& t : r.targets) target_set.insert(t.target);
    for (const Candidate& c : r.candidates) family_set.insert(c.family);
  }
  s.targets.assign(target_set.begin(), target_set.end());
  s.families.assign(family_set.begin(), family_set.end());
  return s;
}

}  // namespace deferbench::report
