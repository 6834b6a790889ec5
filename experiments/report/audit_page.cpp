#include "experiments/report/audit_page.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "experiments/report/escape.h"
#include "experiments/report/html.h"
#include "experiments/report/svg.h"

namespace deferbench::report {

namespace {

using json = nlohmann::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// j[key] for reading: a null when j is not an object or has no such key (a hand-edited or
// foreign audit.json must not crash the page; const operator[] on a missing key is undefined).
const json& get(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  const auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

double num(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return kNaN;
  return j[key].get<double>();
}
std::size_t count(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return 0;
  return j[key].get<std::size_t>();
}
std::string str(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) return "";
  return j[key].get<std::string>();
}
// A proportion of audit.json: {k, n, value, ci95: [low, high]}.
struct Prop {
  std::size_t k = 0, n = 0;
  double value = kNaN, low = kNaN, high = kNaN;
};
Prop prop(const json& j) {
  Prop p;
  if (!j.is_object()) return p;
  p.k = count(j, "k");
  p.n = count(j, "n");
  p.value = num(j, "value");
  if (j.contains("ci95") && get(j, "ci95").is_array() && get(j, "ci95").size() == 2) {
    if (get(j, "ci95")[0].is_number()) p.low = get(j, "ci95")[0].get<double>();
    if (get(j, "ci95")[1].is_number()) p.high = get(j, "ci95")[1].get<double>();
  }
  return p;
}
std::string with_ci(const Prop& p) {
  if (p.n == 0) return "–";
  return percent(p.value) + " " + interval(p.low, p.high);
}
// A bootstrap estimate of audit.json: {n, value, ci95}, shown as a number with its interval.
std::string f1_with_ci(const json& j) {
  const Prop p = prop(j);
  if (p.n == 0 || std::isnan(p.value)) return "–";
  return fmt::format("{} [{}, {}]", number(p.value), number(p.low), number(p.high));
}

std::string thousands(std::size_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3)
    s.insert(static_cast<std::size_t>(i), ",");
  return s;
}

// The routing flow: stage 1 sees every query; each stage answers a share (green: agrees with the
// teacher, red: disagrees) and passes the rest on; what no stage answers goes to the teacher.
// Stages stand in columns; the last column holds the teacher (top) and every stage's answered
// rows below it, each labelled. Band widths are to scale.
std::string flow_svg(const json& routing, std::size_t rows) {
  const json& stages = routing.contains("stages") ? get(routing, "stages") : json::array();
  const std::size_t k_stages = stages.size();
  const double top = 42, band = 170, node_w = 14, gap = 16, label_room = 230;
  // Room for the answered nodes below the teacher, their two-line labels and the note.
  const double height_d = top + band + gap * static_cast<double>(k_stages) + 30 + 36;
  const int width = 580, height = static_cast<int>(height_d);
  const double columns = static_cast<double>(std::max<std::size_t>(1, k_stages));
  const double col_step = (width - label_room - 20 - node_w) / columns;
  const double scale = rows ? band / static_cast<double>(rows) : 0;
  std::string s = fmt::format(
      "<svg class=\"chart\" viewBox=\"0 0 {0} {1}\" width=\"{0}\" height=\"{1}\" role=\"img\" "
      "aria-label=\"routing flow\">",
      width, height);
  s += "<text x=\"4\" y=\"16\" class=\"title\">Routing flow (widths to scale)</text>";
  auto link = [&](double x0, double y0a, double y0b, double x1, double y1a, double y1b,
                  const char* color) {
    const double xm = (x0 + x1) / 2;
    return fmt::format(
        "<path d=\"M{0:.1f},{1:.1f} C{2:.1f},{1:.1f} {2:.1f},{3:.1f} {4:.1f},{3:.1f} "
        "L{4:.1f},{5:.1f} C{2:.1f},{5:.1f} {2:.1f},{6:.1f} {0:.1f},{6:.1f} Z\" fill=\"{7}\" "
        "fill-opacity=\"0.28\"/>",
        x0, y0a, xm, y1a, x1, y1b, y0b, color);
  };
  auto rect = [&](double x, double y, double h, const char* color) {
    return fmt::format(
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{}\" height=\"{:.1f}\" fill=\"{}\"/>", x, y,
        node_w, std::max(0.0, h), color);
  };
  auto label = [&](double x, double y, const std::string& a, const std::string& b) {
    return fmt::format(
        "<text x=\"{0:.1f}\" y=\"{1:.1f}\" class=\"flowlabel\">{2}</text><text x=\"{0:.1f}\" "
        "y=\"{3:.1f}\" class=\"small\">{4}</text>",
        x, y, html_text(a), y + 13, html_text(b));
  };
  const double x_final = 10 + col_step * columns;
  if (k_stages == 0) {
    s += rect(10, top, band, "#8a6d3b");
    s += label(10 + node_w + 6, top + 14, "Teacher answers all " + thousands(rows),
               "no policy deployed");
    return s + "</svg>";
  }
  // The stages, left to right: each passes the rest on along the top.
  double reaching = static_cast<double>(rows);
  std::vector<double> answered(k_stages), agreement(k_stages);
  for (std::size_t k = 0; k < k_stages; ++k) {
    answered[k] = num(stages[k], "handled");
    agreement[k] = num(stages[k], "agreement");
  }
  double passed = reaching;
  for (std::size_t k = 0; k < k_stages; ++k) passed -= answered[k];
  // The last column: the teacher's node, then each stage's answered node.
  double y_answer = top + passed * scale + gap;
  std::vector<double> answer_top(k_stages);
  for (std::size_t k = 0; k < k_stages; ++k) {
    answer_top[k] = y_answer;
    y_answer += answered[k] * scale + gap;
  }
  // Rows that reach each stage (audit.json's `reached`: rows stage 1's out-of-distribution guard
  // rejects go straight to the teacher); the last stage's passed rows then the direct ones fill
  // the teacher's node from the top.
  std::vector<double> reach(k_stages);
  for (std::size_t k = 0; k < k_stages; ++k) {
    const double r = num(stages[k], "reached");
    reach[k] = std::isnan(r) ? reaching : r;
    reaching = reach[k] - answered[k];
  }
  double teacher_fill = (reach.back() - answered.back()) * scale;
  for (std::size_t k = 0; k < k_stages; ++k) {
    const double x = 10 + col_step * static_cast<double>(k);
    const double h_main = reach[k] * scale, h_ans = answered[k] * scale;
    const double h_pass = (k + 1 < k_stages ? reach[k + 1] : reach[k] - answered[k]) * scale;
    const double h_direct = std::max(0.0, h_main - h_ans - h_pass);  // straight to the teacher
    s += rect(x, top, std::max(1.0, h_main), "#2f6db5");
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"small\">stage {}: {}</text>", x,
                     top - 6, k + 1, thousands(static_cast<std::size_t>(reach[k])));
    const double x_next = k + 1 < k_stages ? x + col_step : x_final;
    s += link(x + node_w, top, top + h_pass, x_next, top, top + h_pass, "#8a6d3b");
    if (h_direct > 0) {
      s += link(x + node_w, top + h_pass, top + h_pass + h_direct, x_final, top + teacher_fill,
                top + teacher_fill + h_direct, "#8a6d3b");
      teacher_fill += h_direct;
    }
    s += link(x + node_w, top + h_main - h_ans, top + h_main, x_final, answer_top[k],
              answer_top[k] + h_ans, "#2e8540");
  }
  // The teacher.
  s += rect(x_final, top, std::max(1.0, passed * scale), "#8a6d3b");
  s += label(x_final + node_w + 6, top + 12,
             fmt::format("Teacher answers {} ({})", thousands(static_cast<std::size_t>(passed)),
                         percent(rows ? passed / static_cast<double>(rows) : kNaN)),
             "deferred: paid teacher calls");
  // What each stage answered: agreeing (green) above disagreeing (red).
  for (std::size_t k = 0; k < k_stages; ++k) {
    const double h_ans = answered[k] * scale;
    const double agree_h = std::isnan(agreement[k]) ? h_ans : h_ans * agreement[k];
    s += rect(x_final, answer_top[k], agree_h, "#2e8540");
    s += rect(x_final, answer_top[k] + agree_h, h_ans - agree_h, "#c0392b");
    s += label(x_final + node_w + 6, answer_top[k] + 10,
               fmt::format("Stage {} answers {} ({})", k + 1,
                           thousands(static_cast<std::size_t>(answered[k])),
                           percent(rows ? answered[k] / static_cast<double>(rows) : kNaN)),
               std::isnan(agreement[k]) ? std::string("")
                                        : "agrees with the teacher on " + percent(agreement[k]));
  }
  s += fmt::format(
      "<text x=\"10\" y=\"{:.1f}\" class=\"small\">{} queries enter stage 1 (blue). Answered: "
      "green agrees with the teacher,</text><text x=\"10\" y=\"{:.1f}\" class=\"small\">red "
      "disagrees. Brown: deferred to the teacher.</text>",
      height_d - 20, thousands(rows), height_d - 7);
  return s + "</svg>";
}

