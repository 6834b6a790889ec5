// CSV traces with a column mapping from the config. Quoted fields may hold commas, quotes ("")
// and newlines (parsed with libcsv). The first record is the header.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/data/dataset.h"

namespace deferbench {

struct CsvColumns {
  std::string text;     // required
  std::string teacher;  // required
  std::string gold;     // optional ("" = none)
  std::string id;       // optional
  std::string time;     // optional: seconds (a number) or ISO-8601
  std::string slice;    // optional
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

}  // namespace deferbench
