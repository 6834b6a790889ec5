// Little helpers for the binary artifact files (models, featurizers): a magic tag and a format
// version at the start, then length-prefixed values. Reading checks every length against the
// bytes left and throws deferbench::Error naming the file on truncation or a foreign file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <istream>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#include "core/data/matrix.h"

namespace deferbench {

class BinaryWriter {
 public:
  explicit BinaryWriter(std::ostream& out) : out_(out) {}
  void header(const std::string& magic, std::uint32_t version);
  template <class T>
  void pod(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    out_.write(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  void string(const std::string& s);
  template <class T>
  void vector(const std::vector<T>& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    pod<std::uint64_t>(v.size());
    out_.write(reinterpret_cast<const char*>(v.data()),
               static_cast<std::streamsize>(v.size() * sizeof(T)));
  }
  void matrix(MatrixView m);

 private:
  std::ostream& out_;
};

class BinaryReader {
 public:
  // `source` names the file in messages.
  BinaryReader(std::istream& in, std::string source) : in_(in), source_(std::move(source)) {}
  // Checks the magic tag; returns the version (error if above max_version).
  std::uint32_t header(const std::string& magic, std::uint32_t max_version);
  template <class T>
  T pod() {
    static_assert(std::is_trivially_copyable_v<T>);
    T v{};
    read_bytes(reinterpret_cast<char*>(&v), sizeof(T));
    return v;
  }
  std::string string();
  template <class T>
  std::vector<T> vector() {
    static_assert(std::is_trivially_copyable_v<T>);
    auto n = pod<std::uint64_t>();
    check_size(n, sizeof(T));
    std::vector<T> v(n);
    read_bytes(reinterpret_cast<char*>(v.data()), n * sizeof(T));
    return v;
  }
  Matrix matrix();
  // An error naming the file when bytes are left after what the reader expected to be the end.
  void expect_end();
  const std::string& source() const { return source_; }

 private:
  void read_bytes(char* dst, std::size_t n);
  void check_size(std::uint64_t count, std::size_t elem);
  std::istream& in_;
  std::string source_;
};

}  // namespace deferbench
