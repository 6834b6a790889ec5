#include "core/model/model_file.h"

#include <fmt/format.h>

#include "core/util/error.h"

namespace deferbench {

void write_model_header(BinaryWriter& w, std::string_view name) {
  w.header(kModelFileMagic, kModelFileVersion);
  w.string(std::string(name));
}

std::string read_model_header(BinaryReader& r) {
  const std::uint32_t version = r.header(kModelFileMagic, UINT32_MAX);
  if (version != kModelFileVersion)
    fail({r.source(), 0, ""},
         fmt::format("{} format version {}; this build reads version {} only (fit and save the "
                     "model again)",
                     kModelFileMagic, version, kModelFileVersion));
  return r.string();
}

void check_model_classes(const BinaryReader& r, const std::string& model, std::uint64_t n_classes,
                         const std::vector<std::int32_t>& classes) {
  if (n_classes == 0 || n_classes > kMaxModelClasses)
    fail({r.source(), 0, "n_classes"},
         fmt::format("{} model: expected a label space of 1 to {} classes, got {}", model,
                     kMaxModelClasses, n_classes));
  if (classes.empty())
    fail({r.source(), 0, "classes"},
         fmt::format("{} model: expected at least 1 class, got none", model));
  for (std::size_t i = 0; i < classes.size(); ++i) {
    const std::int32_t c = classes[i];
    if (c < 0 || static_cast<std::uint64_t>(c) >= n_classes || (i > 0 && c <= classes[i - 1]))
      fail({r.source(), 0, "classes"},
           fmt::format("{} model: expected class ids ascending, unique and in [0, {}) (the label "
                       "space), got {} at position {}{}",
                       model, n_classes, c, i,
                       i > 0 ? fmt::format(" after {}", classes[i - 1]) : std::string()));
  }
}

}  // namespace deferbench
