#include "core/data/jsonl_reader.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <string_view>
#include <system_error>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "core/data/npy.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"

namespace deferbench {
namespace {

using nlohmann::json;

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
long long days_from_civil(long long y, unsigned m, unsigned d) {
  y -= m <= 2;
  const long long era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<long long>(doe) - 719468;
}

unsigned days_in_month(int y, int m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// How a JSON value looks, for "got ..." in messages.
std::string describe(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return fmt::format("a boolean {}", v.get<bool>() ? "true" : "false");
    case json::value_t::number_float:
      return fmt::format("a float {}", v.dump());
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return fmt::format("an integer {}", v.dump());
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "a list";
    case json::value_t::object:
      return "an object";
    default:
      return "an unsupported value";
  }
}

bool is_integer(const json& v) {
  return v.is_number_integer() || v.is_number_unsigned();
}

// A string, or an integer written in decimal. False for anything else.
bool string_or_integer(const json& v, std::string& out) {
  if (v.is_string()) {
    out = v.get_ref<const std::string&>();
    return true;
  }
  if (is_integer(v)) {
    out = v.dump();
    return true;
  }
  return false;
}

// The parser's message with the token it quotes ("last read: '...'", input-sized) capped at
// half the usual excerpt (the column is named already); the token may itself hold
// "'; expected ", so it and what follows share one cap.
std::string cap_last_read(std::string_view what) {
  constexpr std::string_view kLastRead = "last read: '";
  const std::size_t at = what.find(kLastRead);
  if (at == std::string_view::npos) return excerpt(what, 3 * kExcerptBytes);
  const std::size_t split = at + kLastRead.size();
  return excerpt(what.substr(0, split), 3 * kExcerptBytes) +
         excerpt(what.substr(split), kExcerptBytes / 2);
}

// "[json.exception.parse_error.101] parse error at line 1, column 5: syntax error ..." becomes
// "column 5: syntax error ...", with the token it quotes ("last read: '...'") capped.
std::string short_reason(const json::exception& e) {
  std::string_view what = e.what();
  if (auto close = what.find("] "); close != std::string_view::npos) what.remove_prefix(close + 2);
  if (what.rfind("parse error at line 1, ", 0) == 0)
    what.remove_prefix(std::strlen("parse error at line 1, "));
  else if (what.rfind("parse error: ", 0) == 0)
    what.remove_prefix(std::strlen("parse error: "));
  return cap_last_read(what);
}

// A JSON value quoted in a message: a scalar as written (capped), a list or object described.
std::string quoted(const json& v) {
  if (v.is_structured()) return describe(v);
  return excerpt(v.dump());
}

// Seconds in a JSON time value: a number, a numeric string, or an ISO-8601 string.
bool json_time(const json& v, double& seconds) {
  if (v.is_number()) {
    seconds = v.get<double>();
    return std::isfinite(seconds);
  }
  if (!v.is_string()) return false;
  const std::string& s = v.get_ref<const std::string&>();
  if (parse_iso8601(s, seconds)) return true;
  if (s.empty()) return false;
  char* end = nullptr;
  seconds = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && std::isfinite(seconds);
}

bool is_blank(std::string_view line) {
  return std::all_of(line.begin(), line.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\r'; });
}

}  // namespace

bool parse_iso8601(const std::string& text, double& seconds) {
  const char* p = text.data();
  const char* const end = p + text.size();
  auto number = [&](int width, int& out) {
    if (end - p < width) return false;
    out = 0;
    for (int i = 0; i < width; ++i, ++p) {
      if (*p < '0' || *p > '9') return false;
      out = out * 10 + (*p - '0');
    }
    return true;
  };
  auto expect = [&](char c) {
    if (p == end || *p != c) return false;
    ++p;
    return true;
  };

  int year = 0, month = 0, day = 0;
  if (!number(4, year) || !expect('-') || !number(2, month) || !expect('-') || !number(2, day))
    return false;
  if (month < 1 || month > 12 || day < 1 || static_cast<unsigned>(day) > days_in_month(year, month))
    return false;

  int hour = 0, minute = 0, second = 0, offset_seconds = 0;
  double fraction = 0.0;
  if (p != end) {
    if (*p != 'T' && *p != 't' && *p != ' ') return false;
    ++p;
    if (!number(2, hour) || !expect(':') || !number(2, minute)) return false;
    if (p != end && *p == ':') {
      ++p;
      if (!number(2, second)) return false;
      if (p != end && (*p == '.' || *p == ',')) {
        ++p;
        double scale = 0.1;
        const char* digits_start = p;
        for (; p != end && *p >= '0' && *p <= '9'; ++p, scale /= 10) fraction += (*p - '0') * scale;
        if (p == digits_start) return false;
      }
    }
    const bool end_of_day = hour == 24 && minute == 0 && second == 0 && fraction == 0.0;
    if ((hour > 23 && !end_of_day) || minute > 59 || second > 60) return false;
    if (p != end) {
      if (*p == 'Z' || *p == 'z') {
        ++p;
      } else if (*p == '+' || *p == '-') {
        const int sign = *p == '+' ? 1 : -1;
        ++p;
        int oh = 0, om = 0;
        if (!number(2, oh)) return false;
        if (p != end) {
          if (*p == ':') ++p;
          if (!number(2, om)) return false;
        }
        if (oh > 23 || om > 59) return false;
        offset_seconds = sign * (oh * 3600 + om * 60);
      } else {
        return false;
      }
    }
    if (p != end) return false;
  }
  const long long days =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  seconds = static_cast<double>(days * 86400LL + hour * 3600LL + minute * 60LL + second -
                                offset_seconds) +
            fraction;
  return true;
}

namespace {

// One parsed line: what a kept row contributes to the traces.
struct Row {
  std::string input, teacher, id, gold;
  double time = std::numeric_limits<double>::quiet_NaN();
  std::string slice;
  std::vector<std::string> fields;  // one per options.field_keys
  bool has_time = false;
};

// Where a line sits and how to read it, shared by every line of a file.
struct LineContext {
  const std::string& file;
  const std::string& name;  // the file name, for invented ids
  const JsonlOptions& options;
};

json parse_line(std::string_view line, const Where& where) {
  try {
    return json::parse(line.begin(), line.end());
  } catch (const json::exception& e) {  // parse_error, or out_of_range.406 (number overflow)
    fail(where, "malformed JSON: " + short_reason(e));
  }
}

// `time` and `slice` from the line's metadata object (absent or null: none).
void read_metadata(const json& row, const LineContext& c, std::size_t line_no, Row& r) {
  auto meta = row.find("metadata");
  if (meta == row.end() || meta->is_null()) return;
  if (!meta->is_object())
    fail({c.file, line_no, "metadata"}, fmt::format("expected an object, got {}", describe(*meta)));
  if (auto t = meta->find(c.options.time_key); t != meta->end() && !t->is_null()) {
    if (!json_time(*t, r.time))
      fail({c.file, line_no, "metadata." + c.options.time_key},
           fmt::format("bad time value {}: expected seconds since the Unix epoch (a number) "
                       "or an ISO-8601 time such as \"2024-03-01T12:30:00Z\"",
                       quoted(*t)));
    r.has_time = true;
  }
  if (auto s = meta->find(c.options.slice_key); s != meta->end() && !s->is_null()) {
    if (!string_or_integer(*s, r.slice))
      fail({c.file, line_no, "metadata." + c.options.slice_key},
           fmt::format("expected a string, got {}", describe(*s)));
  }
  for (std::size_t k = 0; k < c.options.field_keys.size(); ++k) {
    const std::string& key = c.options.field_keys[k];
    auto f = meta->find(key);
    if (f == meta->end() || f->is_null()) continue;
    if (f->is_number() || f->is_boolean())
      r.fields[k] = f->dump();
    else if (!string_or_integer(*f, r.fields[k]))
      fail({c.file, line_no, "metadata." + key},
           fmt::format("expected a string, a number or a boolean, got {}", describe(*f)));
  }
}

Row read_row(std::string_view line, const LineContext& c, std::size_t line_no) {
  const json row = parse_line(line, {c.file, line_no, ""});
  if (!row.is_object())
    fail({c.file, line_no, ""}, fmt::format("expected a JSON object, got {}", describe(row)));
  Row r;
  r.fields.resize(c.options.field_keys.size());
  auto input = row.find("input");
  if (input == row.end()) fail({c.file, line_no, "input"}, "missing (every line needs an input)");
  if (!input->is_string())
    fail({c.file, line_no, "input"}, fmt::format("expected a string, got {}", describe(*input)));
  r.input = input->get<std::string>();

  auto teacher = row.find("teacher");
  if (teacher == row.end() && c.options.require_teacher)
    fail({c.file, line_no, "teacher"}, "missing (every line needs the teacher's answer)");
  if (teacher != row.end() && !string_or_integer(*teacher, r.teacher))
    fail({c.file, line_no, "teacher"},
         fmt::format("expected a string or an integer, got {}", describe(*teacher)));

  if (auto it = row.find("id"); it != row.end() && !it->is_null()) {
    if (!string_or_integer(*it, r.id))
      fail({c.file, line_no, "id"},
           fmt::format("expected a string or an integer, got {}", describe(*it)));
  }
  if (r.id.empty()) r.id = fmt::format("{}:{}", c.name, line_no);

  if (auto it = row.find("ground_truth"); it != row.end() && !it->is_null()) {
    if (!string_or_integer(*it, r.gold))
      fail({c.file, line_no, "ground_truth"},
           fmt::format("expected a string, an integer or null, got {}", describe(*it)));
  }
  read_metadata(row, c, line_no, r);
  return r;
}

// The embeddings file to read: the explicit one (which must exist), else <stem>.npy beside the
// traces when it exists; empty when there is none (an error if options require one).
std::filesystem::path embeddings_path(const std::filesystem::path& path,
                                      const JsonlOptions& options) {
  const std::string file = path.string();
  std::filesystem::path embeddings = options.embeddings;
  std::filesystem::path beside = path;
  beside.replace_extension(".npy");
  std::error_code ec;
  if (!embeddings.empty()) {
    if (!std::filesystem::exists(embeddings, ec))
      fail({embeddings.string(), 0, ""},
           fmt::format("embeddings file not found (named for the traces {})", file));
  } else if (std::filesystem::exists(beside, ec)) {
    embeddings = beside;
  }
  if (embeddings.empty() && options.require_embeddings)
    fail({file, 0, ""},
         fmt::format("embeddings are required but there are none: expected {} beside the traces "
                     "or an explicit embeddings path",
                     beside.string()));
  return embeddings;
}

// Reads the embeddings (one row per non-blank line) and keeps the rows of the kept lines.
void attach_embeddings(const std::filesystem::path& path, const JsonlOptions& options,
                       std::size_t n_lines, const std::vector<std::size_t>& kept, Traces& out) {
  const std::filesystem::path embeddings = embeddings_path(path, options);
  if (embeddings.empty()) return;
  Matrix m = read_npy(embeddings);
  if (m.rows() != n_lines)
    fail({embeddings.string(), 0, ""},
         fmt::format("has {} rows, but {} has {} traces (non-blank lines); expected one "
                     "embedding row per trace",
                     m.rows(), path.string(), n_lines));
  out.embeddings = kept.size() == n_lines ? std::move(m) : gather_rows(m, kept);
}

}  // namespace

Traces read_jsonl_traces(const std::filesystem::path& path, const JsonlOptions& options) {
  const std::string file = path.string();
  const std::string name = path.filename().string();
  const std::string content = read_file(path);
  std::string_view rest(content);
  if (rest.size() >= 3 && rest.substr(0, 3) == "\xEF\xBB\xBF") rest.remove_prefix(3);

  const auto physical_lines =
      static_cast<std::size_t>(std::count(rest.begin(), rest.end(), '\n')) + 1;
  Traces out;
  out.source = file;
  out.texts.reserve(physical_lines);
  out.teacher.reserve(physical_lines);
  out.ids.reserve(physical_lines);
  std::vector<std::string> gold, slices;
  std::vector<double> times;
  std::vector<std::vector<std::string>> fields(options.field_keys.size());
  gold.reserve(physical_lines);
  bool any_gold = false, any_time = false, any_slice = false;
  std::vector<std::size_t> kept;  // index among non-blank lines of each kept row
  kept.reserve(physical_lines);
  std::size_t n_lines = 0;  // non-blank lines
  const LineContext context{file, name, options};

  std::size_t line_no = 0;
  while (!rest.empty()) {
    ++line_no;
    const std::size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (is_blank(line)) continue;
    const std::size_t index = n_lines++;
    Row r = read_row(line, context, line_no);
    any_gold = any_gold || !r.gold.empty();
    any_time = any_time || r.has_time;
    any_slice = any_slice || !r.slice.empty();
    if (std::find(options.no_answer.begin(), options.no_answer.end(), r.teacher) !=
        options.no_answer.end()) {
      ++out.dropped_no_answer;
      continue;
    }
    kept.push_back(index);
    out.texts.push_back(std::move(r.input));
    out.teacher.push_back(std::move(r.teacher));
    out.ids.push_back(std::move(r.id));
    gold.push_back(std::move(r.gold));
    times.push_back(r.time);
    slices.push_back(std::move(r.slice));
    for (std::size_t k = 0; k < fields.size(); ++k) fields[k].push_back(std::move(r.fields[k]));
  }
  if (n_lines == 0)
    fail({file, 0, ""}, "empty file (no traces; expected one JSON object per line)");

  if (any_gold) out.gold = std::move(gold);
  if (any_time) out.times = std::move(times);
  if (any_slice) out.slices = std::move(slices);
  for (std::size_t k = 0; k < fields.size(); ++k)
    out.fields[options.field_keys[k]] = std::move(fields[k]);
  attach_embeddings(path, options, n_lines, kept, out);

  if (out.dropped_no_answer > 0)
    spdlog::info("{}: dropped {} rows whose teacher gave no usable answer ({})", name,
                 out.dropped_no_answer, fmt::join(options.no_answer, ", "));
  return out;
}

}  // namespace deferbench
