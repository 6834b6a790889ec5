// Inline SVG charts for the HTML pages (audit page, sweep page): drawn here rather than by an
// external program, so a page is one self-contained file that needs no script, font or image
// from anywhere. Every text goes through html_text (escape.h).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace deferbench::report {

struct Series {
  std::string name, color;
  std::vector<std::pair<double, double>> points;  // (x, y); NaN points are skipped
  bool dashed = false;
  bool dots = false;  // a dot at each point as well as the line
};

struct Marker {
  double x = 0, y = 0;
  std::string label, color = "#111";
};

struct LineChart {
  std::string title, x_label, y_label;
  double x_min = 0, x_max = 1, y_min = 0, y_max = 1;
  std::vector<Series> series;
  std::vector<Marker> markers;
  std::vector<std::pair<double, std::string>> h_lines;  // y, label (dashed grey)
  bool percent_x = false, percent_y = false;            // tick labels as percentages
  int width = 460, height = 300;
};
std::string line_chart(const LineChart& c);

// A horizontal bar with its 95% interval as a whisker.
struct Bar {
  std::string label;
  double value = 0, low = 0, high = 0;  // NaN value: an empty row ("no rows")
  std::string note;                     // right of the bar (e.g. "n=42")
  bool flagged = false;                 // drawn in the warning colour
};
struct BarChart {
  std::string title;
  std::vector<Bar> bars;
  double x_max = 1;
  bool percent = true;
  double reference = -1;  // a vertical dashed line (e.g. the target), < 0: none
  std::string reference_label;
  int width = 460, label_width = 170, bar_height = 16;
};
std::string bar_chart(const BarChart& c);

// Round "nice" tick values covering [lo, hi] (about `count` of them).
std::vector<double> nice_ticks(double lo, double hi, int count);

}  // namespace deferbench::report
