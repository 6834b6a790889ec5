// File checksums: XXH3-128 (libxxhash) of a file's bytes, written "xxh3-128:<32 hex digits>".
// They detect damage and edits of files whose checksum was recorded (a policy folder's files);
// they are not a signature: whoever can edit the files can edit the recorded checksums too.
#pragma once

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>

namespace deferbench {

inline constexpr std::string_view kChecksumPrefix = "xxh3-128:";

// "xxh3-128:" and the 128-bit hash of the file's bytes as 32 lower-case hex digits (high half
// first, as xxh128sum prints it). An unreadable file is a deferbench::Error naming it.
std::string file_checksum(const std::filesystem::path& file);

// The same for bytes in memory.
std::string checksum_of(std::string_view bytes);

// A number in (0, 1] determined by bytes: the XXH3-64 hash of `parts` (in order, as one stream)
// seeded by `salt`, its top 53 bits as a fraction. The same bytes and salt give the same number
// on every run; bytes drawn at random give numbers that behave as independent uniform draws
// (the calibration's randomized test draws its u this way from the calibration rows, family.h).
double hashed_unit_draw(std::initializer_list<std::string_view> parts, std::uint64_t salt);

}  // namespace deferbench