std::string risk_svg(const json& rc, double target) {
  LineChart c;
  c.title = "Risk–coverage (test)";
  c.x_label = "coverage (share answered, best scores first)";
  c.y_label = "disagreement with the teacher";
  c.percent_x = c.percent_y = true;
  Series policy{"acceptor score: " + str(rc, "model"), "#2f6db5", {}, false, false};
  Series oracle{"oracle (true agreement first)", "#2e8540", {}, true, false};
  double y_max = 1 - target;
  for (const json& p : get(rc, "curve")) {
    if (!p.is_array() || p.size() < 3 || !p[0].is_number() || !p[1].is_number()) continue;
    const double cov = p[0].get<double>(), risk = p[1].get<double>();
    policy.points.emplace_back(cov, risk);
    if (p[2].is_number()) oracle.points.emplace_back(cov, p[2].get<double>());
    y_max = std::max(y_max, risk);
  }
  c.series = {policy, oracle};
  // A cascade's later stages, each on the rows that reach it.
  static const char* const kColors[] = {"#8e44ad", "#d35400", "#16a085", "#7f8c8d"};
  if (rc.contains("stages") && get(rc, "stages").is_array())
    for (std::size_t k = 1; k < get(rc, "stages").size(); ++k) {
      const json& st = get(rc, "stages")[k];
      Series later{fmt::format("stage {} on the {} rows it sees", k + 1, count(st, "rows")),
                   kColors[(k - 1) % 4],
                   {},
                   false,
                   false};
      if (st.contains("curve"))
        for (const json& p : get(st, "curve"))
          if (p.is_array() && p.size() >= 2 && p[0].is_number() && p[1].is_number()) {
            later.points.emplace_back(p[0].get<double>(), p[1].get<double>());
            y_max = std::max(y_max, p[1].get<double>());
          }
      c.series.push_back(std::move(later));
    }
  c.y_max = std::min(1.0, std::max(0.05, y_max * 1.08));
  c.h_lines.emplace_back(1 - target, fmt::format("target {:g}: risk {:g}", target, 1 - target));
  const json& d = get(rc, "deployed_point");
  if (d.is_array() && d.size() == 2 && d[0].is_number() && d[1].is_number())
    c.markers.push_back({d[0].get<double>(), d[1].get<double>(), "deployed", "#c0392b"});
  return line_chart(c);
}

