#include "core/data/npy.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/util/atomic_file.h"
#include "core/util/error.h"

namespace deferbench {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = 6;
constexpr const char* kAccepted = "'<f4' (float32) or '<f8' (float64)";

bool host_is_little_endian() {
  const std::uint16_t one = 1;
  unsigned char first = 0;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

// A value of the Python literal that is the .npy header: only what numpy writes there.
struct PyValue {
  enum class Kind { kString, kBool, kNone, kInt, kTuple, kList, kDict };
  Kind kind = Kind::kNone;
  std::string text;               // kString: the string; otherwise the literal's source text
  bool flag = false;              // kBool
  std::uint64_t number = 0;       // kInt (non-negative only: shapes)
  std::vector<PyValue> items;     // kTuple, kList, kDict values
  std::vector<std::string> keys;  // kDict keys (strings)
};

// A small recursive-descent parser for the header dict (no Python at run time). Throws Error,
// naming the file, on anything it does not understand.
class PyLiteralParser {
 public:
  PyLiteralParser(std::string_view text, std::string file) : s_(text), file_(std::move(file)) {}

  PyValue parse_top() {
    PyValue v = value(0);
    skip_space();
    if (pos_ != s_.size()) error("unexpected text after the dict");
    if (v.kind != PyValue::Kind::kDict) error("the header is not a dict");
    return v;
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    fail({file_, 0, ""},
         fmt::format("unreadable .npy header ({} at offset {}); expected a dict like "
                     "{{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }}",
                     what, pos_));
  }

  void skip_space() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }

  bool eat(char c) {
    skip_space();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  PyValue value(int depth) {
    if (depth > 16) error("nesting too deep");
    skip_space();
    if (pos_ >= s_.size()) error("unexpected end");
    const std::size_t start = pos_;
    const char c = s_[pos_];
    PyValue v;
    if (c == '\'' || c == '"') {
      v.kind = PyValue::Kind::kString;
      v.text = string_literal();
      return v;
    }
    if (c == '{') {
      ++pos_;
      v.kind = PyValue::Kind::kDict;
      while (!eat('}')) {
        skip_space();
        if (pos_ >= s_.size() || (s_[pos_] != '\'' && s_[pos_] != '"'))
          error("expected a quoted key");
        v.keys.push_back(string_literal());
        if (!eat(':')) error("expected ':' after a key");
        v.items.push_back(value(depth + 1));
        if (!eat(',')) {
          if (!eat('}')) error("expected ',' or '}'");
          break;
        }
      }
      v.text = std::string(s_.substr(start, pos_ - start));
      return v;
    }
    if (c == '(' || c == '[') {
      const char close = c == '(' ? ')' : ']';
      ++pos_;
      v.kind = c == '(' ? PyValue::Kind::kTuple : PyValue::Kind::kList;
      while (!eat(close)) {
        v.items.push_back(value(depth + 1));
        if (!eat(',')) {
          if (!eat(close)) error(fmt::format("expected ',' or '{}'", close));
          break;
        }
      }
      v.text = std::string(s_.substr(start, pos_ - start));
      return v;
    }
    if (c >= '0' && c <= '9') {
      std::uint64_t n = 0;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
        const auto digit = static_cast<std::uint64_t>(s_[pos_] - '0');
        if (n > (std::numeric_limits<std::uint64_t>::max() - digit) / 10)
          error("integer too large");
        n = n * 10 + digit;
        ++pos_;
      }
      if (pos_ < s_.size() && (s_[pos_] == 'L' || s_[pos_] == 'l')) ++pos_;  // Python 2 longs
      v.kind = PyValue::Kind::kInt;
      v.number = n;
      v.text = std::string(s_.substr(start, pos_ - start));
      return v;
    }
    std::size_t end = pos_;
    while (end < s_.size() && std::isalpha(static_cast<unsigned char>(s_[end]))) ++end;
    const std::string_view word = s_.substr(pos_, end - pos_);
    if (word == "True" || word == "False") {
      v.kind = PyValue::Kind::kBool;
      v.flag = word == "True";
    } else if (word == "None") {
      v.kind = PyValue::Kind::kNone;
    } else {
      error(fmt::format("unexpected character '{}'", c));
    }
    pos_ = end;
    v.text = std::string(word);
    return v;
  }

  std::string string_literal() {
    const char quote = s_[pos_++];
    std::string out;
    while (pos_ < s_.size() && s_[pos_] != quote) {
      if (s_[pos_] == '\\' && pos_ + 1 < s_.size()) ++pos_;
      out += s_[pos_++];
    }
    if (pos_ >= s_.size()) error("unterminated string");
    ++pos_;
    return out;
  }

  std::string_view s_;
  std::string file_;
  std::size_t pos_ = 0;
};

std::string shape_text(const std::vector<std::uint64_t>& shape) {
  if (shape.size() == 1) return fmt::format("({},)", shape[0]);
  return fmt::format("({})", fmt::join(shape, ", "));
}

// `index` is the flat (row-major) position of the offending value.
[[noreturn]] void fail_value(const std::string& file, std::uint64_t index, std::uint64_t cols,
                             double value) {
  const std::string what = std::isnan(value) ? "NaN"
                           : std::isinf(value)
                               ? (value > 0 ? "+inf" : "-inf")
                               : fmt::format("{} (outside the float32 range)", value);
  fail({file, 0, ""},
       fmt::format("row {} (1-based), column {} (1-based) holds {}; expected finite numbers",
                   index / cols + 1, index % cols + 1, what));
}

// What the preamble and header of a .npy file say.
struct NpyLayout {
  std::uint64_t data_offset = 0;  // where the values start
  std::string dtype;              // '<f4' or '<f8'
  std::size_t item_size = 0;      // 4 or 8
  std::vector<std::uint64_t> shape;
};

// Reads the magic, version and header length; returns the header text and sets data_offset.
std::string read_header_text(std::ifstream& in, const Where& where, std::uintmax_t file_size,
                             NpyLayout& layout) {
  char preamble[kMagicSize + 2];
  const std::size_t got = std::min<std::uintmax_t>(sizeof(preamble), file_size);
  in.read(preamble, static_cast<std::streamsize>(got));
  if (got < kMagicSize || std::memcmp(preamble, kMagic, kMagicSize) != 0)
    fail(where, "not a .npy file (expected the magic bytes \\x93NUMPY at the start)");
  if (got < sizeof(preamble)) fail(where, "the .npy header is truncated");
  const int major = static_cast<unsigned char>(preamble[6]);
  const int minor = static_cast<unsigned char>(preamble[7]);
  if (major < 1 || major > 3)
    fail(where, fmt::format("unsupported .npy format version {}.{} (expected 1.0, 2.0 or 3.0)",
                            major, minor));

  const std::size_t len_bytes = major == 1 ? 2 : 4;
  unsigned char len_buf[4] = {0, 0, 0, 0};
  in.read(reinterpret_cast<char*>(len_buf), static_cast<std::streamsize>(len_bytes));
  if (!in) fail(where, "the .npy header is truncated");
  std::uint64_t header_len = 0;
  for (std::size_t i = len_bytes; i-- > 0;) header_len = (header_len << 8) | len_buf[i];
  layout.data_offset = kMagicSize + 2 + len_bytes + header_len;
  if (layout.data_offset > file_size)
    fail(where, fmt::format("the .npy header is truncated (it says {} bytes, the file has {})",
                            header_len, file_size - (kMagicSize + 2 + len_bytes)));
  std::string header(static_cast<std::size_t>(header_len), '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  if (!in) fail(where, "the .npy header is truncated");
  return header;
}

// The dtype, order and shape of the header dict, checked: a 2-D C-order <f4 or <f8 array.
void read_header_dict(const std::string& header, const Where& where, NpyLayout& layout) {
  const PyValue dict = PyLiteralParser(header, where.file).parse_top();
  const PyValue* descr = nullptr;
  const PyValue* fortran = nullptr;
  const PyValue* shape_value = nullptr;
  for (std::size_t i = 0; i < dict.keys.size(); ++i) {
    if (dict.keys[i] == "descr") descr = &dict.items[i];
    if (dict.keys[i] == "fortran_order") fortran = &dict.items[i];
    if (dict.keys[i] == "shape") shape_value = &dict.items[i];
  }
  for (const auto& [key, value] : {std::pair{"descr", descr}, std::pair{"fortran_order", fortran},
                                   std::pair{"shape", shape_value}}) {
    if (value == nullptr)
      fail(where, fmt::format("unreadable .npy header: the key '{}' is missing (expected "
                              "'descr', 'fortran_order' and 'shape')",
                              key));
  }

  const bool is_string = descr->kind == PyValue::Kind::kString;
  layout.dtype = descr->text;
  if (is_string && layout.dtype == "<f4") layout.item_size = 4;
  if (is_string && layout.dtype == "<f8") layout.item_size = 8;
  if (layout.item_size == 0)
    fail(where, fmt::format("unsupported dtype {}{}{} (expected {})", is_string ? "'" : "",
                            excerpt(layout.dtype), is_string ? "'" : "", kAccepted));

  if (fortran->kind != PyValue::Kind::kBool)
    fail(where, fmt::format("unreadable .npy header: 'fortran_order' is {} (expected True or "
                            "False)",
                            excerpt(fortran->text)));
  if (fortran->flag)
    fail(where,
         "the array is in Fortran order (fortran_order: True); expected C order "
         "(save it with numpy.ascontiguousarray)");

  if (shape_value->kind != PyValue::Kind::kTuple)
    fail(where, fmt::format("unreadable .npy header: 'shape' is {} (expected a tuple)",
                            excerpt(shape_value->text)));
  for (const PyValue& d : shape_value->items) {
    if (d.kind != PyValue::Kind::kInt)
      fail(where, fmt::format("unreadable .npy header: 'shape' is {} (expected a tuple of "
                              "non-negative integers)",
                              excerpt(shape_value->text)));
    layout.shape.push_back(d.number);
  }
  if (layout.shape.size() != 2)
    fail(where, fmt::format("the array has shape {} ({}-D); expected a 2-D array (rows, columns)",
                            excerpt(shape_text(layout.shape)), layout.shape.size()));
}

// Reads rows × cols values of the layout's dtype as floats, rejecting non-finite values and
// float64 values outside the float32 range.
std::vector<float> read_values(std::ifstream& in, const Where& where, const NpyLayout& layout,
                               std::uint64_t count, std::uint64_t cols) {
  const auto n = static_cast<std::size_t>(count);
  std::vector<float> values(n);
  if (layout.item_size == 4) {
    in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(n * 4));
    if (!in) fail(where, "read failed");
    for (std::size_t k = 0; k < n; ++k)
      if (!std::isfinite(values[k])) fail_value(where.file, k, cols, values[k]);
    return values;
  }
  constexpr double kMaxFloat = std::numeric_limits<float>::max();
  constexpr std::size_t kChunk = 1 << 16;
  std::vector<double> buffer(std::min<std::size_t>(kChunk, n));
  for (std::size_t done = 0; done < n;) {
    const std::size_t take = std::min(kChunk, n - done);
    in.read(reinterpret_cast<char*>(buffer.data()),
            static_cast<std::streamsize>(take * sizeof(double)));
    if (!in) fail(where, "read failed");
    for (std::size_t k = 0; k < take; ++k) {
      const double x = buffer[k];
      if (!(std::fabs(x) <= kMaxFloat)) fail_value(where.file, done + k, cols, x);
      values[done + k] = static_cast<float>(x);
    }
    done += take;
  }
  return values;
}

}  // namespace

