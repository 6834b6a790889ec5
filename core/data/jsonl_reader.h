// The TRACER trace format: one JSON object per line,
//   {"input": "...", "teacher": "label" | 3, "id": "...", "ground_truth": ..., "metadata": {...}}
// `input` and `teacher` are required; `teacher` and `ground_truth` are strings or integers.
// A timestamp (number of seconds, or an ISO-8601 string) and a slice tag may sit in `metadata`
// under the keys named in the options. Embeddings, when present, are a .npy file whose row i
// belongs to line i (blank lines are skipped and do not count).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/data/dataset.h"

namespace deferbench {

struct JsonlOptions {
  // Embeddings file. Empty: use `<stem>.npy` beside the traces when it exists, else none.
  std::filesystem::path embeddings;
  bool require_embeddings = false;     // true: a missing embeddings file is an error
  std::string time_key = "timestamp";  // looked up in `metadata`
  std::string slice_key = "slice";     // looked up in `metadata`
  // More `metadata` keys to keep (the audit's slices): Traces::fields, a string, a number or a
  // boolean as text ("" where absent or null).
  std::vector<std::string> field_keys;
  // Teacher answers meaning "the teacher gave no usable answer": such lines are dropped (and
  // their embedding rows with them) and counted in Traces::dropped_no_answer.
  std::vector<std::string> no_answer;
  // false: `teacher` may be absent (traffic to route rather than traces to learn from); such
  // rows get teacher "". A present teacher is still checked.
  bool require_teacher = true;
};

Traces read_jsonl_traces(const std::filesystem::path& path, const JsonlOptions& options);

// Parses an ISO-8601 date or date-time ("2024-03-01", "2024-03-01T12:30:00Z",
// "2024-03-01 12:30:00", optional fractional seconds, 'Z' or ±HH:MM offset) into seconds since
// the Unix epoch. Returns false when `text` is not such a time.
bool parse_iso8601(const std::string& text, double& seconds);

}  // namespace deferbench
