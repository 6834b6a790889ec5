// `deferbench report DIR`. Reading (runs/<n>/metrics.json, frontier.csv, overrides.yaml) →
// aggregation per group of runs that differ only in their seed → three tables, each built once as
// (columns, rows of cells) and rendered as Markdown, LaTeX and CSV → plot data, gnuplot scripts
// and, when gnuplot is on PATH, PNG and SVG images.
#include "experiments/report.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <tuple>
#include <utility>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "core/stats/binomial.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"

namespace deferbench {

// ---- statistics ----

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The regularized incomplete beta function I_x(a, b), by the continued fraction of Numerical
// Recipes §6.4 (modified Lentz), on the side of (a + 1)/(a + b + 2) where it converges fast.
double incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const bool flip = x > (a + 1) / (a + b + 2);
  if (flip) {
    std::swap(a, b);
    x = 1 - x;
  }
  const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) +
                                a * std::log(x) + b * std::log1p(-x)) /
                       a;
  constexpr double kTiny = 1e-300;
  auto guard = [](double v) { return std::fabs(v) < kTiny ? kTiny : v; };
  double c = 1, d = 1 / guard(1 - (a + b) * x / (a + 1)), h = d;
  for (int m = 1; m <= 1000; ++m) {
    const double even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
    d = 1 / guard(1 + even * d);
    c = guard(1 + even / c);
    h *= d * c;
    const double odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
    d = 1 / guard(1 + odd * d);
    c = guard(1 + odd / c);
    h *= d * c;
    if (std::fabs(d * c - 1) < 1e-16) break;
  }
  return flip ? 1 - front * h : front * h;
}

}  // namespace

double student_t_cdf(double t, double df) {
  DB_CHECK(df > 0, "student_t_cdf: degrees of freedom must be > 0, got {}", df);
  if (std::isnan(t)) return kNaN;
  const double tail = 0.5 * incomplete_beta(df / 2, 0.5, df / (df + t * t));  // P(T > |t|)
  return t > 0 ? 1 - tail : tail;
}

double student_t_quantile(double p, double df) {
  DB_CHECK(p > 0 && p < 1, "student_t_quantile: p must be in (0, 1), got {}", p);
  DB_CHECK(df > 0, "student_t_quantile: degrees of freedom must be > 0, got {}", df);
  if (p == 0.5) return 0;
  // P(|T| > t) = I_x(df/2, 1/2) with x = df/(df + t²), increasing in x: bisect on x to full
  // precision, then t = sqrt(df (1 − x)/x).
  const double two_tail = 2 * std::min(p, 1 - p);
  double lo = 0, hi = 1;
  for (;;) {
    const double mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    (incomplete_beta(df / 2, 0.5, mid) < two_tail ? lo : hi) = mid;
  }
  const double x = 0.5 * (lo + hi);
  const double t = std::sqrt(df * (1 - x) / x);
  return p > 0.5 ? t : -t;
}

MeanCI mean_ci(const std::vector<double>& values) {
  MeanCI r;
  r.n = values.size();
  r.mean = r.sd = r.ci_low = r.ci_high = kNaN;
  if (r.n == 0) return r;
  double sum = 0;
  for (double v : values) sum += v;
  r.mean = sum / static_cast<double>(r.n);
  if (r.n == 1) return r;
  double ss = 0;
  for (double v : values) ss += (v - r.mean) * (v - r.mean);
  r.sd = std::sqrt(ss / static_cast<double>(r.n - 1));
  const double half = student_t_quantile(0.975, static_cast<double>(r.n - 1)) * r.sd /
                      std::sqrt(static_cast<double>(r.n));
  r.ci_low = r.mean - half;
  r.ci_high = r.mean + half;
  return r;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<double> defined(const std::vector<double>& values) {
  std::vector<double> out;
  for (double v : values)
    if (!std::isnan(v)) out.push_back(v);
  return out;
}

bool same_target(double a, double b) {
  return std::fabs(a - b) < 1e-9;
}

// ---- reading a sweep ----

struct Candidate {  // one frontier.csv row
  double target = kNaN;
  std::string family, model;
  double val_coverage = kNaN;
  bool val_feasible = false, on_frontier = false;
  double test_coverage = kNaN, test_agreement = kNaN;
};

struct TargetResult {  // metrics.json targets[i]
  double target = kNaN;
  std::string selection;  // "family/model"; "teacher only" when nothing is selected or deployed
  double coverage = kNaN, agreement = kNaN, macro_f1 = kNaN;  // test; agreement NaN: none handled
};

struct Run {
  std::string dataset, mode;
  double delta = kNaN;
  std::map<std::string, std::string> overrides;  // key → value, grouping keys only
  std::vector<std::string> setting;              // this run's values of Sweep::setting_keys
  std::vector<TargetResult> targets;
  std::vector<std::pair<std::string, double>> fit_seconds;  // zoo: model label, seconds
  std::vector<Candidate> candidates;                        // frontier.csv, in file order
};

struct Sweep {
  fs::path dir;
  std::vector<Run> runs;  // by run number
  std::size_t skipped = 0;
  std::vector<std::string> setting_keys;  // swept keys other than seed, dataset, mode, target
  std::vector<double> targets;            // sorted, distinct
  std::vector<std::string> families;      // sorted, distinct
};

// The records of an RFC 4180 text (quoted fields may hold commas, quotes and newlines), each with
// the line it starts on. Blank lines are left out.
std::vector<std::pair<std::size_t, std::vector<std::string>>> parse_csv(const std::string& text,
                                                                        const fs::path& file) {
  std::vector<std::pair<std::size_t, std::vector<std::string>>> records;
  std::vector<std::string> fields;
  std::string field;
  std::size_t line = 1, start = 1;
  bool quoted = false;
  auto end_record = [&] {
    fields.push_back(std::move(field));
    field.clear();
    if (fields.size() > 1 || !fields[0].empty()) records.emplace_back(start, std::move(fields));
    fields.clear();
    start = line;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        line += c == '\n';
        field += c;
      }
    } else if (c == '"' && field.empty()) {
      quoted = true;
    } else if (c == ',') {
      fields.push_back(std::move(field));
      field.clear();
    } else if (c == '\n') {
      ++line;
      end_record();
    } else if (c != '\r') {
      field += c;
    }
  }
  if (quoted) fail(Where{file.string(), start, ""}, "unterminated quoted field");
  if (!field.empty() || !fields.empty()) end_record();
  return records;
}

