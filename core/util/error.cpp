#include "core/util/error.h"

namespace deferbench {

std::string format_error(const Where& where, std::string_view message) {
  std::string out;
  if (!where.file.empty()) {
    out += where.file;
    if (where.line > 0) out += fmt::format(":{}", where.line);
    out += ": ";
  } else if (where.line > 0) {
    out += fmt::format("line {}: ", where.line);
  }
  if (!where.field.empty()) out += fmt::format("field '{}': ", where.field);
  out += message;
  // One line: newlines inside the message (from a quoted value, say) would break that promise.
  for (char& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  return out;
}

std::string excerpt(std::string_view text, std::size_t max_bytes) {
  const bool cut = text.size() > max_bytes;
  std::size_t n = cut ? max_bytes : text.size();
  // Do not split a UTF-8 sequence: back off over continuation bytes (10xxxxxx), at most 3.
  if (cut)
    for (int k = 0; k < 3 && n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80; ++k)
      --n;
  std::string out(text.substr(0, n));
  for (char& c : out)  // control characters (a NUL would end what()) become spaces
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = ' ';
  if (cut) out += "…";
  return out;
}

void fail(const Where& where, std::string_view message) {
  throw Error(format_error(where, message));
}

void assertion_failed(const char* expr, const char* file, int line, const std::string& message) {
  throw std::logic_error(fmt::format("internal error (a bug in deferbench): {}:{}: {} failed{}{}",
                                     file, line, expr, message.empty() ? "" : ": ", message));
}

}  // namespace deferbench
