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

}  // namespace deferbench
