#include "core/util/atomic_file.h"

#include <unistd.h>

#include <atomic>
#include <system_error>

#include <fmt/format.h>

#include "core/util/error.h"

namespace deferbench {
namespace {

// How much of a path an error quotes (paths are longer than other quoted input).
constexpr std::size_t kPathExcerpt = 240;

std::filesystem::path temporary_name(const std::filesystem::path& path) {
  static std::atomic<unsigned> counter{0};
  return path.parent_path() /
         fmt::format(".{}.tmp-{}-{}", path.filename().string(), ::getpid(), counter++);
}

}  // namespace

void check_output_folder(const std::filesystem::path& dir, std::string_view what,
                         bool must_be_empty) {
  namespace fs = std::filesystem;
  const fs::path full = fs::absolute(dir).lexically_normal();
  std::error_code ec;
  fs::path existing = full;
  while (!fs::exists(existing, ec) && existing.has_relative_path())
    existing = existing.parent_path();
  if (!fs::is_directory(existing, ec))
    fail({}, fmt::format("{}: {}: {} is a file, not a folder", what,
                         excerpt(dir.string(), kPathExcerpt),
                         excerpt(existing.string(), kPathExcerpt)));
  if (existing == full && must_be_empty && !fs::is_empty(existing, ec))
    fail({}, fmt::format("{}: {}: the folder exists and is not empty (choose a new one)", what,
                         excerpt(dir.string(), kPathExcerpt)));
  if (::access(existing.c_str(), W_OK | X_OK) != 0)
    fail({}, fmt::format("{}: {}: cannot write in {} (permission denied)", what,
                         excerpt(dir.string(), kPathExcerpt),
                         excerpt(existing.string(), kPathExcerpt)));
}

void check_output_file(const std::filesystem::path& file, std::string_view what) {
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec))
    fail({}, fmt::format("{}: {}: is a folder; expected a file name", what,
                         excerpt(file.string(), kPathExcerpt)));
  const std::filesystem::path parent = std::filesystem::absolute(file).parent_path();
  check_output_folder(parent, what);
  if (std::filesystem::exists(file, ec) && ::access(file.c_str(), W_OK) != 0)
    fail({}, fmt::format("{}: {}: cannot write it (permission denied)", what,
                         excerpt(file.string(), kPathExcerpt)));
}

bool same_file(const std::filesystem::path& a, const std::filesystem::path& b) {
  std::error_code ec;
  return std::filesystem::equivalent(a, b, ec) && !ec;
}

AtomicFile::AtomicFile(std::filesystem::path path)
    : path_(std::move(path)), tmp_(temporary_name(path_)) {
  if (path_.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(path_.parent_path(), ec);
  }
  out_.open(tmp_, std::ios::binary | std::ios::trunc);
  if (!out_) fail({path_.string(), 0, ""}, "cannot open for writing");
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    out_.close();
    std::error_code ec;
    std::filesystem::remove(tmp_, ec);
  }
}

void AtomicFile::commit() {
  out_.flush();
  if (!out_) fail({path_.string(), 0, ""}, "write failed (disk full?)");
  out_.close();
  std::error_code ec;
  std::filesystem::rename(tmp_, path_, ec);
  if (ec) fail({path_.string(), 0, ""}, "cannot rename temporary file: " + ec.message());
  committed_ = true;
}

std::string read_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail({path.string(), 0, ""}, "file not found");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail({path.string(), 0, ""}, "cannot open for reading");
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) fail({path.string(), 0, ""}, "cannot read the file size: " + ec.message());
  std::string content(static_cast<std::size_t>(size), '\0');
  in.read(content.data(), static_cast<std::streamsize>(size));
  if (!in) fail({path.string(), 0, ""}, "read failed");
  return content;
}

void write_file_atomic(const std::filesystem::path& path, std::string_view content) {
  AtomicFile file(path);
  file.stream().write(content.data(), static_cast<std::streamsize>(content.size()));
  file.commit();
}

}  // namespace deferbench