// Per-class coverage: the classes with the least coverage first (at most `limit`).
std::string class_coverage_svg(const json& slices, double target, std::size_t limit,
                               std::string* note) {
  std::vector<const json*> rows;
  for (const json& s : slices) rows.push_back(&s);
  std::stable_sort(rows.begin(), rows.end(), [](const json* a, const json* b) {
    return prop(get((*a), "coverage")).value < prop(get((*b), "coverage")).value;
  });
  if (rows.size() > limit) {
    *note = fmt::format("The {} least covered of {} classes; every class is in the slice table. ",
                        limit, rows.size());
    rows.resize(limit);
  }
  BarChart c;
  c.title = "Coverage per teacher class (95% CI)";
  c.width = 560;
  for (const json* s : rows) {
    const Prop cov = prop(get((*s), "coverage")), agr = prop(get((*s), "agreement"));
    c.bars.push_back({str(*s, "name"), cov.value, cov.low, cov.high,
                      fmt::format("n={}{}", count(*s, "rows"),
                                  agr.n ? " · agr " + percent(agr.value, 0) : std::string("")),
                      (*s).value("flagged", false)});
  }
  (void)target;
  return bar_chart(c);
}

std::string length_svg(const json& slices) {
  BarChart c;
  c.title = "Coverage by text length (tertiles)";
  c.width = 460;
  c.label_width = 80;
  for (const char* name : {"short", "medium", "long"})
    for (const json& s : slices)
      if (str(s, "name") == name) {
        const Prop cov = prop(get(s, "coverage")), agr = prop(get(s, "agreement"));
        c.bars.push_back({name, cov.value, cov.low, cov.high,
                          agr.n ? "agr " + percent(agr.value, 0) : std::string(""),
                          s.value("flagged", false)});
      }
  return bar_chart(c);
}

