#include "core/data/csv_reader.h"

#include <csv.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <limits>
#include <string_view>
#include <system_error>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "core/data/jsonl_reader.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"

namespace deferbench {
namespace {

constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();

// libcsv trims spaces around unquoted fields by default; a text column must keep them.
int never_space(unsigned char) {
  return 0;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Seconds in a time cell: a number of seconds or an ISO-8601 string.
bool cell_time(std::string_view cell, double& seconds) {
  const std::string s(trim(cell));
  if (parse_iso8601(s, seconds)) return true;
  char* end = nullptr;
  seconds = std::strtod(s.c_str(), &end);
  return !s.empty() && end == s.c_str() + s.size() && std::isfinite(seconds);
}

// Receives libcsv's callbacks and hands each record, with the physical line it starts on, to
// `on_record_`. Exceptions must not cross libcsv's C frames, so a failure is stored in
// `pending` and rethrown by the caller after csv_parse returns.
class CsvRecordDriver {
 public:
  explicit CsvRecordDriver(const CsvRecordFn& on_record) : on_record_(on_record) {}

  // The physical (1-based) line of the bytes about to be fed; `has_content` says whether they
  // hold anything but line breaks (libcsv skips empty lines between records).
  void start_line(std::size_t line, bool has_content) {
    line_ = line;
    if (!in_record_ && has_content) begin_record();
  }

  static void on_field(void* s, std::size_t len, void* self) {
    static_cast<CsvRecordDriver*>(self)->field(static_cast<const char*>(s), len);
  }
  static void on_record(int, void* self) { static_cast<CsvRecordDriver*>(self)->record(); }

  void rethrow_pending() {
    if (pending_) std::rethrow_exception(pending_);
  }
  bool in_record() const { return in_record_; }
  std::size_t record_line() const { return record_line_; }

 private:
  void begin_record() {
    in_record_ = true;
    record_line_ = line_;
  }

  void field(const char* s, std::size_t len) {
    if (pending_) return;
    if (!in_record_) begin_record();
    if (n_fields_ == fields_.size()) fields_.emplace_back();
    if (len == 0)
      fields_[n_fields_].clear();
    else
      fields_[n_fields_].assign(s, len);
    ++n_fields_;
  }

  void record() {
    if (pending_ || !in_record_) return;
    try {
      on_record_(record_line_, fields_, n_fields_);
    } catch (...) {
      pending_ = std::current_exception();
    }
    n_fields_ = 0;
    in_record_ = false;
  }

  const CsvRecordFn& on_record_;
  std::exception_ptr pending_;
  std::vector<std::string> fields_;  // reused across records; the first n_fields_ are current
  std::size_t n_fields_ = 0;
  std::size_t line_ = 1;
  std::size_t record_line_ = 0;
  bool in_record_ = false;
};

// Builds Traces from the records of a trace file: the first is the header.
class CsvTraceBuilder {
 public:
  CsvTraceBuilder(const std::filesystem::path& path, const CsvColumns& columns,
                  std::size_t expected_rows)
      : file_(path.string()), name_(path.filename().string()), columns_(columns) {
    out_.source = file_;
    out_.texts.reserve(expected_rows);
    out_.teacher.reserve(expected_rows);
    out_.ids.reserve(expected_rows);
    if (!columns_.gold.empty()) out_.gold.reserve(expected_rows);
    if (!columns_.time.empty()) out_.times.reserve(expected_rows);
    if (!columns_.slice.empty()) out_.slices.reserve(expected_rows);
  }

  void record(std::size_t line, std::vector<std::string>& fields, std::size_t n_fields) {
    if (header_done_) {
      row(line, fields, n_fields);
    } else {
      header_.assign(fields.begin(), fields.begin() + static_cast<std::ptrdiff_t>(n_fields));
      header();
    }
  }
  bool saw_header() const { return header_done_; }
  std::size_t records() const { return records_; }
  Traces take() { return std::move(out_); }

 private:
  std::size_t find_column(const std::string& name, const char* config_field, bool required) {
    if (name.empty()) {
      if (required)
        fail({file_, 0, config_field},
             "not set (a CSV dataset needs the text and teacher "
             "columns)");
      return kNone;
    }
    auto begin = header_.begin(), end = header_.end();
    auto it = std::find(begin, end, name);
    if (it == end)
      fail({file_, 0, config_field},
           fmt::format("column '{}' is not in the header; the file has the columns: {}",
                       excerpt(name), header_list()));
    if (std::find(it + 1, end, name) != end)
      fail({file_, 0, config_field},
           fmt::format("column '{}' appears more than once in the header", excerpt(name)));
    return static_cast<std::size_t>(it - begin);
  }

  // The header's columns for a message: the first kListed, each quoted through excerpt() at half
  // the usual cap, then how many more (a header line may hold any number of any length).
  std::string header_list() const {
    constexpr std::size_t kListed = 10;
    std::string out;
    for (std::size_t i = 0; i < header_.size() && i < kListed; ++i)
      out += (i ? ", " : "") + excerpt(header_[i], kExcerptBytes / 2);
    if (header_.size() > kListed) out += fmt::format(", … ({} columns in all)", header_.size());
    return out;
  }

  // A column's name as the field of a message.
  std::string column_field(std::size_t column) const {
    return excerpt(header_[column], kExcerptBytes / 2);
  }

  void header() {
    text_ = find_column(columns_.text, "text_column", true);
    teacher_ = find_column(columns_.teacher, "teacher_column", columns_.require_teacher);
    gold_ = find_column(columns_.gold, "gold_column", false);
    id_ = find_column(columns_.id, "id_column", false);
    time_ = find_column(columns_.time, "time_column", false);
    slice_ = find_column(columns_.slice, "slice_column", false);
    for (const std::string& f : columns_.fields) {
      if (out_.fields.count(f)) continue;  // named twice: kept once
      field_names_.push_back(f);
      field_columns_.push_back(find_column(f, "fields", true));
      out_.fields[f];
    }
    header_done_ = true;
  }

  void row(std::size_t line, std::vector<std::string>& fields, std::size_t n) {
    ++records_;
    if (n != header_.size())
      fail({file_, line, ""},
           fmt::format("the record has {} field{}, the header has {} (a delimiter or quote out "
                       "of place?)",
                       n, n == 1 ? "" : "s", header_.size()));
    static const std::string kNoTeacher;
    const std::string& teacher = teacher_ == kNone ? kNoTeacher : fields[teacher_];
    if (teacher_ != kNone && teacher.empty())
      fail({file_, line, column_field(teacher_)}, "empty teacher value");
    if (teacher_ != kNone && std::find(columns_.no_answer.begin(), columns_.no_answer.end(),
                                       teacher) != columns_.no_answer.end()) {
      ++out_.dropped_no_answer;
      return;
    }
    // Everything but the text is copied (columns may serve two roles); the text is moved last.
    if (time_ != kNone) {
      double t = std::numeric_limits<double>::quiet_NaN();
      if (!trim(fields[time_]).empty() && !cell_time(fields[time_], t))
        fail({file_, line, column_field(time_)},
             fmt::format("bad time value '{}': expected seconds since the Unix epoch (a number) "
                         "or an ISO-8601 time such as 2024-03-01T12:30:00Z",
                         excerpt(fields[time_])));
      out_.times.push_back(t);
    }
    out_.teacher.push_back(teacher);
    if (gold_ != kNone) out_.gold.push_back(fields[gold_]);
    if (slice_ != kNone) out_.slices.push_back(fields[slice_]);
    for (std::size_t k = 0; k < field_columns_.size(); ++k)
      out_.fields[field_names_[k]].push_back(fields[field_columns_[k]]);
    if (id_ != kNone && !fields[id_].empty())
      out_.ids.push_back(fields[id_]);
    else
      out_.ids.push_back(fmt::format("{}:{}", name_, line));
    out_.texts.push_back(std::move(fields[text_]));
  }

  std::string file_, name_;
  const CsvColumns& columns_;
  Traces out_;
  bool header_done_ = false;
  std::size_t records_ = 0;

  std::vector<std::string> header_;
  std::size_t text_ = kNone, teacher_ = kNone, gold_ = kNone, id_ = kNone, time_ = kNone,
              slice_ = kNone;
  std::vector<std::string> field_names_;    // columns_.fields without repeats
  std::vector<std::size_t> field_columns_;  // one per field_names_
};

class CsvParser {
 public:
  explicit CsvParser(unsigned char options) { ok_ = csv_init(&p_, options) == 0; }
  ~CsvParser() {
    if (ok_) csv_free(&p_);
  }
  CsvParser(const CsvParser&) = delete;
  CsvParser& operator=(const CsvParser&) = delete;
  bool ok() const { return ok_; }
  csv_parser* get() { return &p_; }

 private:
  csv_parser p_{};
  bool ok_ = false;
};

}  // namespace

void for_each_csv_record(std::string_view text, const std::string& file, char delimiter,
                         const CsvRecordFn& on_record) {
  std::string_view rest = text;
  if (rest.size() >= 3 && rest.substr(0, 3) == "\xEF\xBB\xBF") rest.remove_prefix(3);
  CsvRecordDriver driver(on_record);
  CsvParser parser(CSV_STRICT | CSV_STRICT_FINI);
  DB_ASSERT_MSG(parser.ok(), "csv_init failed");
  csv_set_delim(parser.get(), static_cast<unsigned char>(delimiter));
  csv_set_space_func(parser.get(), never_space);

  // Feed one physical line at a time so that every callback knows its line number.
  std::size_t line = 1;
  while (!rest.empty()) {
    const std::size_t nl = rest.find('\n');
    const std::string_view chunk = rest.substr(0, nl == std::string_view::npos ? nl : nl + 1);
    rest.remove_prefix(chunk.size());
    const bool has_content = chunk.find_first_not_of("\r\n") != std::string_view::npos;
    driver.start_line(line, has_content);
    const std::size_t used =
        csv_parse(parser.get(), chunk.data(), chunk.size(), CsvRecordDriver::on_field,
                  CsvRecordDriver::on_record, &driver);
    driver.rethrow_pending();
    if (used != chunk.size()) {
      if (csv_error(parser.get()) == CSV_EPARSE)
        fail({file, line, ""},
             "malformed CSV: a quote out of place (a quoted field must be quoted whole, with \"\" "
             "for a quote inside it)");
      fail({file, line, ""},
           fmt::format("CSV parser error: {}", csv_strerror(csv_error(parser.get()))));
    }
    ++line;
  }
  const std::size_t open_record_line = driver.record_line();
  const bool open_record = driver.in_record();
  if (csv_fini(parser.get(), CsvRecordDriver::on_field, CsvRecordDriver::on_record, &driver) != 0)
    fail({file, open_record ? open_record_line : 0, ""},
         "unterminated quoted field: the record starting on this line has no closing '\"'");
  driver.rethrow_pending();
}

CsvFile parse_csv(std::string_view text, const std::string& file, char delimiter) {
  CsvFile out;
  out.file = file;
  bool header = true;
  for_each_csv_record(text, file, delimiter,
                      [&](std::size_t line, std::vector<std::string>& fields, std::size_t n) {
                        const auto end = fields.begin() + static_cast<std::ptrdiff_t>(n);
                        if (header) {
                          out.header.assign(fields.begin(), end);
                          out.header_line = line;
                          header = false;
                        } else {
                          out.records.push_back({line, {fields.begin(), end}});
                        }
                      });
  return out;
}

CsvFile read_csv_file(const std::filesystem::path& path, char delimiter) {
  return parse_csv(read_file(path), path.string(), delimiter);
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string format_csv_number(double x, int significant_digits) {
  if (std::isnan(x)) return "";
  return significant_digits > 0 ? fmt::format("{:.{}g}", x, significant_digits)
                                : fmt::format("{}", x);
}

Traces read_csv_traces(const std::filesystem::path& path, const CsvColumns& columns) {
  const std::string file = path.string();
  const std::string content = read_file(path);
  const auto newlines = static_cast<std::size_t>(std::count(content.begin(), content.end(), '\n'));
  CsvTraceBuilder builder(path, columns, newlines + 1);
  const CsvRecordFn feed = [&](std::size_t line, std::vector<std::string>& fields, std::size_t n) {
    builder.record(line, fields, n);
  };
  for_each_csv_record(content, file, columns.delimiter, feed);

  if (!builder.saw_header())
    fail({file, 0, ""}, "empty file (expected a header line and at least one record)");
  if (builder.records() == 0) fail({file, 0, ""}, "the file has a header but no records");

  Traces out = builder.take();
  if (out.dropped_no_answer > 0)
    spdlog::info("{}: dropped {} rows whose teacher gave no usable answer ({})",
                 path.filename().string(), out.dropped_no_answer,
                 fmt::join(columns.no_answer, ", "));
  return out;
}

}  // namespace deferbench
