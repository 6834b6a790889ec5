// The one CSV reader of deferbench (libcsv): general records with their line numbers, CSV traces
// with a column mapping from the config, and the field / number format written to CSV files.
// Quoted fields may hold commas, quotes ("") and newlines (RFC 4180). The first record is the
// header.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/data/dataset.h"

namespace deferbench {

struct CsvColumns {
  std::string text;                 // required
  std::string teacher;              // required
  std::string gold;                 // optional ("" = none)
  std::string id;                   // optional
  std::string time;                 // optional: seconds (a number) or ISO-8601
  std::string slice;                // optional
  std::vector<std::string> fields;  // more columns to keep (the audit's slices): Traces::fields
  // Teacher values meaning "the teacher gave no usable answer": those rows are dropped and
  // counted (banking77's LLM traces use "77").
  std::vector<std::string> no_answer;
  char delimiter = ',';
  // false: the teacher column may be unset (traffic to route); rows get teacher "".
  bool require_teacher = true;
};

// A UTF-8 BOM and CRLF line endings are accepted; blank lines between records are skipped; fields
// are not trimmed. Line numbers (in messages and invented ids "<filename>:<line>") are physical,
// 1-based, and name the line a record starts on. Empty gold/time/slice cells mean "none for this
// row". Errors (deferbench::Error): text or teacher column not set, a column named here but
// absent from the header (naming the config field and listing the columns the file has), a record
// with the wrong number of fields (naming the record's line), malformed or unterminated quoting,
// an empty teacher value, an unparsable time, an empty file or a header without records.
Traces read_csv_traces(const std::filesystem::path& path, const CsvColumns& columns);

// ---- general CSV ----

// One record of `fields` (the first `n_fields` of the vector are current; the vector is reused
// between records, so a callback may move fields out) starting on physical line `line`.
using CsvRecordFn =
    std::function<void(std::size_t line, std::vector<std::string>& fields, std::size_t n_fields)>;

// Calls `on_record` for each record of `text` (a UTF-8 BOM, CRLF and blank lines between records
// are accepted; fields are not trimmed). `file` names the input in errors: malformed quoting names
// its line, an unterminated quoted field the line its record starts on. An exception thrown by
// `on_record` stops the parse and is rethrown.
void for_each_csv_record(std::string_view text, const std::string& file, char delimiter,
                         const CsvRecordFn& on_record);

struct CsvRecord {
  std::size_t line = 0;  // physical, 1-based: the line the record starts on
  std::vector<std::string> fields;
};
struct CsvFile {
  std::string file;
  std::vector<std::string> header;  // empty for an empty file
  std::size_t header_line = 0;
  std::vector<CsvRecord> records;  // after the header; their field counts are not checked
};
CsvFile parse_csv(std::string_view text, const std::string& file, char delimiter = ',');
CsvFile read_csv_file(const std::filesystem::path& path, char delimiter = ',');

// A CSV field (RFC 4180): as it is, or quoted ("" for a quote) when it holds a comma, quote or
// line break.
std::string csv_field(const std::string& s);

// A number in a CSV file: "" for NaN; the shortest text that reads back as the same double
// (significant_digits = 0), else printf's %.<significant_digits>g.
std::string format_csv_number(double x, int significant_digits = 0);

}  // namespace deferbench