HtmlTable slice_table(const json& slices, const std::string& caption) {
  HtmlTable t;
  t.caption = caption;
  t.header = {"slice",
              "rows",
              "coverage [95% CI]",
              "agreement on answered [95% CI]",
              "end-to-end accuracy [95% CI]",
              "end-to-end macro-F1 [95% CI]",
              "p (agreement ≥ target)",
              "flag"};
  t.numeric = {false, true, true, true, true, true, true, false};
  std::vector<const json*> order;
  for (const json& s : slices) order.push_back(&s);
  std::stable_sort(order.begin(), order.end(), [](const json* a, const json* b) {
    return (*a).value("flagged", false) > (*b).value("flagged", false);
  });
  for (const json* s : order) {
    const bool flagged = (*s).value("flagged", false);
    t.rows.push_back({str(*s, "name"), std::to_string(count(*s, "rows")),
                      with_ci(prop(get((*s), "coverage"))), with_ci(prop(get((*s), "agreement"))),
                      with_ci(prop(get((*s), "e2e_accuracy"))),
                      f1_with_ci(get((*s), "e2e_macro_f1")), number(num(*s, "p_value"), 4),
                      flagged ? "below target" : ""});
    t.flagged_rows.push_back(flagged);
  }
  return t;
}

std::string row_text(const json& r) {
  if (!r.is_object()) return "–";
  std::string s = str(r, "id");
  if (r.contains("text")) s += ": " + str(r, "text");
  return s;
}

std::string gap_section(const json& gap) {
  std::string s = "<h3>Agreement gap: where the policy answers and disagrees</h3>";
  s += fmt::format("<p>{} disagreements on {} answered rows.</p>",
                   thousands(count(gap, "disagreements")), thousands(count(gap, "handled")));
  if (gap.contains("who_was_right")) {
    const json& w = get(gap, "who_was_right");
    const std::size_t total = count(w, "surrogate") + count(w, "teacher") + count(w, "neither");
    HtmlTable t;
    t.caption = "Disagreements against gold: who was right";
    t.header = {"", "rows", "share"};
    t.numeric = {false, true, true};
    auto share = [&](std::size_t v) {
      return total ? percent(static_cast<double>(v) / static_cast<double>(total)) : "–";
    };
    t.rows = {{"surrogate right, teacher wrong (no failure)", std::to_string(count(w, "surrogate")),
               share(count(w, "surrogate"))},
              {"teacher right, surrogate wrong", std::to_string(count(w, "teacher")),
               share(count(w, "teacher"))},
              {"both wrong", std::to_string(count(w, "neither")), share(count(w, "neither"))},
              {"no gold for the row", std::to_string(count(w, "without_gold")), ""}};
    s += table(t);
  }
  HtmlTable t;
  t.caption = "Class pairs answered differently from the teacher (most frequent first)";
  t.header = {"policy said", "teacher said", "rows", "examples"};
  t.numeric = {false, false, true, false};
  for (const json& p : get(gap, "pairs")) {
    std::string ex;
    for (const json& e : get(p, "examples")) ex += (ex.empty() ? "" : "\n") + row_text(e);
    t.rows.push_back({str(p, "answer"), str(p, "teacher"), std::to_string(count(p, "count")), ex});
  }
  return s + table(t);
}

