// Two tiers of errors (after faiss's FaissAssert.h):
//  - deferbench::Error: a caller's mistake (bad input file, bad config). Its message is one line
//    naming the file, the line or row, the field and what was expected. Caught at the boundaries
//    only: `main` prints it and exits with status 2.
//  - DB_ASSERT: an internal invariant. A failure is a bug in deferbench, never the user's input.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace deferbench {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Where in an input a problem sits. `line` is 1-based (a line of a text file or a row of a
// table); 0 means "the whole file". `field` may be empty.
struct Where {
  std::string file;
  std::size_t line = 0;
  std::string field;
};

// "FILE:LINE: field 'FIELD': MESSAGE", leaving out the parts that are empty.
std::string format_error(const Where& where, std::string_view message);

[[noreturn]] void fail(const Where& where, std::string_view message);

// How many bytes of user input a message quotes at most (see excerpt()).
inline constexpr std::size_t kExcerptBytes = 80;

// User input quoted in an error message, capped so that a malformed 5 MB line does not make a
// 5 MB message: at most `max_bytes` bytes of `text` (cut back to a UTF-8 character boundary)
// followed by "…" when anything was cut. Control characters (line breaks, NUL) become spaces:
// messages are one line, and a NUL would end what().
std::string excerpt(std::string_view text, std::size_t max_bytes = kExcerptBytes);

// An internal invariant failed: throws std::logic_error with the source location.
[[noreturn]] void assertion_failed(const char* expr, const char* file, int line,
                                   const std::string& message);

}  // namespace deferbench

#define DB_ASSERT(cond)                                                         \
  do {                                                                          \
    if (!(cond)) ::deferbench::assertion_failed(#cond, __FILE__, __LINE__, ""); \
  } while (false)

#define DB_ASSERT_MSG(cond, ...)                                                             \
  do {                                                                                       \
    if (!(cond))                                                                             \
      ::deferbench::assertion_failed(#cond, __FILE__, __LINE__, ::fmt::format(__VA_ARGS__)); \
  } while (false)

// A caller's mistake: throws deferbench::Error with a formatted one-line message.
#define DB_THROW(...) throw ::deferbench::Error(::fmt::format(__VA_ARGS__))

#define DB_CHECK(cond, ...)             \
  do {                                  \
    if (!(cond)) DB_THROW(__VA_ARGS__); \
  } while (false)
