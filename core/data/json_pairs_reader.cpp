#include "core/data/json_pairs_reader.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "core/util/atomic_file.h"
#include "core/util/context.h"
#include "core/util/error.h"
#include "core/util/random.h"

namespace deferbench {

Traces read_json_pairs(const std::filesystem::path& path, const JsonPairsOptions& options,
                       std::uint64_t seed) {
  const std::string file = path.string();
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail({file, 0, ""}, std::string("malformed JSON: ") + e.what());
  }
  if (!doc.is_object()) fail({file, 0, ""}, "expected a JSON object of parts");
  Traces t;
  t.source = file;
  for (const std::string& part : options.parts) {
    if (!doc.contains(part)) {
      std::vector<std::string> present;
      for (const auto& kv : doc.items()) present.push_back(kv.key());
      fail({file, 0, part},
           fmt::format("part not found; the file has: {}", fmt::join(present, ", ")));
    }
    const auto& rows = doc[part];
    if (!rows.is_array()) fail({file, 0, part}, "expected a list of [text, label] pairs");
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      if (!r.is_array() || r.size() != 2 || !r[0].is_string() || !r[1].is_string())
        fail({file, i + 1, part},
             fmt::format("entry {} is not a [text, label] pair of strings", i));
      t.texts.push_back(r[0].get<std::string>());
      t.gold.push_back(r[1].get<std::string>());
      t.ids.push_back(fmt::format("{}:{}", part, i));
      t.slices.push_back(part);
    }
  }
  DB_CHECK(!t.texts.empty(), "{}: the parts {} hold no rows", file, fmt::join(options.parts, ", "));
  DB_CHECK(options.teacher_error_rate >= 0.0 && options.teacher_error_rate <= 1.0,
           "teacher_error_rate {} is outside [0, 1]", options.teacher_error_rate);
  std::vector<std::string> labels = t.gold;
  std::sort(labels.begin(), labels.end());
  labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
  t.teacher = t.gold;
  if (options.teacher_error_rate > 0.0 && labels.size() > 1) {
    Rng rng(mix_seed(seed, 0x7EAC));
    for (std::string& y : t.teacher) {
      if (rng.uniform() >= options.teacher_error_rate) continue;
      // A uniform draw among the other labels: skip over y's own position.
      std::size_t j = static_cast<std::size_t>(rng.below(labels.size() - 1));
      if (labels[j] >= y) ++j;
      y = labels[j];
    }
  }
  return t;
}

}  // namespace deferbench