std::string examples_section(const json& ex) {
  if (!ex.is_object()) return "";
  std::string s =
      "<h3>Contrastive boundary pairs</h3><p class=\"note\">For the most deferred "
      "predicted classes: an answered row and a deferred row with the same surrogate "
      "prediction that are nearest neighbours in feature space.</p>";
  HtmlTable b;
  b.header = {"predicted", "distance",     "answered row", "score",
              "teacher",   "deferred row", "score",        "teacher"};
  b.numeric = {false, true, false, true, false, false, true, false};
  for (const json& p : get(ex, "boundary_pairs")) {
    const json &h = get(p, "handled"), &d = get(p, "deferred");
    b.rows.push_back({str(p, "predicted"), number(num(p, "distance")), row_text(h),
                      number(num(h, "score")), str(h, "teacher"), row_text(d),
                      number(num(d, "score")), str(d, "teacher")});
  }
  s += table(b);
  HtmlTable r;
  r.caption =
      "Representative examples: per teacher class, the answered and the deferred row "
      "closest to the class centroid";
  r.header = {"teacher class", "rows", "answered", "deferred"};
  r.numeric = {false, true, false, false};
  for (const json& e : get(ex, "representatives"))
    r.rows.push_back({str(e, "teacher"), std::to_string(count(e, "rows")),
                      row_text(get(e, "handled")), row_text(get(e, "deferred"))});
  s += details(fmt::format("Representative examples ({} classes)", r.rows.size()), table(r));
  HtmlTable c;
  c.caption = "The most confident disagreements (answered rows, highest acceptor score first)";
  c.header = {"row", "answer", "teacher", "score"};
  c.numeric = {false, false, false, true};
  for (const json& e : get(ex, "confident_disagreements"))
    c.rows.push_back({row_text(e), str(e, "answer"), str(e, "teacher"), number(num(e, "score"))});
  return s + table(c);
}

std::string temporal_section(const json& t) {
  if (!t.is_object()) return "";
  std::string s = fmt::format("<h3>Temporal deltas ({} order)</h3>",
                              str(t, "order") == "time" ? "time" : "row");
  LineChart c;
  c.title = "Coverage and agreement per window";
  c.x_label = "window";
  c.y_label = "share";
  c.percent_y = true;
  c.x_min = 1;
  Series cov{"coverage", "#2f6db5", {}, false, true},
      agr{"agreement on answered", "#2e8540", {}, false, true};
  HtmlTable w;
  w.header = {
      "window",      "rows", "time", "coverage [95% CI]", "Δ coverage", "p", "agreement [95% CI]",
      "Δ agreement", "p",    "drift"};
  w.numeric = {true, true, false, true, true, true, true, true, true, false};
  double k = 0, y_min = 1;
  for (const json& win : get(t, "windows")) {
    ++k;
    const Prop pc = prop(get(win, "coverage")), pa = prop(get(win, "agreement"));
    cov.points.emplace_back(k, pc.value);
    agr.points.emplace_back(k, pa.value);
    for (double v : {pc.value, pa.value})
      if (!std::isnan(v)) y_min = std::min(y_min, v);
    const bool drift = win.value("drift", false);
    if (drift) c.markers.push_back({k, pc.value, "drift", "#c0392b"});
    const double tb = num(win, "time_begin"), te = num(win, "time_end");
    w.rows.push_back({fmt::format("{:g}", k), std::to_string(count(win, "rows")),
                      std::isnan(tb) ? "" : fmt::format("{:g} – {:g}", tb, te), with_ci(pc),
                      percent(num(win, "coverage_change")), number(num(win, "coverage_p"), 4),
                      with_ci(pa), percent(num(win, "agreement_change")),
                      number(num(win, "agreement_p"), 4), drift ? "drift" : ""});
    w.flagged_rows.push_back(drift);
  }
  c.x_max = std::max(2.0, k);
  c.y_min = std::max(0.0, std::floor(y_min * 10 - 1) / 10);
  c.series = {cov, agr};
  return s + "<div class=\"row\"><div>" + line_chart(c) + "</div><div>" + table(w) + "</div></div>";
}

