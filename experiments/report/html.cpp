#include "experiments/report/html.h"

#include <cmath>

#include <fmt/format.h>

#include "experiments/report/escape.h"

namespace deferbench::report {

namespace {

constexpr const char* kStyle = R"css(
:root{--fg:#1d232b;--muted:#5c6773;--line:#d9dee4;--bg:#fff;--panel:#f5f7f9;--accent:#2f6db5;
--ok:#2e8540;--warn:#c0392b;--teacher:#8a6d3b}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
color:var(--fg);background:var(--bg)}
header{padding:18px 28px 10px;border-bottom:1px solid var(--line)}
header h1{margin:0;font-size:22px}
header .sub{color:var(--muted);margin-top:2px}
main{padding:8px 28px 40px;max-width:1320px}
h2{font-size:18px;margin:26px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
p.verdict{font-size:16px;margin:12px 0}
nav a{margin-right:14px;color:var(--accent)}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:10px 14px;
min-width:170px;flex:1 1 170px}
.card .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:26px;font-weight:600;margin:2px 0}
.card .detail{color:var(--muted);font-size:12px}
.card.warn{border-color:var(--warn)}
.card.warn .value{color:var(--warn)}
.row{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
.row>div{flex:0 1 auto}
table{border-collapse:collapse;margin:8px 0 14px;font-size:13px}
caption{text-align:left;font-weight:600;padding:4px 0}
th,td{border-bottom:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
th{background:var(--panel)}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr.flagged td{color:var(--warn);font-weight:600}
td.text{max-width:560px;overflow-wrap:anywhere;white-space:pre-wrap}
.note{color:var(--muted);font-size:12px}
pre{background:var(--panel);border:1px solid var(--line);padding:10px;overflow:auto;font-size:12px;
max-height:480px;white-space:pre-wrap;overflow-wrap:anywhere}
details{margin:8px 0}
summary{cursor:pointer;font-weight:600}
svg.chart{background:#fff;font-size:12px}
img.plot{max-width:100%;height:auto}
svg .title{font-weight:600;font-size:13px}
svg .small{font-size:11px;fill:var(--muted)}
svg .flowlabel{font-weight:600;font-size:12px}
svg text{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
svg .grid{stroke:#eceff2}
svg .frame{fill:none;stroke:#b8c0c8}
svg .ref{stroke:#888;stroke-dasharray:4 4}
svg .bar{fill:var(--accent)}
svg .bar.flagged{fill:var(--warn)}
svg .whisker{stroke:#222;stroke-width:1.2}
.legend span{display:inline-block;width:11px;height:11px;margin:0 4px 0 10px;vertical-align:-1px}
)css";

}  // namespace

std::string page_begin(const std::string& title) {
  return fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta "
      "name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src "
      "'unsafe-inline'; img-src data:\">\n<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n",
      html_text(title), kStyle);
}

std::string page_end() {
  return "</body>\n</html>\n";
}

std::string cards(const std::vector<Card>& c) {
  std::string s = "<div class=\"cards\">";
  for (const Card& k : c)
    s += fmt::format(
        "<div class=\"card{}\"><div class=\"label\">{}</div><div class=\"value\">{}</div><div "
        "class=\"detail\">{}</div></div>",
        k.warn ? " warn" : "", html_text(k.label), html_text(k.value), html_text(k.detail));
  return s + "</div>\n";
}

std::string table(const HtmlTable& t) {
  std::string s = "<table>";
  if (!t.caption.empty()) s += "<caption>" + html_text(t.caption) + "</caption>";
  auto num = [&](std::size_t k) { return k < t.numeric.size() && t.numeric[k]; };
  s += "<thead><tr>";
  for (std::size_t k = 0; k < t.header.size(); ++k)
    s += fmt::format("<th{}>{}</th>", num(k) ? " class=\"num\"" : "", html_text(t.header[k]));
  s += "</tr></thead><tbody>\n";
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    const bool flagged = r < t.flagged_rows.size() && t.flagged_rows[r];
    s += flagged ? "<tr class=\"flagged\">" : "<tr>";
    for (std::size_t k = 0; k < t.rows[r].size(); ++k)
      s +=
          fmt::format("<td class=\"{}\">{}</td>", num(k) ? "num" : "text", html_text(t.rows[r][k]));
    s += "</tr>\n";
  }
  return s + "</tbody></table>\n";
}

std::string table(const Table& t) {
  HtmlTable h;
  h.caption = t.title;
  for (const Column& c : t.columns) {
    h.header.push_back(c.title);
    h.numeric.push_back(c.numeric);
  }
  for (const auto& row : t.rows) {
    std::vector<std::string> cells;
    for (const Cell& c : row) cells.push_back(c.pm.empty() ? c.text : c.text + " ± " + c.pm);
    h.rows.push_back(std::move(cells));
  }
  std::string s = table(h);
  if (!t.note.empty()) s += "<p class=\"note\">" + html_text(t.note) + "</p>\n";
  return s;
}

std::string details(const std::string& summary, const std::string& body, bool open) {
  return fmt::format("<details{}><summary>{}</summary>\n{}</details>\n", open ? " open" : "",
                     html_text(summary), body);
}

std::string percent(double v, int decimals) {
  if (std::isnan(v)) return "–";
  return fmt::format("{:.{}f}%", v * 100, decimals);
}

std::string interval(double low, double high, int decimals) {
  if (std::isnan(low) || std::isnan(high)) return "";
  return fmt::format("[{:.{}f}, {:.{}f}]", low * 100, decimals, high * 100, decimals);
}

std::string number(double v, int decimals) {
  if (std::isnan(v)) return "–";
  return fmt::format("{:.{}f}", v, decimals);
}

}  // namespace deferbench::report
