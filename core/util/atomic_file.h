// Reading whole files, and writing them safely: every output file is written to a temporary name
// beside its destination, then renamed: a reader never sees a half-written file, and a crash leaves
// at most a stray temporary.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace deferbench {

// The whole content of a file; a missing or unreadable file is a deferbench::Error naming it.
std::string read_file(const std::filesystem::path& path);

// Writes `content` to `path` atomically (temporary file in the same folder, then rename).
void write_file_atomic(const std::filesystem::path& path, std::string_view content);

// Output paths are checked before any work, so a bad one costs the user nothing: each throws
// deferbench::Error naming `what` (the option or key that gave the path), the path and why.
// A folder that exists, or can be created: every existing part of it is a folder (not a file)
// and the deepest existing one is writable. `must_be_empty`: an existing folder must be empty.
void check_output_folder(const std::filesystem::path& dir, std::string_view what,
                         bool must_be_empty = false);
// A file that can be written: not a folder, in a folder check_output_folder accepts.
void check_output_file(const std::filesystem::path& file, std::string_view what);
// Whether two paths name the same existing file (by identity: links and relative paths
// resolved), so an output never overwrites an input.
bool same_file(const std::filesystem::path& a, const std::filesystem::path& b);

// A binary output stream that becomes `path` only when commit() is called. If the object is
// destroyed without commit() (an exception, say), the temporary file is removed.
class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  std::ofstream& stream() { return out_; }
  void commit();

 private:
  std::filesystem::path path_;
  std::filesystem::path tmp_;
  std::ofstream out_;
  bool committed_ = false;
};

}  // namespace deferbench