std::string compare_section(const json& c) {
  if (!c.is_object()) return "";
  std::string s = "<h3>Compared with policy B on the same traffic</h3>";
  s += cards(
      {{"coverage A → B",
        percent(prop(get(c, "coverage_a")).value) + " → " +
            percent(prop(get(c, "coverage_b")).value),
        fmt::format("{} rows moved to answered, {} to deferred", count(c, "to_handled"),
                    count(c, "to_deferred"))},
       {"agreement A → B",
        percent(prop(get(c, "agreement_a")).value) + " → " +
            percent(prop(get(c, "agreement_b")).value),
        "on answered rows"},
       {"classes that moved", std::to_string(count(c, "flagged_classes")),
        "coverage change flagged (two-proportion test, BH)", count(c, "flagged_classes") > 0}});
  HtmlTable t;
  t.caption = "Per teacher class (largest change first)";
  t.header = {"teacher class",       "rows",   "coverage A",
              "coverage B",          "change", "deferred → answered",
              "answered → deferred", "p",      "flag"};
  t.numeric = {false, true, true, true, true, true, true, true, false};
  for (const json& k : get(c, "classes")) {
    const bool f = k.value("flagged", false);
    t.rows.push_back(
        {str(k, "teacher"), std::to_string(count(k, "rows")),
         percent(prop(get(k, "coverage_a")).value), percent(prop(get(k, "coverage_b")).value),
         percent(num(k, "coverage_change")), std::to_string(count(k, "to_handled")),
         std::to_string(count(k, "to_deferred")), number(num(k, "p_value"), 4), f ? "moved" : ""});
    t.flagged_rows.push_back(f);
  }
  return s + table(t);
}

std::string target_section(const json& a, const json& metrics, const json& calibration,
                           std::size_t index) {
  const double target = num(a, "target");
  const std::size_t rows = count(a, "rows");
  const json& routing = a.contains("routing") ? get(a, "routing") : json::object();
  const Prop handled = prop(get(routing, "handled")), agreement = prop(get(routing, "agreement"));
  const bool deployed = a.value("deployed", false);
  std::string s = fmt::format("<section id=\"target-{}\"><h2>Target {:g}</h2>", index, target);
  // The verdict.
  const std::string guarantee =
      calibration.is_object() && calibration.value("guarantee", false)
          ? fmt::format(" Calibrated with a guarantee: agreement ≥ {:g} with probability ≥ {:g}.",
                        target, 1 - num(calibration, "delta"))
          : std::string();
  if (deployed && handled.k > 0)
    s += fmt::format(
        "<p class=\"verdict\">On {} held-out queries the policy answers <b>{}</b> itself and "
        "agrees "
        "with the teacher on <b>{}</b> of them (95% CI {}); the other {} go to the teacher.{}</p>",
        thousands(rows), percent(handled.value), percent(agreement.value),
        interval(agreement.low, agreement.high), percent(1 - handled.value), html_text(guarantee));
  else
    s += fmt::format(
        "<p class=\"verdict\">No policy is deployed at this target: the teacher answers all {} "
        "queries.{}</p>",
        thousands(rows),
        metrics.is_object() && metrics.contains("diagnostic")
            ? " " + html_text(str(metrics, "diagnostic"))
            : std::string());
  // The cards.
  std::vector<Card> c;
  c.push_back({"answered by the surrogate", percent(handled.value),
               fmt::format("{} of {} · 95% CI {}", thousands(handled.k), thousands(rows),
                           interval(handled.low, handled.high))});
  c.push_back(
      {"agreement on answered", agreement.n ? percent(agreement.value) : "–",
       fmt::format("target {:g} · 95% CI {}", target, interval(agreement.low, agreement.high)),
       agreement.n > 0 && agreement.value < target});
  c.push_back({"teacher calls", thousands(count(routing, "deferred")),
               fmt::format("{} of traffic saved", percent(handled.value))});
  const json& rc = get(a, "risk_coverage");
  if (rc.is_object())
    c.push_back({"AURC", number(num(rc, "aurc"), 4),
                 fmt::format("E-AURC {} · optimal {}", number(num(rc, "e_aurc"), 4),
                             number(num(rc, "optimal_aurc"), 4))});
  if (metrics.is_object() && metrics.contains("test")) {
    const double oracle = num(get(metrics, "test"), "oracle_coverage");
    if (!std::isnan(oracle))
      c.push_back({"oracle coverage", percent(oracle),
                   "hindsight threshold on test · efficiency " +
                       percent(num(get(metrics, "test"), "efficiency"), 0)});
  }
  const std::size_t flagged = count(a, "flagged_slices");
  c.push_back({"flagged slices", std::to_string(flagged),
               fmt::format("agreement below target (BH at {:g})", num(a, "fdr")), flagged > 0});
  s += cards(c);
  // The first screen's two pictures.
  s += "<div class=\"row\"><div>" + flow_svg(routing, rows) + "</div>";
  if (rc.is_object()) s += "<div>" + risk_svg(rc, target) + "</div>";
  s += "</div>\n";
  if (rc.is_object())
    s += fmt::format(
        "<p class=\"note\">Risk–coverage of the {} surrogate {}'s first stage: answering the "
        "queries with the highest acceptor scores first. The red dot is the deployed policy.</p>",
        html_text(str(rc, "family")), html_text(str(rc, "model")));
  // Per-class coverage and coverage by length.
  const json& sl = get(a, "slices");
  s += "<h3>Where it answers</h3><div class=\"row\">";
  if (sl.contains("teacher_label")) {
    std::string note;
    s += "<div>" + class_coverage_svg(get(sl, "teacher_label"), target, 40, &note);
    s += "<p class=\"note\">" + html_text(note) +
         "Red: agreement significantly below the target (flagged slice).</p>";
    s += "</div>";
  }
  if (sl.contains("length_tertile"))
    s += "<div>" + length_svg(get(sl, "length_tertile")) + "</div>";
  s += "</div>\n";
  // Slices.
  s += "<h3>Slices</h3><p class=\"note\">Flagged: agreement significantly below the target "
       "(one-sided exact binomial test, Benjamini–Hochberg over every slice). Intervals are "
       "two-sided 95% Clopper–Pearson.</p>";
  static const std::pair<const char*, const char*> kKinds[] = {
      {"teacher_label", "per teacher label"},
      {"predicted_label", "per predicted label"},
      {"length_tertile", "per text-length tertile"},
      {"tag", "per slice tag"}};
  std::vector<std::pair<std::string, std::string>> kinds;
  for (const auto& [kind, caption] : kKinds)
    if (sl.contains(kind)) kinds.emplace_back(kind, caption);
  for (const auto& item : sl.items())
    if (item.key().rfind("field:", 0) == 0)
      kinds.emplace_back(item.key(), "per " + item.key().substr(6));
  for (const auto& [kind, caption] : kinds) {
    const HtmlTable t = slice_table(sl[kind], "Slices " + caption);
    std::size_t f = 0;
    for (bool b : t.flagged_rows) f += b;
    s += details(fmt::format("Slices {} ({} slices, {} flagged)", caption, t.rows.size(), f),
                 table(t), kind == "length_tertile" || f > 0);
  }
  if (a.contains("agreement_gap")) s += gap_section(get(a, "agreement_gap"));
  s += examples_section(get(a, "examples"));
  s += temporal_section(get(a, "temporal"));
  if (a.contains("compare")) s += compare_section(get(a, "compare"));
  return s + "</section>\n";
}

}  // namespace

