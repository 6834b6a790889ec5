// Sweep plans: swept values parsed, config axes added, the Cartesian product expanded.
#include "experiments/sweep.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "core/config/compose.h"
#include "core/util/error.h"

namespace deferbench {
namespace fs = std::filesystem;

ParsedOverride parse_override(const std::string& text) {
  ParsedOverride p;
  std::size_t i = 0;
  while (i < text.size() && (text[i] == '+' || text[i] == '~')) ++i;
  p.prefix = text.substr(0, i);
  const auto eq = text.find('=', i);
  p.key = text.substr(i, eq == std::string::npos ? std::string::npos : eq - i);
  if (eq != std::string::npos) {
    p.has_value = true;
    p.value = text.substr(eq + 1);
  }
  return p;
}

namespace {

// Splits at commas outside brackets, braces, parentheses and quotes.
std::vector<std::string> split_top_level(const std::string& text) {
  std::vector<std::string> parts;
  std::string cur;
  int depth = 0;
  char quote = 0;
  for (char c : text) {
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '[' || c == '{' || c == '(') {
      ++depth;
    } else if (c == ']' || c == '}' || c == ')') {
      --depth;
    } else if (c == ',' && depth == 0) {
      parts.push_back(cur);
      cur.clear();
      continue;
    }
    cur += c;
  }
  parts.push_back(cur);
  for (std::string& p : parts) {
    const auto b = p.find_first_not_of(' ');
    const auto e = p.find_last_not_of(' ');
    p = b == std::string::npos ? std::string() : p.substr(b, e - b + 1);
  }
  return parts;
}

bool is_integer(const std::string& s) {
  if (s.empty()) return false;
  std::size_t i = s[0] == '-' || s[0] == '+' ? 1 : 0;
  return i < s.size() && std::all_of(s.begin() + static_cast<std::ptrdiff_t>(i), s.end(),
                                     [](char c) { return c >= '0' && c <= '9'; });
}

double parse_number(const std::string& s, const std::string& where) {
  try {
    std::size_t used = 0;
    const double v = std::stod(s, &used);
    if (used == s.size()) return v;
  } catch (const std::exception&) {
  }
  DB_THROW("sweep '{}': expected a number, got '{}'", excerpt(where), excerpt(s));
}

// The bounds of range(stop) | range(start, stop) | range(start, stop, step): Python's range,
// stop excluded. `count` is how many values it has (checked: at most kMaxSweepRuns).
struct RangeSpec {
  double start = 0, stop = 0, step = 1, count = 0;
  bool ints = true;  // every bound an integer: integer values
};

RangeSpec parse_range(const std::string& args, const std::string& where) {
  std::vector<std::string> a = split_top_level(args);
  DB_CHECK(a.size() >= 1 && a.size() <= 3, "sweep '{}': range takes 1 to 3 arguments, got {}",
           excerpt(where), a.size());
  if (a.size() == 1) a.insert(a.begin(), "0");
  if (a.size() == 2) a.push_back("1");
  RangeSpec r;
  r.ints = std::all_of(a.begin(), a.end(), is_integer);
  r.start = parse_number(a[0], where);
  r.stop = parse_number(a[1], where);
  r.step = parse_number(a[2], where);
  DB_CHECK(r.step != 0, "sweep '{}': range step must not be 0", excerpt(where));
  r.count = std::ceil((r.stop - r.start) / r.step - 1e-9);
  DB_CHECK(r.count <= static_cast<double>(kMaxSweepRuns),
           "sweep '{}': range has {} values (at most {})", excerpt(where), r.count, kMaxSweepRuns);
  DB_CHECK(r.count >= 1, "sweep '{}': range({}) is empty", excerpt(where), excerpt(args));
  return r;
}

// The values of a range (see parse_range); decimal bounds give decimal values (rounded to 12
// significant digits: 0.8 + 0.05 k).
std::vector<std::string> expand_range(const std::string& args, const std::string& where) {
  const RangeSpec r = parse_range(args, where);
  std::vector<std::string> out;
  for (long k = 0; k < static_cast<long>(r.count); ++k) {
    const double v = r.start + static_cast<double>(k) * r.step;
    out.push_back(r.ints ? fmt::format("{}", static_cast<long long>(std::llround(v)))
                         : fmt::format("{}", std::stod(fmt::format("{:.12g}", v))));
  }
  return out;
}

bool is_range_item(const std::string& item) {
  return item.rfind("range(", 0) == 0 && item.back() == ')';
}
bool is_choice_item(const std::string& item) {
  return item.rfind("choice(", 0) == 0 && item.back() == ')';
}

// A run count for a message: exact while a double holds it exactly, else rounded.
std::string format_count(double n) {
  return n < 1e15 ? fmt::format("{:.0f}", n) : fmt::format("{:.3g}", n);
}

}  // namespace

