// libFuzzer target: read_csv_traces (core/data/csv_reader.h) on arbitrary file contents, with
// every optional column mapped. Any outcome but success or a deferbench::Error is a finding, and
// so is a message of more than one line or over 1 KB beyond the path (csv_reader.cpp quotes
// cells and column names through excerpt() and lists at most 10 columns).
#include <cstdint>
#include <cstdlib>

#include "core/data/csv_reader.h"
#include "core/util/error.h"
#include "tests/fuzz/fuzz_util.h"

#include <spdlog/spdlog.h>

// Quiet: the reader logs every dropped no-answer row at info level.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::warn);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace deferbench;
  const auto path = fuzz::write_input("traces.csv", data, size);
  CsvColumns columns;
  columns.text = "text";
  columns.teacher = "teacher";
  columns.require_teacher = (size & 1) == 0;
  if ((size & 2) == 0) {
    columns.gold = "gold";
    columns.id = "id";
    columns.time = "time";
    columns.slice = "slice";
  }
  columns.no_answer = {"77"};
  try {
    const Traces t = read_csv_traces(path, columns);
    const std::size_t n = t.texts.size();
    if (t.teacher.size() != n || t.ids.size() != n || (!t.gold.empty() && t.gold.size() != n) ||
        (!t.times.empty() && t.times.size() != n) || (!t.slices.empty() && t.slices.size() != n))
      std::abort();
  } catch (const Error& e) {
    fuzz::check_message(e.what(), 1024 + path.string().size());
  }
  return 0;
}