std::string audit_page(const AuditPage& page) {
  std::string s = page_begin(page.title);
  s += "<header><h1>" + html_text(page.title) + "</h1><div class=\"sub\">" +
       html_text(page.subtitle) + "</div></header>\n<main>\n";
  const json& audit = page.audit;
  if (audit.is_array() && audit.size() > 1) {
    s += "<nav>Targets: ";
    for (std::size_t i = 0; i < audit.size(); ++i)
      s += fmt::format("<a href=\"#target-{}\">{:g}</a>", i, num(audit[i], "target"));
    s += "</nav>\n";
  }
  if (audit.is_array())
    for (std::size_t i = 0; i < audit.size(); ++i) {
      const json metrics =
          page.targets.is_array() && i < page.targets.size() ? page.targets[i] : json();
      s += target_section(audit[i], metrics, page.calibration, i);
    }
  s += "<h2>Run</h2>";
  HtmlTable facts;
  facts.header = {"", ""};
  for (const auto& [k, v] : page.facts) facts.rows.push_back({k, v});
  s += table(facts);
  if (!page.config_text.empty())
    s += details("Resolved config", "<pre>" + html_text(page.config_text) + "</pre>");
  s += "<p class=\"note\">Written by deferbench. Every number on this page is computed on "
       "held-out rows; audit.json beside this file holds them all.</p>\n</main>\n";
  return s + page_end();
}

}  // namespace deferbench::report
