#include "experiments/report/escape.h"

#include <array>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <utf8proc.h>

namespace deferbench::report {
namespace {

bool is_control(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

// Control characters as one space each, except CRLF, which is one line break: one space.
template <typename Emit>
void each_char(const std::string& s, Emit emit) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') continue;
    emit(s[i]);
  }
}

}  // namespace

std::string markdown_cell(const std::string& s) {
  std::string out;
  each_char(s, [&](char c) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '|':
        out += "\\|";
        break;
      case '`':
        out += "\\`";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      default:
        out += is_control(c) ? ' ' : c;
    }
  });
  return out;
}

std::string latex_text(const std::string& s) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 16> kSpecial = {{
      {"\\", "\\textbackslash{}"},
      {"&", "\\&"},
      {"%", "\\%"},
      {"$", "\\$"},
      {"#", "\\#"},
      {"_", "\\_"},
      {"{", "\\{"},
      {"}", "\\}"},
      {"~", "\\textasciitilde{}"},
      {"^", "\\textasciicircum{}"},
      {"–", "--"},
      {"±", "$\\pm$"},
      {"δ", "$\\delta$"},
      {"<", "\\textless{}"},
      {">", "\\textgreater{}"},
      {"|", "\\textbar{}"},
  }};
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') {
      ++i;
      continue;
    }
    bool replaced = false;
    for (const auto& [from, to] : kSpecial)
      if (s.compare(i, from.size(), from) == 0) {
        out += to;
        i += from.size();
        replaced = true;
        break;
      }
    if (!replaced) {
      out += is_control(s[i]) ? ' ' : s[i];
      ++i;
    }
  }
  return out;
}

std::string gnuplot_string(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (is_control(c))
      out += fmt::format("'.\"\\{:03o}\".'", static_cast<unsigned char>(c));
    else
      out += c == '\'' ? std::string("''") : std::string(1, c);
  }
  return out + "'";
}

std::string dat_comment(const std::string& s) {
  std::string out;
  each_char(s, [&](char c) { out += is_control(c) ? ' ' : c; });
  return out;
}

std::string dat_string(const std::string& s) {
  std::string out = "\"";
  each_char(s, [&](char c) { out += c == '"' ? '\'' : is_control(c) ? ' ' : c; });
  return out + "\"";
}

std::string html_text(const std::string& s) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  for (std::size_t i = 0; i < s.size();) {
    utf8proc_int32_t cp = -1;
    const utf8proc_ssize_t len =
        utf8proc_iterate(p + i, static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    if (len <= 0 || cp < 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
      continue;
    }
    const char c = s[i];
    if (len == 1) {
      switch (c) {
        case '&':
          out += "&amp;";
          break;
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '"':
          out += "&quot;";
          break;
        case '\'':
          out += "&#39;";
          break;
        case '\t':
        case '\n':
          out += c;
          break;
        default:
          out += is_control(c) ? ' ' : c;
      }
    } else if ((cp >= 0x80 && cp < 0xa0) || cp == 0x2028 || cp == 0x2029) {
      out += ' ';  // C1 controls and the line and paragraph separators
    } else {
      out.append(s, i, static_cast<std::size_t>(len));
    }
    i += static_cast<std::size_t>(len);
  }
  return out;
}

}  // namespace deferbench::report
