#include "experiments/report/svg.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "experiments/report/escape.h"

namespace deferbench::report {

namespace {

std::string tick_label(double v, bool percent) {
  if (percent) return fmt::format("{:g}%", std::round(v * 1000) / 10);
  return fmt::format("{:g}", std::round(v * 1e6) / 1e6);
}

std::string text(double x, double y, const std::string& s, const std::string& extra = "") {
  return fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\"{}>{}</text>", x, y,
                     extra.empty() ? "" : " " + extra, html_text(s));
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int count) {
  if (!(hi > lo) || count < 1) return {lo};
  const double raw = (hi - lo) / count;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  // From whole multiples of the step, rounded to the step's precision (no accumulated error).
  const double scale = std::pow(10.0, std::max(0.0, 2.0 - std::floor(std::log10(step))));
  std::vector<double> out;
  for (auto k = static_cast<long long>(std::ceil(lo / step - 1e-9));
       static_cast<double>(k) * step <= hi + step * 1e-9; ++k)
    out.push_back(std::round(static_cast<double>(k) * step * scale) / scale);
  return out;
}

std::string line_chart(const LineChart& c) {
  const double left = 52, right = 24, top = c.title.empty() ? 12 : 30, bottom = 44;
  const double w = c.width - left - right, h = c.height - top - bottom;
  const double dx = c.x_max > c.x_min ? c.x_max - c.x_min : 1;
  const double dy = c.y_max > c.y_min ? c.y_max - c.y_min : 1;
  auto px = [&](double x) { return left + (std::clamp(x, c.x_min, c.x_max) - c.x_min) / dx * w; };
  auto py = [&](double y) {
    return top + h - (std::clamp(y, c.y_min, c.y_max) - c.y_min) / dy * h;
  };
  std::string s = fmt::format(
      "<svg class=\"chart\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" role=\"img\" "
      "aria-label=\"{}\">",
      c.width, c.height, c.width, c.height, html_text(c.title));
  if (!c.title.empty()) s += text(left, 18, c.title, "class=\"title\"");
  for (double t : nice_ticks(c.x_min, c.x_max, 5)) {
    s += fmt::format(
        "<line class=\"grid\" x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1:.1f}\" y2=\"{2:.1f}\"/>", px(t),
        top, top + h);
    s += text(px(t), top + h + 14, tick_label(t, c.percent_x), "text-anchor=\"middle\"");
  }
  for (double t : nice_ticks(c.y_min, c.y_max, 4)) {
    s += fmt::format(
        "<line class=\"grid\" x1=\"{0:.1f}\" x2=\"{1:.1f}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\"/>", left,
        left + w, py(t));
    s += text(left - 5, py(t) + 4, tick_label(t, c.percent_y), "text-anchor=\"end\"");
  }
  s += fmt::format("<rect class=\"frame\" x=\"{}\" y=\"{}\" width=\"{:.1f}\" height=\"{:.1f}\"/>",
                   left, top, w, h);
  s += text(left + w / 2, c.height - 8, c.x_label, "text-anchor=\"middle\"");
  s += text(12, top + h / 2, c.y_label,
            fmt::format("text-anchor=\"middle\" transform=\"rotate(-90 12 {:.1f})\"", top + h / 2));
  for (const auto& [y, label] : c.h_lines) {
    s += fmt::format(
        "<line class=\"ref\" x1=\"{0:.1f}\" x2=\"{1:.1f}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\"/>", left,
        left + w, py(y));
    s += text(left + w - 4, py(y) - 4, label, "text-anchor=\"end\" class=\"small\"");
  }
  double legend_y = top + 14;
  for (const Series& ser : c.series) {
    std::string path;
    for (const auto& [x, y] : ser.points) {
      if (std::isnan(x) || std::isnan(y)) continue;
      path += fmt::format("{}{:.1f},{:.1f}", path.empty() ? "M" : " L", px(x), py(y));
    }
    if (!path.empty())
      s += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{}/>", path,
                       html_text(ser.color), ser.dashed ? " stroke-dasharray=\"5 4\"" : "");
    if (ser.dots)
      for (const auto& [x, y] : ser.points)
        if (!std::isnan(x) && !std::isnan(y))
          s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>", px(x),
                           py(y), html_text(ser.color));
    s += fmt::format(
        "<line x1=\"{0:.1f}\" x2=\"{1:.1f}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"{3}\" "
        "stroke-width=\"2\"{4}/>",
        left + 8, left + 26, legend_y - 4, html_text(ser.color),
        ser.dashed ? " stroke-dasharray=\"5 4\"" : "");
    s += text(left + 30, legend_y, ser.name, "class=\"small\"");
    legend_y += 15;
  }
  for (const Marker& m : c.markers) {
    if (std::isnan(m.x) || std::isnan(m.y)) continue;
    s += fmt::format(
        "<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"5\" fill=\"{}\" stroke=\"#fff\" "
        "stroke-width=\"1.5\"/>",
        px(m.x), py(m.y), html_text(m.color));
    const bool right_side = px(m.x) > left + w * 0.7;
    s += text(px(m.x) + (right_side ? -8 : 8), py(m.y) - 8, m.label,
              right_side ? "text-anchor=\"end\" class=\"small\"" : "class=\"small\"");
  }
  return s + "</svg>";
}

