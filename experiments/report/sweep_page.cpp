#include "experiments/report/sweep_page.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "experiments/report/escape.h"
#include "experiments/report/html.h"

namespace deferbench::report {

namespace fs = std::filesystem;

std::string base64(const std::string& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const auto b0 = static_cast<unsigned char>(bytes[i]);
    const auto b1 = i + 1 < bytes.size() ? static_cast<unsigned char>(bytes[i + 1]) : 0u;
    const auto b2 = i + 2 < bytes.size() ? static_cast<unsigned char>(bytes[i + 2]) : 0u;
    const unsigned v = (static_cast<unsigned>(b0) << 16) | (b1 << 8) | b2;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[v & 63] : '=';
  }
  return out;
}

std::string svg_image(const std::string& text, const std::string& alt) {
  if (text.find("<svg") == std::string::npos) return "";
  return "<img class=\"plot\" alt=\"" + html_text(alt) + "\" src=\"data:image/svg+xml;base64," +
         base64(text) + "\">";
}

std::string sweep_page(const Sweep& s, const std::vector<Table>& tables,
                       const std::vector<fs::path>& svgs, const std::string& warning) {
  const std::string name = s.dir.filename().string();
  std::string p = page_begin("deferbench sweep " + name);
  std::string targets;
  for (double t : s.targets) targets += (targets.empty() ? "" : ", ") + fmt::format("{:g}", t);
  p +=
      "<header><h1>Sweep " + html_text(name) + "</h1><div class=\"sub\">" +
      html_text(fmt::format(
          "{} runs with results{}; targets {}; folder {}", s.runs.size(),
          s.skipped ? fmt::format(", {} without (failed or unfinished)", s.skipped) : std::string(),
          targets, s.dir.string())) +
      "</div></header>\n<main>\n<nav>";
  for (const Table& t : tables)
    p += fmt::format("<a href=\"#{}\">{}</a>", html_text(t.name), html_text(t.name));
  p += "<a href=\"#plots\">plots</a></nav>\n";
  for (const Table& t : tables)
    p += fmt::format("<section id=\"{}\"><h2>{}</h2>{}</section>\n", html_text(t.name),
                     html_text(t.title), table(t));
  p += "<section id=\"plots\"><h2>Plots</h2>";
  if (!warning.empty()) p += "<p class=\"note\">" + html_text(warning) + "</p>";
  for (const fs::path& f : svgs) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    const std::string img = svg_image(text.str(), f.stem().string());
    p += "<h3>" + html_text(f.stem().string()) + "</h3>";
    p += img.empty() ? "<p class=\"note\">" +
                           html_text(f.filename().string() + " holds no SVG image") + "</p>"
                     : "<div>" + img + "</div>";
  }
  p += "</section>\n<p class=\"note\">Written by deferbench report; the tables are also in "
       "tables/ as Markdown, LaTeX and CSV, the plots in plots/ as PNG, SVG and gnuplot "
       "scripts.</p>\n</main>\n";
  return p + page_end();
}

}  // namespace deferbench::report
