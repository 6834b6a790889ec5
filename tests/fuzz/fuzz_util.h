// Shared pieces of the libFuzzer targets: a per-process scratch folder for readers that take a
// path, and the checks every deferbench::Error message must pass (one line, bounded length:
// messages quote user input through excerpt(), so a huge input never makes a huge message).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace deferbench::fuzz {

// A folder of its own for this process (libFuzzer's -jobs/-fork run several), made on first use
// and reused by every run; removed at exit.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path base = std::filesystem::temp_directory_path();
    if (std::filesystem::is_directory("/dev/shm")) base = "/dev/shm";  // no disk writes per run
    std::filesystem::path d = base / ("deferbench-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return d;
  }();
  return dir;
}

// Writes the fuzz input to scratch_dir()/name (replacing what the last run left) and returns it.
inline std::filesystem::path write_input(const std::string& name, const std::uint8_t* data,
                                         std::size_t size) {
  const std::filesystem::path p = scratch_dir() / name;
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", p.c_str());
    std::abort();
  }
  return p;
}

// An Error message must be one line and at most `max_bytes` long; anything else is a finding
// (abort, so that libFuzzer saves the input).
inline void check_message(std::string_view message, std::size_t max_bytes) {
  if (message.find('\n') != std::string_view::npos || message.size() > max_bytes) {
    std::fprintf(stderr,
                 "fuzz: bad error message (%zu bytes, one line expected, at most %zu): %.*s\n",
                 message.size(), max_bytes,
                 static_cast<int>(std::min<std::size_t>(message.size(), 2000)), message.data());
    std::abort();
  }
}

}  // namespace deferbench::fuzz
