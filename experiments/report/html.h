// The pieces of deferbench's HTML pages (report.html of a run, of an audit and of a sweep): one
// self-contained file each — inline CSS and SVG, no script, no font or image from anywhere, so
// it opens offline, in a mail attachment or in a browser with JavaScript off. Every text that
// reaches the page goes through html_text (escape.h).
#pragma once

#include <string>
#include <vector>

#include "experiments/report/tables.h"

namespace deferbench::report {

// `<!DOCTYPE html>` … `<body>`: the page's head with its title and the shared style sheet.
std::string page_begin(const std::string& title);
std::string page_end();

// A headline card: a big value, a label above it and a line of detail below.
struct Card {
  std::string label, value, detail;
  bool warn = false;
};
std::string cards(const std::vector<Card>& c);

// A table of text cells (already plain text; escaped here). `numeric[k]`: right-aligned column.
struct HtmlTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<bool> numeric;
  std::vector<bool> flagged_rows;  // rows drawn in the warning colour (empty: none)
  std::string caption;
};
std::string table(const HtmlTable& t);

// A report table (tables.h) as HTML: its title as caption, its note below.
std::string table(const Table& t);

// A collapsible block (<details>, open or closed; works without JavaScript).
std::string details(const std::string& summary, const std::string& body, bool open = false);

// Numbers as the pages show them.
std::string percent(double v, int decimals = 1);  // 0.553 → "55.3%", NaN → "–"
std::string interval(double low, double high, int decimals = 1);  // "[54.1, 56.5]" (percent)
std::string number(double v, int decimals = 3);                   // NaN → "–"

}  // namespace deferbench::report