Matrix read_npy(const std::filesystem::path& path) {
  const std::string file = path.string();
  const Where where{file, 0, ""};
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail(where, "file not found (expected a .npy file)");
  const std::uintmax_t file_size = std::filesystem::file_size(path, ec);
  if (ec) fail(where, "cannot read the file size: " + ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(where, "cannot open for reading");
  if (file_size == 0) fail(where, "empty file (expected a .npy array)");

  NpyLayout layout;
  read_header_dict(read_header_text(in, where, file_size, layout), where, layout);
  const std::vector<std::uint64_t>& shape = layout.shape;
  const std::uint64_t rows = shape[0], cols = shape[1];
  const std::uint64_t available = file_size - layout.data_offset;
  const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() / layout.item_size;
  if (cols != 0 && rows > limit / cols)
    fail(where, fmt::format("the shape {} is too large", shape_text(shape)));
  const std::uint64_t count = rows * cols;
  const std::uint64_t needed = count * layout.item_size;
  if (available < needed)
    fail(where, fmt::format("the data is truncated: shape {} of {} needs {} bytes, the file has {}",
                            shape_text(shape), layout.dtype, needed, available));

  DB_ASSERT_MSG(host_is_little_endian(), "the .npy reader assumes a little-endian host");
  std::vector<float> values = read_values(in, where, layout, count, cols);
  return Matrix(static_cast<std::size_t>(rows), static_cast<std::size_t>(cols), std::move(values));
}

void write_npy(const std::filesystem::path& path, MatrixView m) {
  DB_ASSERT_MSG(host_is_little_endian(), "the .npy writer assumes a little-endian host");
  std::string header = fmt::format(
      "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", m.rows(), m.cols());
  // Magic (6) + version (2) + length (2) + header, padded with spaces and ended by '\n' so that
  // the data starts on a 64-byte boundary.
  const std::size_t prefix = kMagicSize + 2 + 2;
  const std::size_t total = (prefix + header.size() + 1 + 63) / 64 * 64;
  header.append(total - prefix - header.size() - 1, ' ');
  header += '\n';
  DB_ASSERT(header.size() <= 0xFFFF);

  AtomicFile file(path);
  std::ostream& out = file.stream();
  out.write(kMagic, kMagicSize);
  const char version[2] = {1, 0};
  out.write(version, 2);
  const unsigned char len[2] = {static_cast<unsigned char>(header.size() & 0xFF),
                                static_cast<unsigned char>(header.size() >> 8)};
  out.write(reinterpret_cast<const char*>(len), 2);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  if (m.size() > 0)
    out.write(reinterpret_cast<const char*>(m.data()),
              static_cast<std::streamsize>(m.size() * sizeof(float)));
  file.commit();
}

}  // namespace deferbench
