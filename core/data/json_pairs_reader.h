// Data sets stored as one JSON object of named parts, each a list of [text, label] pairs — the
// layout of CLINC150's data_full.json (parts train, val, test, oos_train, oos_val, oos_test;
// out-of-scope queries carry the label "oos").
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/data/dataset.h"

namespace deferbench {

struct JsonPairsOptions {
  std::vector<std::string> parts{"train", "val", "test"};  // which parts to read, in order
  // A simulated teacher: the gold label, replaced with probability teacher_error_rate by a
  // uniformly drawn other label of the parts read (seeded). 0: the teacher is the gold label.
  double teacher_error_rate = 0.0;
};

// Rows get: text, gold = label, teacher (simulated), id "<part>:<index>", slice = part name.
// Errors name the file and the part / index: not a JSON object, a part that is missing (listing
// the parts present), an entry that is not a [string, string] pair.
Traces read_json_pairs(const std::filesystem::path& path, const JsonPairsOptions& options,
                       std::uint64_t seed);

}  // namespace deferbench
