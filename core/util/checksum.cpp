#include "core/util/checksum.h"

#include <array>
#include <fstream>
#include <memory>

#include <fmt/format.h>
#include <xxhash.h>

#include "core/util/error.h"

namespace deferbench {

namespace {

std::string format_hash(XXH128_hash_t h) {
  return fmt::format("{}{:016x}{:016x}", kChecksumPrefix, h.high64, h.low64);
}

}  // namespace

std::string checksum_of(std::string_view bytes) {
  return format_hash(XXH3_128bits(bytes.data(), bytes.size()));
}

double hashed_unit_draw(std::initializer_list<std::string_view> parts, std::uint64_t salt) {
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(),
                                                                 &XXH3_freeState);
  DB_CHECK(state && XXH3_64bits_reset_withSeed(state.get(), salt) == XXH_OK,
           "xxhash: cannot allocate a state");
  for (std::string_view p : parts) XXH3_64bits_update(state.get(), p.data(), p.size());
  return 1.0 - static_cast<double>(XXH3_64bits_digest(state.get()) >> 11) * 0x1.0p-53;
}

std::string file_checksum(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail({file.string(), 0, ""}, "cannot open");
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(),
                                                                 &XXH3_freeState);
  DB_CHECK(state && XXH3_128bits_reset(state.get()) == XXH_OK, "xxhash: cannot allocate a state");
  std::array<char, 1 << 16> buf;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const std::streamsize n = in.gcount();
    if (n > 0) XXH3_128bits_update(state.get(), buf.data(), static_cast<std::size_t>(n));
  }
  if (in.bad()) fail({file.string(), 0, ""}, "read error");
  return format_hash(XXH3_128bits_digest(state.get()));
}

}  // namespace deferbench
