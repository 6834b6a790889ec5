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
};

// Errors (deferbench::Error): a column named here but absent from the header (listing the
// columns the file has), a record with the wrong number of fields (naming the record's line),
// an empty teacher value, an unparsable time, an empty file.
Traces read_csv_traces(const std::filesystem::path& path, const CsvColumns& columns);

}  // namespace deferbench
