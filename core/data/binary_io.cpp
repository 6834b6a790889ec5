#include "core/data/binary_io.h"

#include "core/util/error.h"

namespace deferbench {

void BinaryWriter::header(const std::string& magic, std::uint32_t version) {
  string(magic);
  pod(version);
}

void BinaryWriter::string(const std::string& s) {
  pod<std::uint64_t>(s.size());
  out_.write(s.data(), static_cast<std::streamsize>(s.size()));
}

void BinaryWriter::matrix(MatrixView m) {
  pod<std::uint64_t>(m.rows());
  pod<std::uint64_t>(m.cols());
  out_.write(reinterpret_cast<const char*>(m.data()),
             static_cast<std::streamsize>(m.size() * sizeof(float)));
}

void BinaryReader::read_bytes(char* dst, std::size_t n) {
  in_.read(dst, static_cast<std::streamsize>(n));
  if (static_cast<std::size_t>(in_.gcount()) != n)
    fail({source_, 0, ""}, "file is truncated (expected more data)");
}

void BinaryReader::check_size(std::uint64_t count, std::size_t elem) {
  // A corrupt length must not trigger a huge allocation: it cannot exceed what is left.
  auto here = in_.tellg();
  in_.seekg(0, std::ios::end);
  auto end = in_.tellg();
  in_.seekg(here);
  if (here < 0 || end < 0) return;  // not seekable: rely on read_bytes
  auto left = static_cast<std::uint64_t>(end - here);
  if (count > left / (elem == 0 ? 1 : elem))
    fail({source_, 0, ""}, "file is truncated or corrupt (a length exceeds the bytes left)");
}

std::uint32_t BinaryReader::header(const std::string& magic, std::uint32_t max_version) {
  auto n = pod<std::uint64_t>();
  if (n != magic.size()) fail({source_, 0, ""}, "not a " + magic + " file");
  std::string got(n, '\0');
  read_bytes(got.data(), n);
  if (got != magic) fail({source_, 0, ""}, "not a " + magic + " file");
  auto version = pod<std::uint32_t>();
  if (version > max_version)
    fail({source_, 0, ""}, fmt::format("{} format version {} is newer than this build reads ({})",
                                       magic, version, max_version));
  return version;
}

std::string BinaryReader::string() {
  auto n = pod<std::uint64_t>();
  check_size(n, 1);
  std::string s(n, '\0');
  read_bytes(s.data(), n);
  return s;
}

void BinaryReader::expect_end() {
  if (in_.peek() != std::char_traits<char>::eof())
    fail({source_, 0, ""}, "unexpected data after the end of the content (corrupt?)");
}

Matrix BinaryReader::matrix() {
  auto rows = pod<std::uint64_t>();
  auto cols = pod<std::uint64_t>();
  if (cols != 0 && rows > UINT64_MAX / cols)  // rows × cols would wrap around
    fail({source_, 0, ""}, "file is truncated or corrupt (a length exceeds the bytes left)");
  check_size(rows * cols, sizeof(float));
  Matrix m(rows, cols);
  read_bytes(reinterpret_cast<char*>(m.data()), m.size() * sizeof(float));
  return m;
}

}  // namespace deferbench
