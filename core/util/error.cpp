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

void fail(const Where& where, std::string_view message) {
  throw Error(format_error(where, message));
}

void assertion_failed(const char* expr, const char* file, int line, const std::string& message) {
  throw std::logic_error(fmt::format("internal error (a bug in deferbench): {}:{}: {} failed{}{}",
                                     file, line, expr, message.empty() ? "" : ": ", message));
}

}  // namespace deferbench
