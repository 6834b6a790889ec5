#include "experiments/featurize.h"

#include <unistd.h>

#include <algorithm>
#include <string>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "core/config/compose.h"
#include "core/data/npy.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"
#include "experiments/prepare.h"

namespace deferbench {
namespace fs = std::filesystem;

fs::path featurize_to(const YAML::Node& config, const RunOptions& options, const fs::path& out) {
  const RunSettings s = RunSettings::from_config(config, options.project_root);
  Context ctx = s.context();
  const fs::path target = out.is_absolute() ? out : fs::current_path() / out;
  check_output_folder(target, "featurize -o", true);
  PreparedData p = prepare_data(s, ctx, /*calibrates=*/false);

  // All rows in one matrix, ordered train, val, cal, test; labels.csv says which row is which.
  const std::size_t d = p.train.features.cols();
  Matrix all(p.total_rows, d);
  std::string csv = "row,id,split,teacher_id,gold_id,teacher,gold\n";
  std::size_t row = 0;
  auto quote = [](const std::string& v) {
    std::string q = "\"";
    for (char c : v) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  const std::pair<const char*, const Dataset*> parts[] = {
      {"train", &p.train}, {"val", &p.val}, {"cal", &p.cal}, {"test", &p.test}};
  for (const auto& [split, ds] : parts) {
    for (std::size_t i = 0; i < ds->size(); ++i, ++row) {
      std::copy_n(ds->features.row(i), d, all.row(row));
      const LabelId gold = ds->has_gold() ? ds->gold[i] : kNoLabel;
      csv += fmt::format("{},{},{},{},{},{},{}\n", row, quote(ds->ids[i]), split, ds->teacher[i],
                         gold, quote(p.labels->name(ds->teacher[i])),
                         gold == kNoLabel ? "" : quote(p.labels->name(gold)));
    }
  }
  // A temporary folder renamed at the end: nothing half-written is left on failure.
  fs::path tmp =
      target.parent_path() / fmt::format(".{}.tmp-{}", target.filename().string(), getpid());
  fs::create_directories(tmp);
  try {
    write_npy(tmp / "features.npy", all);
    write_file_atomic(tmp / "labels.csv", csv);
    write_file_atomic(tmp / "config.yaml", to_yaml_text(config));
    if (fs::exists(target)) fs::remove(target);
    fs::rename(tmp, target);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  if (!options.quiet)
    fmt::print("{} rows × {} features ({}) → {}\n", all.rows(), d, p.feature_source,
               (target / "features.npy").string());
  return target;
}

}  // namespace deferbench