std::string bar_chart(const BarChart& c) {
  const double top = c.title.empty() ? 6 : 26, axis = 18;
  const double left = c.label_width, right = 104, w = c.width - left - right;
  const double height = top + static_cast<double>(c.bars.size()) * (c.bar_height + 4) + axis;
  const double x_max = c.x_max > 0 ? c.x_max : 1;
  auto px = [&](double v) { return left + std::clamp(v, 0.0, x_max) / x_max * w; };
  std::string s = fmt::format(
      "<svg class=\"chart\" viewBox=\"0 0 {} {:.0f}\" width=\"{}\" height=\"{:.0f}\" role=\"img\" "
      "aria-label=\"{}\">",
      c.width, height, c.width, height, html_text(c.title));
  if (!c.title.empty()) s += text(4, 16, c.title, "class=\"title\"");
  const double bottom = height - axis;
  for (double t : nice_ticks(0, x_max, 4)) {
    s += fmt::format(
        "<line class=\"grid\" x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1:.1f}\" y2=\"{2:.1f}\"/>", px(t),
        top - 2, bottom);
    s += text(px(t), bottom + 13, tick_label(t, c.percent),
              "text-anchor=\"middle\" class=\"small\"");
  }
  double y = top;
  for (const Bar& b : c.bars) {
    std::string label = b.label;
    if (label.size() > 28) {  // cut at a character boundary (not inside a UTF-8 sequence)
      std::size_t cut = 26;
      while (cut > 0 && (static_cast<unsigned char>(label[cut]) & 0xC0) == 0x80) --cut;
      label = label.substr(0, cut) + "…";
    }
    s += text(left - 6, y + c.bar_height - 4, label, "text-anchor=\"end\" class=\"small\"");
    if (!std::isnan(b.value)) {
      s += fmt::format(
          "<rect class=\"{}\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{}\"><title>{}: "
          "{} [{}, {}]</title></rect>",
          b.flagged ? "bar flagged" : "bar", left, y, std::max(0.5, px(b.value) - left),
          c.bar_height, html_text(b.label), tick_label(b.value, c.percent),
          tick_label(b.low, c.percent), tick_label(b.high, c.percent));
      if (!std::isnan(b.low) && !std::isnan(b.high))
        s += fmt::format(
            "<line class=\"whisker\" x1=\"{0:.1f}\" x2=\"{1:.1f}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\"/>",
            px(b.low), px(b.high), y + c.bar_height / 2.0);
    }
    s += text(c.width - right + 6, y + c.bar_height - 4, b.note, "class=\"small\"");
    y += c.bar_height + 4;
  }
  if (c.reference >= 0) {
    s += fmt::format(
        "<line class=\"ref\" x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1:.1f}\" y2=\"{2:.1f}\"/>",
        px(c.reference), top - 4, bottom);
    if (!c.reference_label.empty())
      s += text(px(c.reference) + 3, top - 6 > 10 ? top - 6 : bottom - 2, c.reference_label,
                "class=\"small\"");
  }
  return s + "</svg>";
}

}  // namespace deferbench::report