std::vector<std::string> with_config_axes(const std::vector<std::string>& overrides,
                                          const fs::path& config_dir) {
  std::vector<std::string> first;
  for (const std::string& o : overrides) {
    if (!is_sweep_override(o)) {
      first.push_back(o);
      continue;
    }
    const ParsedOverride p = parse_override(o);
    first.push_back(p.prefix + p.key + "=" + sweep_values(p.value).front());
  }
  const YAML::Node sweep = compose_config(config_dir, first).config["sweep"];
  std::vector<std::string> out = overrides;
  if (!sweep || sweep.IsNull()) return out;
  DB_CHECK(sweep.IsMap(), "config: 'sweep': expected a mapping of key: values, got {}",
           excerpt(to_yaml_text(sweep)));
  for (const auto& kv : sweep) {
    const std::string key = kv.first.as<std::string>();
    const bool given = std::any_of(overrides.begin(), overrides.end(),
                                   [&](const auto& o) { return parse_override(o).key == key; });
    if (given) continue;  // the command line wins
    std::string values;
    if (kv.second.IsSequence()) {
      for (const auto& v : kv.second) {
        DB_CHECK(v.IsScalar(), "config: 'sweep.{}': expected scalar values", excerpt(key));
        values += (values.empty() ? "" : ",") + v.Scalar();
      }
    } else {
      DB_CHECK(kv.second.IsScalar(), "config: 'sweep.{}': expected a value list such as a,b,c",
               excerpt(key));
      values = kv.second.Scalar();
    }
    out.push_back(key + "=" + values);
  }
  return out;
}

double sweep_value_count(const std::string& value) {
  double n = 0;
  for (const std::string& item : split_top_level(value)) {
    if (is_range_item(item))
      n += parse_range(item.substr(6, item.size() - 7), value).count;
    else if (is_choice_item(item))
      n += static_cast<double>(split_top_level(item.substr(7, item.size() - 8)).size());
    else
      n += 1;
  }
  return n;
}

std::vector<std::string> sweep_values(const std::string& value) {
  // Counted before anything is materialized: one axis alone is a factor of the run count.
  const double n = sweep_value_count(value);
  DB_CHECK(n <= static_cast<double>(kMaxSweepRuns),
           "sweep '{}': {} values, more than a sweep may run ({} runs at most)", excerpt(value),
           format_count(n), kMaxSweepRuns);
  std::vector<std::string> out;
  for (const std::string& item : split_top_level(value)) {
    if (is_range_item(item)) {
      for (auto& v : expand_range(item.substr(6, item.size() - 7), value)) out.push_back(v);
    } else if (is_choice_item(item)) {
      for (auto& v : split_top_level(item.substr(7, item.size() - 8))) out.push_back(v);
    } else {
      out.push_back(item);
    }
  }
  return out;
}

double sweep_run_count(const std::vector<std::string>& overrides) {
  double runs = 1;
  for (const std::string& o : overrides)
    if (is_sweep_override(o)) runs *= sweep_value_count(parse_override(o).value);
  return runs;
}

bool is_sweep_override(const std::string& override_text) {
  const ParsedOverride p = parse_override(override_text);
  if (!p.has_value || p.prefix.find('~') != std::string::npos) return false;
  const std::vector<std::string> parts = split_top_level(p.value);
  return parts.size() > 1 || p.value.rfind("range(", 0) == 0 || p.value.rfind("choice(", 0) == 0;
}

SweepPlan expand_sweep(const std::vector<std::string>& overrides) {
  // The product of the axes' sizes, before any run is materialized.
  const double runs = sweep_run_count(overrides);
  DB_CHECK(runs <= static_cast<double>(kMaxSweepRuns),
           "sweep: {} runs (the product of the swept values' counts), more than the {} a sweep "
           "may run; sweep fewer values or split the sweep",
           format_count(runs), kMaxSweepRuns);
  SweepPlan plan;
  std::vector<std::vector<std::string>> choices;  // per override: its alternatives
  for (const std::string& o : overrides) {
    const ParsedOverride p = parse_override(o);
    if (!is_sweep_override(o)) {
      choices.push_back({o});
      continue;
    }
    SweepAxis axis{p.key, choices.size(), {}};
    for (const std::string& v : sweep_values(p.value)) {
      DB_CHECK(!v.empty(), "override '{}': an empty value in the sweep list", excerpt(o));
      axis.overrides.push_back(p.prefix + p.key + "=" + v);
    }
    for (const SweepAxis& a : plan.axes)
      DB_CHECK(a.key != axis.key, "override '{}': '{}' is swept twice", excerpt(o),
               excerpt(p.key, kExcerptBytes / 2));
    choices.push_back(axis.overrides);
    plan.axes.push_back(std::move(axis));
  }
  // Cartesian product, the first override varying slowest.
  plan.runs.push_back({});
  for (const auto& alternatives : choices) {
    std::vector<std::vector<std::string>> next;
    for (const auto& run : plan.runs)
      for (const std::string& o : alternatives) {
        next.push_back(run);
        next.back().push_back(o);
      }
    plan.runs = std::move(next);
  }
  return plan;
}

}  // namespace deferbench
