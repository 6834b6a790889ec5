#include "core/data/npy.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/util/error.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// The bytes of a .npy file: magic, version, header length (2 bytes for 1.0, 4 for 2.0/3.0), the
// header dict (padded so the data starts on a 64-byte boundary) and `data`.
std::string npy_bytes(int major, const std::string& dict, const std::string& data) {
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  std::string header = dict;
  const std::size_t prefix = 8 + len_bytes;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  for (std::size_t i = 0; i < len_bytes; ++i)
    out += static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  return out + header + data;
}

template <class T>
std::string raw(const std::vector<T>& values) {
  std::string out(values.size() * sizeof(T), '\0');
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

std::string f4_dict(const std::string& shape) {
  return "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
}

// The message of the Error that reading `bytes` (as `name`) throws.
std::string read_error(const testing::TempDir& dir, const std::string& name,
                       const std::string& bytes) {
  auto p = dir.write(name, bytes);
  try {
    read_npy(p);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "reading " << name << " did not throw";
  return "";
}

TEST(NpyTest, RoundTripSeveralShapes) {
  testing::TempDir dir;
  for (auto [rows, cols] :
       {std::pair<std::size_t, std::size_t>{1, 1}, {3, 4}, {17, 5}, {1000, 3}, {0, 7}, {0, 0}}) {
    Matrix m(rows, cols);
    for (std::size_t i = 0; i < m.size(); ++i)
      m.data()[i] = static_cast<float>(i) * 0.37f - 11.5f + (i % 3 == 0 ? 1e-7f : 3.1e6f);
    auto p = dir / ("m" + std::to_string(rows) + "x" + std::to_string(cols) + ".npy");
    write_npy(p, m);
    Matrix back = read_npy(p);
    EXPECT_EQ(back.rows(), rows);
    EXPECT_EQ(back.cols(), cols);
    EXPECT_EQ(back.values(), m.values());  // bit-exact
  }
}

TEST(NpyTest, WriterHeaderIsV1PaddedTo64) {
  testing::TempDir dir;
  Matrix m(2, 3, 1.5f);
  write_npy(dir / "a.npy", m);
  std::ifstream in(dir / "a.npy", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GE(bytes.size(), 10u);
  EXPECT_EQ(bytes.substr(0, 6), "\x93NUMPY");
  EXPECT_EQ(bytes[6], 1);
  EXPECT_EQ(bytes[7], 0);
  const std::size_t header_len =
      static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
  EXPECT_EQ((10 + header_len) % 64, 0u);
  EXPECT_EQ(bytes.size(), 10 + header_len + 6 * sizeof(float));
  const std::string header = bytes.substr(10, header_len);
  EXPECT_THAT(header, HasSubstr("'descr': '<f4'"));
  EXPECT_THAT(header, HasSubstr("'fortran_order': False"));
  EXPECT_THAT(header, HasSubstr("'shape': (2, 3)"));
  EXPECT_EQ(header.back(), '\n');
}

TEST(NpyTest, AtomicWriteLeavesNoTemporary) {
  testing::TempDir dir;
  write_npy(dir / "x.npy", Matrix(4, 2, 0.25f));
  write_npy(dir / "x.npy", Matrix(5, 2, 0.5f));  // overwrite
  EXPECT_EQ(testing::count_files(dir.path()), 1u);
  EXPECT_EQ(read_npy(dir / "x.npy").rows(), 5u);
}

TEST(NpyTest, ReadsHandBuiltFloat64V1) {
  testing::TempDir dir;
  std::vector<double> v = {1.0, -2.5, 3.25, 1e-3, 1e30, -0.0};
  auto p = dir.write("f8.npy", npy_bytes(1,
                                         "{'descr': '<f8', 'fortran_order': False, "
                                         "'shape': (2, 3), }",
                                         raw(v)));
  Matrix m = read_npy(p);
  ASSERT_EQ(m.rows(), 2u);
  ASSERT_EQ(m.cols(), 3u);
  for (std::size_t i = 0; i < v.size(); ++i) EXPECT_EQ(m.data()[i], static_cast<float>(v[i]));
}

TEST(NpyTest, ReadsV2AndV3Headers) {
  testing::TempDir dir;
  std::vector<float> v = {1, 2, 3, 4, 5, 6, 7, 8};
  for (int major : {2, 3}) {
    // Key order and spacing differ from numpy's; Python 2 longs in the shape.
    auto p = dir.write(
        "v" + std::to_string(major) + ".npy",
        npy_bytes(major, "{\"shape\":(4L,2L),'fortran_order':False,'descr':'<f4'}", raw(v)));
    Matrix m = read_npy(p);
    EXPECT_EQ(m.rows(), 4u);
    EXPECT_EQ(m.cols(), 2u);
    EXPECT_EQ(m.values(), v);
  }
}

TEST(NpyTest, ErrorEmptyFile) {
  testing::TempDir dir;
  EXPECT_THAT(read_error(dir, "empty.npy", ""),
              AllOf(HasSubstr("empty.npy"), HasSubstr("empty file")));
}

TEST(NpyTest, ErrorMissingFile) {
  testing::TempDir dir;
  try {
    read_npy(dir / "nope.npy");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("nope.npy"), HasSubstr("not found")));
  }
}

TEST(NpyTest, ErrorBadMagic) {
  testing::TempDir dir;
  EXPECT_THAT(read_error(dir, "text.npy", "a,b,c\n1,2,3\n"),
              AllOf(HasSubstr("text.npy"), HasSubstr("not a .npy file"), HasSubstr("magic")));
  EXPECT_THAT(read_error(dir, "short.npy", "\x93NU"), HasSubstr("not a .npy file"));
}

TEST(NpyTest, ErrorGarbledHeader) {
  testing::TempDir dir;
  EXPECT_THAT(read_error(dir, "g1.npy", npy_bytes(1, "{'descr': '<f4', 'fortran_order': Fals", "")),
              AllOf(HasSubstr("g1.npy"), HasSubstr("unreadable .npy header")));
  EXPECT_THAT(read_error(dir, "g2.npy", npy_bytes(1, "not a dict", "")),
              AllOf(HasSubstr("g2.npy"), HasSubstr("unreadable .npy header")));
  EXPECT_THAT(
      read_error(dir, "g3.npy", npy_bytes(1, "{'descr': '<f4', 'fortran_order': False}", "")),
      AllOf(HasSubstr("g3.npy"), HasSubstr("'shape' is missing")));
  // The header length points past the end of the file.
  std::string truncated = npy_bytes(1, f4_dict("(1, 1)"), "");
  truncated.resize(30);
  EXPECT_THAT(read_error(dir, "g4.npy", truncated),
              AllOf(HasSubstr("g4.npy"), HasSubstr("header is truncated")));
}

TEST(NpyTest, ErrorUnsupportedDtype) {
  testing::TempDir dir;
  for (const std::string dtype : {"<i8", ">f4", "<f2", "|u1"}) {
    auto msg = read_error(
        dir, "d.npy",
        npy_bytes(1, "{'descr': '" + dtype + "', 'fortran_order': False, 'shape': (1, 1), }",
                  std::string(8, '\0')));
    EXPECT_THAT(msg, AllOf(HasSubstr("d.npy"), HasSubstr("unsupported dtype '" + dtype + "'"),
                           HasSubstr("'<f4'"), HasSubstr("'<f8'")));
  }
  // A structured dtype (a list) is named as written.
  auto msg = read_error(dir, "s.npy",
                        npy_bytes(1,
                                  "{'descr': [('a', '<f4')], 'fortran_order': False, "
                                  "'shape': (1, 1), }",
                                  std::string(4, '\0')));
  EXPECT_THAT(msg, AllOf(HasSubstr("unsupported dtype [('a', '<f4')]"), HasSubstr("'<f8'")));
}

TEST(NpyTest, ErrorFortranOrder) {
  testing::TempDir dir;
  auto msg = read_error(dir, "f.npy",
                        npy_bytes(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
                                  std::string(16, '\0')));
  EXPECT_THAT(msg, AllOf(HasSubstr("f.npy"), HasSubstr("Fortran order"), HasSubstr("C order")));
}

TEST(NpyTest, ErrorNot2D) {
  testing::TempDir dir;
  EXPECT_THAT(read_error(dir, "one.npy", npy_bytes(1, f4_dict("(3,)"), std::string(12, '\0'))),
              AllOf(HasSubstr("one.npy"), HasSubstr("shape (3,)"), HasSubstr("1-D"),
                    HasSubstr("expected a 2-D array")));
  EXPECT_THAT(
      read_error(dir, "three.npy", npy_bytes(1, f4_dict("(2, 2, 2)"), std::string(32, '\0'))),
      AllOf(HasSubstr("three.npy"), HasSubstr("shape (2, 2, 2)"), HasSubstr("3-D")));
  EXPECT_THAT(read_error(dir, "scalar.npy", npy_bytes(1, f4_dict("()"), std::string(4, '\0'))),
              AllOf(HasSubstr("scalar.npy"), HasSubstr("0-D")));
}

TEST(NpyTest, ErrorTruncatedData) {
  testing::TempDir dir;
  auto msg = read_error(dir, "t.npy", npy_bytes(1, f4_dict("(3, 4)"), std::string(40, '\0')));
  EXPECT_THAT(msg, AllOf(HasSubstr("t.npy"), HasSubstr("truncated"), HasSubstr("needs 48 bytes"),
                         HasSubstr("has 40")));
}

TEST(NpyTest, ErrorNaNAndInfNameRowAndColumn) {
  testing::TempDir dir;
  std::vector<float> v(12, 1.0f);
  v[2 * 4 + 1] = std::numeric_limits<float>::quiet_NaN();  // row 3, column 2 (1-based)
  EXPECT_THAT(read_error(dir, "nan.npy", npy_bytes(1, f4_dict("(3, 4)"), raw(v))),
              AllOf(HasSubstr("nan.npy"), HasSubstr("row 3 (1-based), column 2 (1-based)"),
                    HasSubstr("NaN")));
  std::vector<double> d(6, 0.5);
  d[5] = -std::numeric_limits<double>::infinity();  // row 2, column 3
  EXPECT_THAT(read_error(dir, "inf.npy",
                         npy_bytes(1,
                                   "{'descr': '<f8', 'fortran_order': False, "
                                   "'shape': (2, 3), }",
                                   raw(d))),
              AllOf(HasSubstr("inf.npy"), HasSubstr("row 2 (1-based), column 3 (1-based)"),
                    HasSubstr("-inf")));
  d[5] = 1e300;  // finite as a double, infinite as a float
  EXPECT_THAT(read_error(dir, "big.npy",
                         npy_bytes(1,
                                   "{'descr': '<f8', 'fortran_order': False, "
                                   "'shape': (2, 3), }",
                                   raw(d))),
              AllOf(HasSubstr("row 2 (1-based), column 3 (1-based)"), HasSubstr("float32 range")));
}

TEST(NpyTest, HugeHeaderValuesAreQuotedShort) {
  testing::TempDir dir;
  const std::string long_text(5000, 'q');
  auto p = dir / "dtype.npy";
  std::ofstream(p, std::ios::binary)
      << npy_bytes(1, "{'descr': '" + long_text + "', 'fortran_order': False, 'shape': (1, 1), }",
                   raw(std::vector<float>{1.0f}));
  std::string message = testing::error_of([&] { read_npy(p); });
  EXPECT_LT(message.size(), 300u) << message.substr(0, 1000);
  EXPECT_THAT(message,
              AllOf(HasSubstr(p.string()), HasSubstr("unsupported dtype 'qqq"), HasSubstr("…")));

  p = dir / "shape.npy";
  std::string shape = "(";
  for (int i = 0; i < 2000; ++i) shape += "1, ";
  std::ofstream(p, std::ios::binary)
      << npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + "), }", "");
  message = testing::error_of([&] { read_npy(p); });
  EXPECT_LT(message.size(), 300u) << message.substr(0, 1000);
  EXPECT_THAT(message, AllOf(HasSubstr("(1, 1, 1"), HasSubstr("2000-D")));
}

}  // namespace
}  // namespace deferbench