std::optional<double> parse_number(const std::string& s) {
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::vector<Candidate> read_frontier(const fs::path& file) {
  const auto records = parse_csv(read_file(file), file);
  if (records.empty()) fail(Where{file.string(), 0, ""}, "empty: expected a header line");
  const std::vector<std::string>& header = records[0].second;
  auto column = [&](const char* name) {
    const auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end())
      fail(Where{file.string(), 1, name},
           fmt::format("missing column (header: {})", fmt::join(header, ",")));
    return static_cast<std::size_t>(it - header.begin());
  };
  const std::size_t target = column("target"), family = column("family"), model = column("model"),
                    val_coverage = column("val_coverage"), val_feasible = column("val_feasible"),
                    on_frontier = column("on_frontier"), test_coverage = column("test_coverage"),
                    test_agreement = column("test_agreement");
  std::vector<Candidate> out;
  for (std::size_t r = 1; r < records.size(); ++r) {
    const std::size_t line = records[r].first;
    const std::vector<std::string>& fields = records[r].second;
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

// ---- aggregation ----

// Runs that differ only in their seed, at one target.
using GroupKey = std::tuple<std::string, std::string, std::vector<std::string>, double>;
//                          dataset      mode         setting                   target

struct TargetStats {
  std::size_t runs = 0;
  std::size_t defined = 0;     // runs that handled something (agreement defined)
  std::size_t violations = 0;  // of those, test agreement < target
  std::string selection;       // the most frequent selection (ties: the first in sort order)
  std::size_t selection_count = 0;
  MeanCI coverage, agreement, macro_f1;
  double delta = kNaN;  // the first run's
};

std::map<GroupKey, TargetStats> target_stats(const Sweep& s) {
  std::map<GroupKey, std::vector<std::pair<const Run*, const TargetResult*>>> groups;
  for (const Run& r : s.runs)
    for (const TargetResult& t : r.targets)
      groups[{r.dataset, r.mode, r.setting, t.target}].emplace_back(&r, &t);
  std::map<GroupKey, TargetStats> out;
  for (const auto& [key, members] : groups) {
    TargetStats st;
    std::vector<double> coverage, agreement, f1;
    std::map<std::string, std::size_t> selections;
    for (const auto& [run, t] : members) {
      ++st.runs;
      ++selections[t->selection];
      coverage.push_back(t->coverage);
      agreement.push_back(t->agreement);
      f1.push_back(t->macro_f1);
      if (!std::isnan(t->agreement)) {
        ++st.defined;
        st.violations += t->agreement < t->target;
      }
    }
    for (const auto& [sel, count] : selections)
      if (count > st.selection_count) {
        st.selection = sel;
        st.selection_count = count;
      }
    st.coverage = mean_ci(defined(coverage));
    st.agreement = mean_ci(defined(agreement));
    st.macro_f1 = mean_ci(defined(f1));
    st.delta = members.front().first->delta;
    out[key] = st;
  }
  return out;
}

// A family's own choice in one run at a target: among its val-feasible candidates the one with
// the highest val coverage (ties: the first row); its test coverage, 0 (teacher only) when none is
// feasible, NaN when the run has no candidate of the family.
double family_coverage(const Run& r, const std::string& family, double target) {
  const Candidate* best = nullptr;
  bool any = false;
  for (const Candidate& c : r.candidates) {
    if (c.family != family || c.target != target) continue;
    any = true;
    if (c.val_feasible && (!best || c.val_coverage > best->val_coverage)) best = &c;
  }
  return best ? best->test_coverage : any ? 0.0 : kNaN;
}

// Table 2's target: the requested one, else 0.9 when the sweep has it, else the (lower) median.
double choose_zoo_target(const Sweep& s, double requested) {
  DB_CHECK(!s.targets.empty(), "{}: no run has a target in its metrics.json (\"targets\": [])",
           s.dir.string());
  std::vector<std::string> listed;
  for (double t : s.targets) listed.push_back(fmt::format("{}", t));
  if (requested >= 0) {
    for (double t : s.targets)
      if (same_target(t, requested)) return t;
    DB_THROW("{}: zoo target {} is not among the sweep's targets ({})", s.dir.string(), requested,
             fmt::format("{}", fmt::join(listed, ", ")));
  }
  for (double t : s.targets)
    if (same_target(t, 0.9)) return t;
  return s.targets[(s.targets.size() - 1) / 2];
}

// ---- tables: built once as columns and cells, rendered three ways ----

struct Column {
  std::string title;
  std::vector<std::string> csv;  // the CSV columns it expands to
  bool numeric = true;
};

struct Cell {
  std::string text;              // Markdown / LaTeX
  std::string pm;                // "± pm" after the text when not empty
  std::vector<std::string> csv;  // one value per CSV column
};

struct Table {
  std::string name, title, note;
  std::vector<Column> columns;
  std::vector<std::vector<Cell>> rows;
};

std::string fixed3(double x) {
  return std::isnan(x) ? "–" : fmt::format("{:.3f}", x);
}
std::string csv_number(double x) {
  return std::isnan(x) ? "" : fmt::format("{}", x);
}

Column text_column(const std::string& title, const std::string& csv) {
  return {title, {csv}, false};
}
Column ci_column(const std::string& title, const std::string& p) {
  return {title, {p + "_n", p + "_mean", p + "_sd", p + "_ci_low", p + "_ci_high"}};
}
Cell text_cell(const std::string& s) {
  return {s, "", {s}};
}
Cell count_cell(std::size_t k) {
  return {std::to_string(k), "", {std::to_string(k)}};
}
Cell number_cell(double x) {
  return {fixed3(x), "", {csv_number(x)}};
}
Cell ci_cell(const MeanCI& m) {
  return {fixed3(m.mean),
          std::isnan(m.ci_high) ? "" : fixed3(m.ci_high - m.mean),
          {std::to_string(m.n), csv_number(m.mean), csv_number(m.sd), csv_number(m.ci_low),
           csv_number(m.ci_high)}};
}

// The leading columns naming a group: dataset, [mode], the sweep's other keys, [target].
std::vector<Column> key_columns(const Sweep& s, bool mode, bool target) {
  std::vector<Column> cols = {text_column("dataset", "dataset")};
  if (mode) cols.push_back(text_column("mode", "mode"));
  for (const std::string& k : s.setting_keys) cols.push_back(text_column(k, k));
  if (target) cols.push_back({"target", {"target"}});
  return cols;
}
std::vector<Cell> key_cells(const std::string& dataset, const std::string* mode,
                            const std::vector<std::string>& setting, const double* target) {
  std::vector<Cell> cells = {text_cell(dataset)};
  if (mode) cells.push_back(text_cell(*mode));
  for (const std::string& v : setting) cells.push_back(text_cell(v));
  if (target) cells.push_back({fmt::format("{}", *target), "", {csv_number(*target)}});
  return cells;
}

std::string markdown(const Table& t) {
  auto row = [](const std::vector<std::string>& cells) {
    return "| " + fmt::format("{}", fmt::join(cells, " | ")) + " |\n";
  };
  std::vector<std::string> head, rule;
  for (const Column& c : t.columns) {
    head.push_back(c.title);
    rule.push_back(c.numeric ? "---:" : "---");
  }
  std::string out = "## " + t.title + "\n\n" + row(head) + row(rule);
  for (const std::vector<Cell>& r : t.rows) {
    std::vector<std::string> cells;
    for (const Cell& c : r) {
      std::string s = c.text + (c.pm.empty() ? "" : " ± " + c.pm), escaped;
      for (char ch : s) escaped += ch == '|' ? std::string("\\|") : std::string(1, ch);
      cells.push_back(escaped);
    }
    out += row(cells);
  }
  return out + (t.note.empty() ? "" : "\n" + t.note + "\n");
}

std::string tex_escape(const std::string& s) {
  static const std::map<std::string, std::string> kSpecial = {{"\\", "\\textbackslash{}"},
                                                              {"&", "\\&"},
                                                              {"%", "\\%"},
                                                              {"$", "\\$"},
                                                              {"#", "\\#"},
                                                              {"_", "\\_"},
                                                              {"{", "\\{"},
                                                              {"}", "\\}"},
                                                              {"~", "\\textasciitilde{}"},
                                                              {"^", "\\textasciicircum{}"},
                                                              {"–", "--"},
                                                              {"±", "$\\pm$"},
                                                              {"δ", "$\\delta$"},
                                                              {"<", "\\textless{}"},
                                                              {">", "\\textgreater{}"},
                                                              {"|", "\\textbar{}"}};
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    bool replaced = false;
    for (const auto& [from, to] : kSpecial)
      if (s.compare(i, from.size(), from) == 0) {
        out += to;
        i += from.size();
        replaced = true;
        break;
      }
    if (!replaced) out += s[i++];
  }
  return out;
}

std::string latex(const Table& t) {
  std::string align, out;
  std::vector<std::string> head;
  for (const Column& c : t.columns) {
    align += c.numeric ? 'r' : 'l';
    head.push_back(tex_escape(c.title));
  }
  out = "% " + t.name + ": written by deferbench report (needs \\usepackage{booktabs})\n" +
        "\\begin{table}[htbp]\n\\centering\n\\caption{" + tex_escape(t.title) +
        "}\n\\label{tab:" + t.name + "}\n\\begin{tabular}{" + align + "}\n\\toprule\n" +
        fmt::format("{}", fmt::join(head, " & ")) + " \\\\\n\\midrule\n";
  for (const std::vector<Cell>& r : t.rows) {
    std::vector<std::string> cells;
    for (const Cell& c : r)
      cells.push_back(tex_escape(c.text) + (c.pm.empty() ? "" : " $\\pm$ " + c.pm));
    out += fmt::format("{}", fmt::join(cells, " & ")) + " \\\\\n";
  }
  return out + "\\bottomrule\n\\end{tabular}\n\\end{table}\n";
}

std::string csv(const Table& t) {
  std::vector<std::string> head;
  for (const Column& c : t.columns)
    for (const std::string& name : c.csv) head.push_back(csv_field(name));
  std::string out = fmt::format("{}", fmt::join(head, ",")) + "\n";
  for (const std::vector<Cell>& r : t.rows) {
    std::vector<std::string> values;
    for (const Cell& c : r)
      for (const std::string& v : c.csv) values.push_back(csv_field(v));
    out += fmt::format("{}", fmt::join(values, ",")) + "\n";
  }
  return out;
}

Table selection_table(const Sweep& s, const std::map<GroupKey, TargetStats>& stats) {
  Table t;
  t.name = "table1_selection";
  t.title =
      "Deployed policy per dataset, calibration mode and target (test; mean ± 95% CI over seeds)";
  t.note =
      "selected: the most frequent deployed family/model over seeds (teacher only: nothing "
      "selected, or its calibration on cal failed). agreement: over the runs that handled "
      "something; none handled: runs that sent everything to the teacher. violations: runs with "
      "test agreement < target / runs.";
  t.columns = key_columns(s, true, true);
  t.columns.insert(t.columns.end(), {{"runs", {"runs"}},
                                     {"selected", {"selected", "selected_runs"}, false},
                                     ci_column("coverage", "coverage"),
                                     ci_column("agreement", "agreement"),
                                     {"none handled", {"none_handled"}},
                                     ci_column("macro-F1", "e2e_macro_f1"),
                                     {"violations", {"violations"}}});
  for (const auto& [key, st] : stats) {
    const auto& [dataset, mode, setting, target] = key;
    std::vector<Cell> row = key_cells(dataset, &mode, setting, &target);
    row.insert(
        row.end(),
        {count_cell(st.runs),
         {fmt::format("{} ({}/{})", st.selection, st.selection_count, st.runs),
          "",
          {st.selection, std::to_string(st.selection_count)}},
         ci_cell(st.coverage),
         ci_cell(st.agreement),
         count_cell(st.runs - st.defined),
         ci_cell(st.macro_f1),
         {fmt::format("{}/{}", st.violations, st.runs), "", {std::to_string(st.violations)}}});
    t.rows.push_back(std::move(row));
  }
  return t;
}

Table zoo_table(const Sweep& s, double target) {
  using Key = std::tuple<std::string, std::string, std::vector<std::string>, std::string>;
  struct Values {
    std::size_t runs = 0;
    std::vector<double> l2d_cov, l2d_agr, rsb_cov, rsb_agr, fit;
  };
  std::map<Key, Values> groups;
  for (const Run& r : s.runs) {
    if (std::none_of(r.targets.begin(), r.targets.end(),
                     [&](const TargetResult& t) { return t.target == target; }))
      continue;
    std::set<std::string> models;
    for (const auto& [model, seconds] : r.fit_seconds) {
      groups[{r.dataset, r.mode, r.setting, model}].fit.push_back(seconds);
      models.insert(model);
    }
    for (const Candidate& c : r.candidates) {
      if (c.target != target || (c.family != "l2d" && c.family != "rsb")) continue;
      Values& v = groups[{r.dataset, r.mode, r.setting, c.model}];
      (c.family == "l2d" ? v.l2d_cov : v.rsb_cov).push_back(c.test_coverage);
      (c.family == "l2d" ? v.l2d_agr : v.rsb_agr).push_back(c.test_agreement);
      models.insert(c.model);
    }
    for (const std::string& m : models) ++groups[{r.dataset, r.mode, r.setting, m}].runs;
  }
  Table t;
  t.name = "table2_zoo";
  t.title = fmt::format(
      "Surrogate zoo at target {}: L2D and RSB per model (test; mean ± 95% CI over seeds)", target);
  t.note =
      "Each candidate is calibrated on cal with the run's mode and evaluated on test; agreement "
      "over the runs where it handled something. fit s: mean fit seconds.";
  t.columns = key_columns(s, true, false);
  t.columns.insert(t.columns.end(), {text_column("model", "model"),
                                     {"runs", {"runs"}},
                                     ci_column("L2D coverage", "l2d_coverage"),
                                     ci_column("L2D agreement", "l2d_agreement"),
                                     ci_column("RSB coverage", "rsb_coverage"),
                                     ci_column("RSB agreement", "rsb_agreement"),
                                     {"fit s", {"fit_seconds_mean"}}});
  for (const auto& [key, v] : groups) {
    const auto& [dataset, mode, setting, model] = key;
    std::vector<Cell> row = key_cells(dataset, &mode, setting, nullptr);
    row.insert(row.end(),
               {text_cell(model), count_cell(v.runs), ci_cell(mean_ci(defined(v.l2d_cov))),
                ci_cell(mean_ci(defined(v.l2d_agr))), ci_cell(mean_ci(defined(v.rsb_cov))),
                ci_cell(mean_ci(defined(v.rsb_agr))), number_cell(mean_ci(defined(v.fit)).mean)});
    t.rows.push_back(std::move(row));
  }
  return t;
}

// The violation rate k/n with its two-sided 95% Clopper–Pearson interval (NaN for n = 0).
std::tuple<double, double, double> violation_rate(std::size_t k, std::size_t n) {
  if (n == 0) return {kNaN, kNaN, kNaN};
  return {static_cast<double>(k) / static_cast<double>(n), clopper_pearson_lower(k, n, 0.025),
          clopper_pearson_upper(k, n, 0.025)};
}

Table modes_table(const Sweep& s, const std::map<GroupKey, TargetStats>& stats) {
  // Rows by dataset, setting, target, then mode: the modes of one target sit together.
  std::vector<std::pair<GroupKey, const TargetStats*>> order;
  for (const auto& [key, st] : stats) order.emplace_back(key, &st);
  auto sort_key = [](const GroupKey& k) {
    return std::tie(std::get<0>(k), std::get<2>(k), std::get<3>(k), std::get<1>(k));
  };
  std::sort(order.begin(), order.end(),
            [&](const auto& a, const auto& b) { return sort_key(a.first) < sort_key(b.first); });
  Table t;
  t.name = "table3_modes";
  t.title =
      "Guarantee violations per calibration mode (test agreement < target; rate with a 95% "
      "Clopper–Pearson interval) and coverage (mean ± 95% CI over seeds)";
  t.note =
      "handled: runs that handled something (agreement defined); rate = violations / handled. "
      "A guaranteed mode should keep the rate at or below delta.";
  t.columns = key_columns(s, false, true);
  t.columns.insert(t.columns.end(),
                   {text_column("mode", "mode"),
                    {"delta", {"delta"}},
                    {"runs", {"runs"}},
                    {"handled", {"handled_runs"}},
                    {"violations", {"violations"}},
                    {"violation rate [95% CI]",
                     {"violation_rate", "violation_rate_ci_low", "violation_rate_ci_high"}},
                    ci_column("coverage", "coverage")});
  for (const auto& [key, st] : order) {
    const auto& [dataset, mode, setting, target] = key;
    const auto [rate, lo, hi] = violation_rate(st->violations, st->defined);
    std::vector<Cell> row = key_cells(dataset, nullptr, setting, &target);
    row.insert(
        row.end(),
        {text_cell(mode),
         number_cell(st->delta),
         count_cell(st->runs),
         count_cell(st->defined),
         count_cell(st->violations),
         {std::isnan(rate) ? "–" : fmt::format("{} [{}, {}]", fixed3(rate), fixed3(lo), fixed3(hi)),
          "",
          {csv_number(rate), csv_number(lo), csv_number(hi)}},
         ci_cell(st->coverage)});
    t.rows.push_back(std::move(row));
  }
  return t;
}

// ---- plots: data files, gnuplot scripts, rendering ----

std::string dat_number(double x) {
  return std::isnan(x) ? "NaN" : fmt::format("{}", x);
}
std::string dat_triple(double a, double b, double c) {
  return " " + dat_number(a) + " " + dat_number(b) + " " + dat_number(c);
}

std::string slug(const std::string& s) {
  std::string out;
  for (char c : s)
    out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ? c : '_';
  return out;
}

std::string gp_string(const std::string& s) {  // a single-quoted gnuplot string
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// One plot of one dataset: NAME.dat (one block per panel, gnuplot's `index`) and NAME.gp, which
// draws the panels side by side into NAME.png and NAME.svg.
struct Plot {
  std::string name, data, setup;
  std::vector<std::string> panels;

  Plot(std::string prefix, const std::string& dataset, std::string header, std::string setup_)
      : name(std::move(prefix) + slug(dataset)),
        data(std::move(header)),
        setup(std::move(setup_)) {}

  // `series`: plot clauses in which {dat} is the data file and {i} the panel's block index.
  void add_panel(const std::string& title, const std::string& rows,
                 const std::vector<std::string>& series) {
    const std::size_t i = panels.size();
    data += (i ? "\n\n# " : "# ") + title + "\n" + rows;
    std::vector<std::string> clauses;
    for (const std::string& s : series)
      clauses.push_back(fmt::format(fmt::runtime(s), fmt::arg("dat", gp_string(name + ".dat")),
                                    fmt::arg("i", i)));
    panels.push_back("  set title " + gp_string(title) + "\n  plot " +
                     fmt::format("{}", fmt::join(clauses, ", \\\n       ")) + "\n");
  }

  std::string script() const {
    const std::string size =
        fmt::format("{},{}", std::max<std::size_t>(640, 520 * panels.size()), 440);
    return fmt::format(
               "# {0}.gp: written by deferbench report; `gnuplot {0}.gp` in this folder reads "
               "{0}.dat\n# and writes {0}.png and {0}.svg.\n"
               "do for [out = 1:2] {{\n"
               "  if (out == 1) {{\n"
               "    if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {{\n"
               "      set terminal pngcairo size {1}\n"
               "    }} else {{\n"
               "      set terminal png size {1}\n"
               "    }}\n"
               "    set output '{0}.png'\n"
               "  }} else {{\n"
               "    set terminal svg size {1}\n"
               "    set output '{0}.svg'\n"
               "  }}\n"
               "  set termoption noenhanced\n"
               "  set key below\n"
               "  set offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05\n"
               "  set grid\n",
               name, size) +
           setup + fmt::format("  set multiplot layout 1,{}\n", panels.size()) +
           fmt::format("{}", fmt::join(panels, "")) + "  unset multiplot\n  set output\n}\n";
  }
};

// Panels of one dataset: a calibration mode (or none) and a setting of the other swept keys.
using Panel = std::pair<std::string, std::vector<std::string>>;

std::string panel_title(const Sweep& s, const std::string& dataset, const Panel& panel) {
  std::vector<std::string> parts;
  if (!panel.first.empty()) parts.push_back("mode=" + panel.first);
  for (std::size_t i = 0; i < panel.second.size(); ++i)
    parts.push_back(s.setting_keys[i] + "=" + panel.second[i]);
  return dataset + ": " + (parts.empty() ? "all runs" : fmt::format("{}", fmt::join(parts, " ")));
}

// Per dataset and panel, the targets of its runs.
std::map<std::string, std::map<Panel, std::set<double>>> panels_of(const Sweep& s, bool by_mode) {
  std::map<std::string, std::map<Panel, std::set<double>>> out;
  for (const Run& r : s.runs)
    for (const TargetResult& t : r.targets)
      out[r.dataset][{by_mode ? r.mode : "", r.setting}].insert(t.target);
  return out;
}

std::vector<Plot> coverage_plots(const Sweep& s, const std::map<GroupKey, TargetStats>& stats) {
  std::vector<Plot> plots;
  for (const auto& [dataset, panels] : panels_of(s, true)) {
    std::string header = "# target";
    for (const std::string& f : s.families)
      header += fmt::format(" {0}_mean {0}_ci_low {0}_ci_high", f);
    header += fmt::format(
        " selected_mean selected_ci_low selected_ci_high\n# {}: mean test coverage over seeds "
        "with 95% CI; a family: its own val-feasible candidate of highest val coverage (0: none, "
        "teacher only); selected: the deployed policy\n",
        dataset);
    Plot& p = plots.emplace_back(
        "coverage_vs_target_", dataset, header,
        "  set xlabel 'target'\n  set ylabel 'test coverage'\n  set yrange [0:1]\n"
        "  set style fill transparent solid 0.15 noborder\n");
    for (const auto& [panel, targets] : panels) {
      const auto& [mode, setting] = panel;
      std::string rows;
      for (double target : targets) {
        rows += dat_number(target);
        for (const std::string& f : s.families) {
          std::vector<double> values;
          for (const Run& r : s.runs)
            if (r.dataset == dataset && r.mode == mode && r.setting == setting)
              values.push_back(family_coverage(r, f, target));
          const MeanCI m = mean_ci(defined(values));
          rows += dat_triple(m.mean, m.ci_low, m.ci_high);
        }
        const MeanCI& sel = stats.at({dataset, mode, setting, target}).coverage;
        rows += dat_triple(sel.mean, sel.ci_low, sel.ci_high) + "\n";
      }
      std::vector<std::string> series;
      for (std::size_t j = 0; j <= s.families.size(); ++j)
        series.push_back(fmt::format(
            "{{dat}} index {{i}} using 1:{1}:{2} with filledcurves lc {3} notitle, {{dat}} index "
            "{{i}} using 1:{0} with linespoints lc {3} pt 7 lw 2 title {4}",
            2 + 3 * j, 3 + 3 * j, 4 + 3 * j, j + 1,
            gp_string(j < s.families.size() ? s.families[j] : "selected")));
      p.add_panel(panel_title(s, dataset, panel), rows, series);
    }
  }
  return plots;
}

std::vector<Plot> pareto_plots(const Sweep& s, double target) {
  std::map<std::string, std::map<Panel, std::string>> datasets;  // → the panel's rows
  for (std::size_t n = 0; n < s.runs.size(); ++n) {
    const Run& r = s.runs[n];
    for (const Candidate& c : r.candidates) {
      if (c.target != target || std::isnan(c.test_coverage) || std::isnan(c.test_agreement))
        continue;
      std::string label = c.family + "/" + c.model;  // a quoted string for gnuplot
      std::replace(label.begin(), label.end(), '"', '\'');
      datasets[r.dataset][{r.mode, r.setting}] +=
          fmt::format("{} {} {} {} \"{}\"\n", dat_number(c.test_coverage),
                      dat_number(c.test_agreement), c.on_frontier ? 1 : 0, n, label);
    }
  }
  std::vector<Plot> plots;
  for (const auto& [dataset, panels] : datasets) {
    Plot& p = plots.emplace_back(
        "pareto_", dataset,
        fmt::format("# test_coverage test_agreement on_frontier run candidate\n# {}: every "
                    "candidate at target {} (calibrated on cal, evaluated on test), pooled over "
                    "runs; on_frontier: the val Pareto frontier\n",
                    dataset, target),
        "  set xlabel 'test coverage'\n  set ylabel 'test agreement'\n");
    for (const auto& [panel, rows] : panels)
      p.add_panel(panel_title(s, dataset, panel), rows,
                  {"{dat} index {i} using 1:($3 == 0 ? $2 : 1/0) with points pt 6 lc rgb "
                   "'gray50' title 'candidates'",
                   "{dat} index {i} using 1:($3 == 1 ? $2 : 1/0) with points pt 7 lc rgb 'red' "
                   "title 'frontier'",
                   fmt::format("{0} with lines dt 2 lc rgb 'black' title 'target {0}'",
                               dat_number(target))});
  }
  return plots;
}

std::vector<Plot> violation_plots(const Sweep& s, const std::map<GroupKey, TargetStats>& stats) {
  std::set<std::string> mode_set;
  for (const Run& r : s.runs) mode_set.insert(r.mode);
  const std::vector<std::string> modes(mode_set.begin(), mode_set.end());
  // The modes' points side by side around each target: 10% of the closest targets' gap apart.
  double gap = 0.05;
  for (std::size_t i = 1; i < s.targets.size(); ++i)
    gap = std::min(gap, s.targets[i] - s.targets[i - 1]);
  std::vector<Plot> plots;
  for (const auto& [dataset, panels] : panels_of(s, false)) {
    std::string header = "# target";
    for (const std::string& m : modes) header += fmt::format(" {0}_rate {0}_ci_low {0}_ci_high", m);
    header += fmt::format(
        "\n# {}: share of runs (that handled something) with test agreement < target, with 95% "
        "Clopper–Pearson intervals\n",
        dataset);
    Plot& p = plots.emplace_back("violations_", dataset, header,
                                 "  set xlabel 'target'\n  set ylabel 'violation rate'\n"
                                 "  set yrange [0:1]\n");
    for (const auto& [panel, targets] : panels) {
      std::string rows;
      double delta = kNaN;
      for (double target : targets) {
        rows += dat_number(target);
        for (const std::string& m : modes) {
          const auto it = stats.find({dataset, m, panel.second, target});
          const auto [rate, lo, hi] =
              it == stats.end() ? std::tuple<double, double, double>{kNaN, kNaN, kNaN}
                                : violation_rate(it->second.violations, it->second.defined);
          if (it != stats.end() && std::isnan(delta)) delta = it->second.delta;
          rows += dat_triple(rate, lo, hi);
        }
        rows += "\n";
      }
      std::vector<std::string> series;
      for (std::size_t j = 0; j < modes.size(); ++j)
        series.push_back(fmt::format(
            "{{dat}} index {{i}} using ($1 + {}):{}:{}:{} with yerrorlines lc {} pt 7 title {}",
            dat_number(0.1 * gap * (static_cast<double>(j) - 0.5 * (modes.size() - 1.0))),
            2 + 3 * j, 3 + 3 * j, 4 + 3 * j, j + 1, gp_string(modes[j])));
      if (!std::isnan(delta))
        series.push_back(fmt::format("{0} with lines dt 2 lc rgb 'black' title 'delta = {0}'",
                                     dat_number(delta)));
      p.add_panel(panel_title(s, dataset, panel), rows, series);
    }
  }
  return plots;
}

// The executable `name` on PATH (or `name` itself when it holds a '/'); empty if none.
fs::path find_executable(const std::string& name) {
  auto runnable = [](const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
  };
  if (name.empty()) return {};
  if (name.find('/') != std::string::npos) return runnable(name) ? fs::absolute(name) : fs::path();
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "";
  while (true) {
    const std::size_t colon = dirs.find(':');
    const std::string dir(dirs.substr(0, colon));
    const fs::path candidate = fs::path(dir.empty() ? "." : dir) / name;
    if (runnable(candidate)) return fs::absolute(candidate);
    if (colon == std::string_view::npos) return {};
    dirs.remove_prefix(colon + 1);
  }
}

// Runs `program script` in `dir` (no shell); "" on success, else a one-line reason.
std::string run_program(const fs::path& program, const fs::path& dir, const std::string& script) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return "cannot create a pipe";
  const std::string prog = program.string(), cwd = dir.string();
  std::vector<char*> argv = {const_cast<char*>(prog.c_str()), const_cast<char*>(script.c_str()),
                             nullptr};
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return "cannot fork";
  }
  if (pid == 0) {  // the child: only async-signal-safe calls
    const int null_in = ::open("/dev/null", O_RDONLY);
    if (null_in >= 0) ::dup2(null_in, STDIN_FILENO);
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    if (::chdir(cwd.c_str()) == 0) ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string output;
  char buffer[4096];
  for (;;) {
    const ssize_t got = ::read(fds[0], buffer, sizeof buffer);
    if (got > 0)
      output.append(buffer, static_cast<std::size_t>(got));
    else if (got == 0 || errno != EINTR)
      break;
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  std::string reason = WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status))
                                         : std::string("killed by a signal");
  // The last line of the output: gnuplot's error message.
  output.erase(output.find_last_not_of("\n\r ") + 1);
  const std::size_t newline = output.rfind('\n');
  if (!output.empty())
    reason += ": " + output.substr(newline == std::string::npos ? 0 : newline + 1);
  return reason;
}

