#include "experiments/report/sweep_page.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <regex>
#include <sstream>

#include <fmt/format.h>

#include "experiments/report/escape.h"
#include "experiments/report/html.h"

namespace deferbench::report {

namespace fs = std::filesystem;

std::string inline_svg(const std::string& text) {
  const std::size_t begin = text.find("<svg");
  if (begin == std::string::npos) return "";
  std::string svg = text.substr(begin);
  std::string lower = svg;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* bad : {"<script", "<foreignobject", "javascript:", "<iframe", "<image",
                          "url(http", "href=\"http", "href='http", "<!entity"})
    if (lower.find(bad) != std::string::npos) return "";
  // Event handler attributes (onload=, onclick=, …).
  static const std::regex handler(R"(\son[a-z]+\s*=)");
  if (std::regex_search(lower, handler)) return "";
  return svg;
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
    const std::string svg = inline_svg(text.str());
    p += "<h3>" + html_text(f.stem().string()) + "</h3>";
    p += svg.empty() ? "<p class=\"note\">" +
                           html_text(f.filename().string() +
                                     " was left out: it holds a script or an external reference") +
                           "</p>"
                     : "<div>" + svg + "</div>";
  }
  p += "</section>\n<p class=\"note\">Written by deferbench report; the tables are also in "
       "tables/ as Markdown, LaTeX and CSV, the plots in plots/ as PNG, SVG and gnuplot "
       "scripts.</p>\n</main>\n";
  return p + page_end();
}

}  // namespace deferbench::report
