// libFuzzer target: read_jsonl_traces (core/data/jsonl_reader.h) on arbitrary file contents.
// Any outcome but success or a deferbench::Error with a short one-line message is a finding.
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "core/data/jsonl_reader.h"
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
  const auto path = fuzz::write_input("traces.jsonl", data, size);
  JsonlOptions options;
  options.no_answer = {"77"};
  // The low bit of the size picks whether the teacher is required (traces vs traffic to route).
  options.require_teacher = (size & 1) == 0;
  try {
    const Traces t = read_jsonl_traces(path, options);
    // Every kept row has all its columns; optional columns are empty or full.
    const std::size_t n = t.texts.size();
    if (t.teacher.size() != n || t.ids.size() != n || (!t.gold.empty() && t.gold.size() != n) ||
        (!t.times.empty() && t.times.size() != n) || (!t.slices.empty() && t.slices.size() != n))
      std::abort();
    for (double time : t.times)
      if (std::isinf(time)) std::abort();  // NaN means "none"; an infinite time is a bug
  } catch (const Error& e) {
    fuzz::check_message(e.what(), 500 + path.string().size());
  }
  return 0;
}