void write_plots(const Sweep& s, const std::map<GroupKey, TargetStats>& stats, double zoo_target,
                 const ReportOptions& options, ReportResult& result) {
  const fs::path dir = s.dir / "plots";
  fs::create_directories(dir);
  std::vector<Plot> plots = coverage_plots(s, stats);
  for (std::vector<Plot> more : {pareto_plots(s, zoo_target), violation_plots(s, stats)})
    for (Plot& p : more) plots.push_back(std::move(p));
  for (const Plot& p : plots) {
    const std::vector<std::pair<std::string, std::string>> files = {{".dat", p.data},
                                                                    {".gp", p.script()}};
    for (const auto& [ext, text] : files) {
      write_file_atomic(dir / (p.name + ext), text);
      result.files.push_back(dir / (p.name + ext));
    }
  }
  const fs::path gnuplot = find_executable(options.gnuplot);
  if (gnuplot.empty()) {
    result.warning = fmt::format(
        "{} not found: install Debian's gnuplot-nox (apt-get install gnuplot-nox) and rerun "
        "deferbench report {}",
        options.gnuplot == "gnuplot" ? "gnuplot" : fmt::format("gnuplot ({})", options.gnuplot),
        s.dir.string());
    return;
  }
  const fs::path cwd = fs::absolute(dir);
  std::vector<std::string> failures;
  bool all = true;
  for (const Plot& p : plots) {
    for (const char* ext : {".png", ".svg"}) fs::remove(dir / (p.name + ext));
    const std::string error = run_program(gnuplot, cwd, p.name + ".gp");
    if (!error.empty()) failures.push_back(p.name + ".gp: " + error);
    for (const char* ext : {".png", ".svg"}) {
      const fs::path image = dir / (p.name + ext);
      std::error_code ec;
      if (fs::is_regular_file(image, ec) && fs::file_size(image, ec) > 0)
        result.files.push_back(image);
      else
        all = false;
    }
  }
  result.rendered = all && failures.empty();
  if (!result.rendered)
    result.warning = fmt::format(
        "gnuplot ({}) did not render every plot in {}: {}", gnuplot.string(), dir.string(),
        failures.empty() ? "images missing" : fmt::format("{}", fmt::join(failures, "; ")));
}

}  // namespace

ReportResult write_report(const std::filesystem::path& sweep_dir, const ReportOptions& options) {
  const Sweep s = read_sweep(sweep_dir);
  ReportResult result;
  result.runs = s.runs.size();
  result.skipped_runs = s.skipped;
  const std::map<GroupKey, TargetStats> stats = target_stats(s);
  const double zoo_target = choose_zoo_target(s, options.zoo_target);
  const fs::path dir = sweep_dir / "tables";
  fs::create_directories(dir);
  for (const Table& t :
       {selection_table(s, stats), zoo_table(s, zoo_target), modes_table(s, stats)}) {
    const std::vector<std::pair<std::string, std::string>> files = {
        {".md", markdown(t)}, {".tex", latex(t)}, {".csv", csv(t)}};
    for (const auto& [ext, text] : files) {
      write_file_atomic(dir / (t.name + ext), text);
      result.files.push_back(dir / (t.name + ext));
    }
  }
  if (options.plots) write_plots(s, stats, zoo_target, options, result);
  return result;
}

}  // namespace deferbench
