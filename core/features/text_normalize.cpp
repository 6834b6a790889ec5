#include "core/features/text_normalize.h"

#include <cstdlib>
#include <memory>

#include <utf8proc.h>

#include "core/util/error.h"

namespace deferbench {

namespace {

// Copies `in`, replacing each byte that does not start a valid UTF-8 sequence (bad lead or
// continuation bytes, overlong forms, surrogates, code points above U+10FFFF) by U+FFFD.
// utf8proc_map rejects invalid input as a whole, so this runs first.
std::string repair_utf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(in.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(in.size());
  while (left > 0) {
    if (*p < 0x80) {  // ASCII fast path
      out.push_back(static_cast<char>(*p));
      ++p;
      --left;
      continue;
    }
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n > 0 && utf8proc_codepoint_valid(cp)) {
      out.append(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
      p += n;
      left -= n;
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD, one per bad byte
      ++p;
      --left;
    }
  }
  return out;
}

}  // namespace

std::string normalize_text(std::string_view utf8) {
  if (utf8.empty()) return {};
  const std::string valid = repair_utf8(utf8);
  utf8proc_uint8_t* mapped = nullptr;
  const auto options = static_cast<utf8proc_option_t>(
      UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD | UTF8PROC_IGNORE);
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(valid.data()),
                                    static_cast<utf8proc_ssize_t>(valid.size()), &mapped, options);
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(mapped, &std::free);
  // The input was repaired above, so a failure here is out of memory or a utf8proc bug.
  DB_ASSERT_MSG(n >= 0, "utf8proc_map failed: {}", utf8proc_errmsg(n));
  return std::string(reinterpret_cast<const char*>(mapped), static_cast<std::size_t>(n));
}

}  // namespace deferbench
