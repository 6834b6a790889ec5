// The audit's outputs: HTML escaping of hostile trace text, the pages' pieces, and
// `deferbench audit --policy P --input F [--compare P2]` end to end.
#include <algorithm>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/config/compose.h"
#include "core/data/npy.h"
#include "core/routing/policy.h"
#include "experiments/policy_io.h"
#include "experiments/prepare.h"
#include "experiments/report/audit_page.h"
#include "experiments/report/escape.h"
#include "experiments/report/svg.h"
#include "experiments/report/sweep_page.h"
#include "experiments/run.h"
#include "experiments/subprocess.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using report::html_text;
const fs::path kRoot = DEFERBENCH_ROOT;

std::size_t occurrences(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::string kFffd = "\xEF\xBF\xBD";

TEST(HtmlEscape, MarkupQuotesAndControlsBecomeText) {
  EXPECT_EQ(html_text("<script>alert('x')</script>"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
  EXPECT_EQ(html_text("a \"b\" & </style>"), "a &quot;b&quot; &amp; &lt;/style&gt;");
  EXPECT_EQ(html_text("tab\tline\nbell\x07"
                      "del\x7f"),
            "tab\tline\nbell del ");
  // Valid multi-byte text is kept as it is; C1 controls and U+2028 become a space.
  EXPECT_EQ(html_text("café – δ 日本"), "café – δ 日本");
  EXPECT_EQ(html_text("a\xC2\x85"
                      "b\xE2\x80\xA8"
                      "c"),
            "a b c");
}

TEST(HtmlEscape, InvalidUtf8BecomesReplacementCharacters) {
  // A lone continuation byte, a truncated sequence, an overlong '<' (0xC0 0xBC: must not turn
  // into markup), a surrogate (U+D800) and 0xFF.
  EXPECT_EQ(html_text("a\x80"
                      "b"),
            "a" + kFffd + "b");
  EXPECT_EQ(html_text("x\xE2\x82"), "x" + kFffd + kFffd);
  EXPECT_EQ(html_text("\xC0\xBC"
                      "script>"),
            kFffd + kFffd + "script&gt;");
  EXPECT_EQ(html_text("\xED\xA0\x80"), kFffd + kFffd + kFffd);
  EXPECT_EQ(html_text("\xFF"), kFffd);
}

TEST(HtmlEscape, ALongLineIsEscapedWhole) {
  std::string line;
  while (line.size() < 10240) line += "<b>x</b>\"'&";
  const std::string out = html_text(line);
  EXPECT_EQ(out.find('<'), std::string::npos);
  EXPECT_EQ(out.find('"'), std::string::npos);
  EXPECT_EQ(occurrences(out, "&lt;b&gt;"), occurrences(line, "<b>"));
}

TEST(Svg, NiceTicksAreRoundAndCoverTheRange) {
  EXPECT_EQ(report::nice_ticks(0, 1, 5), (std::vector<double>{0, 0.2, 0.4, 0.6, 0.8, 1.0}));
  EXPECT_EQ(report::nice_ticks(0, 0.25, 4), (std::vector<double>{0, 0.1, 0.2}));
  EXPECT_EQ(report::nice_ticks(1, 5, 4), (std::vector<double>{1, 2, 3, 4, 5}));
}

// Plots enter the sweep page as data: images, whatever the file holds: no markup of theirs
// reaches the page (a script, an event handler or a meta refresh would in inline SVG).
TEST(Svg, PlotsAreImagesNotMarkup) {
  EXPECT_EQ(report::base64(""), "");
  EXPECT_EQ(report::base64("f"), "Zg==");
  EXPECT_EQ(report::base64("fo"), "Zm8=");
  EXPECT_EQ(report::base64("foo"), "Zm9v");
  EXPECT_EQ(report::base64("foobar"), "Zm9vYmFy");  // RFC 4648 test vectors
  const std::string hostile =
      "<svg/onload=alert(1)><script>x()</script></svg><meta http-equiv=refresh "
      "content=\"0;url=https://example.com\">";
  const std::string img = report::svg_image(hostile, "plot \"x\" <b>");
  ASSERT_EQ(img.rfind("<img class=\"plot\" alt=\"plot &quot;x&quot; &lt;b&gt;\" "
                      "src=\"data:image/svg+xml;base64,",
                      0),
            0u)
      << img;
  EXPECT_EQ(img.find("<svg"), std::string::npos);
  EXPECT_EQ(img.find("<script"), std::string::npos);
  EXPECT_EQ(img.find("<meta"), std::string::npos);
  EXPECT_NE(img.find(report::base64(hostile)), std::string::npos);
  EXPECT_EQ(report::svg_image("no svg here", "x"), "");
}

// An audit entry (the schema of audit.json) full of hostile text.
json hostile_entry(const std::string& h) {
  const json prop = {{"k", 55}, {"n", 100}, {"value", 0.55}, {"ci95", {0.45, 0.65}}};
  const json agree = {{"k", 50}, {"n", 55}, {"value", 50.0 / 55}, {"ci95", {0.8, 0.97}}};
  const json slice = {{"name", h},
                      {"rows", 100},
                      {"coverage", prop},
                      {"agreement", agree},
                      {"e2e_accuracy", prop},
                      {"e2e_macro_f1", {{"n", 100}, {"value", 0.5}, {"ci95", {0.4, 0.6}}}},
                      {"p_value", 0.01},
                      {"flagged", true}};
  const json row = {{"row", 3}, {"id", h}, {"teacher", h}, {"text", h}, {"score", 0.9}};
  return {{"target", 0.9},
          {"rows", 100},
          {"deployed", true},
          {"fdr", 0.1},
          {"routing",
           {{"stages", {{{"stage", 1}, {"reached", 100}, {"handled", 55}, {"agreement", 0.9}}}},
            {"handled", prop},
            {"agreement", agree},
            {"deferred", 45}}},
          {"slices", {{"teacher_label", {slice}}, {"predicted_label", {slice}}, {"tag", {slice}}}},
          {"flagged_slices", 3},
          {"agreement_gap",
           {{"handled", 55},
            {"disagreements", 5},
            {"pairs", {{{"answer", h}, {"teacher", h}, {"count", 5}, {"examples", {row}}}}},
            {"who_was_right",
             {{"surrogate", 1}, {"teacher", 3}, {"neither", 1}, {"without_gold", 0}}}}},
          {"examples",
           {{"boundary_pairs",
             {{{"predicted", h}, {"distance", 0.5}, {"handled", row}, {"deferred", row}}}},
            {"representatives",
             {{{"teacher", h}, {"rows", 10}, {"handled", row}, {"deferred", nullptr}}}},
            {"confident_disagreements", {row}}}},
          {"risk_coverage",
           {{"family", h},
            {"model", h},
            {"aurc", 0.05},
            {"e_aurc", 0.01},
            {"optimal_aurc", 0.04},
            {"curve", {{0.1, 0.0, 0.0}, {0.5, 0.05, 0.0}, {1.0, 0.2, 0.2}}},
            {"deployed_point", {0.55, 0.09}}}},
          {"temporal",
           {{"order", "row_order"},
            {"windows",
             {{{"rows", 50}, {"coverage", prop}, {"agreement", agree}, {"drift", false}},
              {{"rows", 50},
               {"coverage", prop},
               {"agreement", agree},
               {"coverage_change", 0.0},
               {"drift", true}}}}}},
          {"compare",
           {{"coverage_a", prop},
            {"coverage_b", prop},
            {"agreement_a", agree},
            {"agreement_b", agree},
            {"to_handled", 4},
            {"to_deferred", 4},
            {"flagged_classes", 0},
            {"classes",
             {{{"teacher", h},
               {"rows", 10},
               {"coverage_a", prop},
               {"coverage_b", prop},
               {"to_handled", 4},
               {"to_deferred", 4},
               {"coverage_change", 0.0},
               {"p_value", 1.0},
               {"flagged", false}}}}}}};
}

TEST(AuditPage, HostileTraceTextStaysText) {
  std::string big(10240, 'a');
  const std::string h = "<script>alert(\"x\")</script></style></pre>'\xFF\xC0\xBC" + big;
  report::AuditPage page;
  page.title = h;
  page.subtitle = h;
  page.facts = {{h, h}};
  page.audit = json::array({hostile_entry(h)});
  page.config_text = "name: x\n</pre><script>alert(1)</script>";
  const std::string html = report::audit_page(page);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(occurrences(html, "</style>"), 1u);  // the style sheet's own
  EXPECT_EQ(occurrences(html, "</pre>"), 1u);    // the config block's own
  EXPECT_EQ(html.find("\xFF"), std::string::npos);
  EXPECT_GT(occurrences(html, "&lt;script&gt;alert(&quot;x&quot;)"), 10u);
  // Every section the issue names is there, without script and without anything from outside.
  for (const char* part :
       {"Routing flow", "Risk–coverage", "Coverage per teacher class", "Slices per teacher label",
        "Agreement gap", "who was right", "Contrastive boundary pairs", "Representative examples",
        "confident disagreements", "Temporal deltas", "Compared with policy B", "Resolved config",
        "Content-Security-Policy"})
    EXPECT_NE(html.find(part), std::string::npos) << part;
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
}

// An entry with most keys missing or of the wrong kind renders (no crash, no undefined access).
TEST(AuditPage, SparseEntryRenders) {
  report::AuditPage page;
  page.title = "t";
  page.audit = json::array(
      {json{{"target", 0.9}, {"slices", json::array()}, {"routing", 3}}, json::object()});
  const std::string html = report::audit_page(page);
  EXPECT_NE(html.find("No policy is deployed"), std::string::npos);
}

TEST(AuditPage, TheVerdictStatesTheDeployedNumbers) {
  report::AuditPage page;
  page.title = "t";
  page.audit = json::array({hostile_entry("c")});
  page.calibration = {{"mode", "guaranteed"}, {"guarantee", true}, {"delta", 0.1}};
  const std::string html = report::audit_page(page);
  EXPECT_NE(html.find("answers <b>55.0%</b> itself and agrees with the teacher on <b>90.9%</b>"),
            std::string::npos)
      << html.substr(0, 4000);
  EXPECT_NE(html.find("with probability ≥ 0.9"), std::string::npos);
  // Stage 1's answered node splits into agreeing (90%) and disagreeing (10%) parts.
  EXPECT_NE(html.find("Stage 1 answers 55 (55.0%)"), std::string::npos);
}

// A cascade (rsb): stage 2's risk–coverage is on the rows stage 1 does not accept, and the
// page draws it beside stage 1's.
TEST(AuditPage, CascadeStagesHaveTheirOwnCurves) {
  testing::TempDir dir;
  const YAML::Node cfg =
      compose_config(
          kRoot / "experiments" / "configs",
          {"results_dir=" + dir.path().string(), "device=cpu", "threads=1",
           "pipeline.families=[rsb]", "pipeline.rsb.stages=3", "pipeline.rsb.residual_quantile=0.7",
           "calibration.mode=empirical", "calibration.target=0.8", "audit=true"})
          .config;
  RunOptions o;
  o.project_root = kRoot;
  o.quiet = true;
  const RunResult r = run_experiment(cfg, o);
  const json a = json::parse(read_file(r.run_dir / "audit.json"))[0];
  ASSERT_TRUE(a["deployed"].get<bool>());
  const json& routing = a["routing"]["stages"];
  const json& curves = a["risk_coverage"]["stages"];
  ASSERT_EQ(routing.size(), 3u);
  ASSERT_EQ(curves.size(), 3u);
  EXPECT_EQ(curves[0]["rows"].get<std::size_t>(), a["rows"].get<std::size_t>());
  // Without an out-of-distribution guard a stage sees what the stages before it left.
  std::size_t left = a["rows"].get<std::size_t>();
  for (std::size_t k = 1; k < 3; ++k) {
    left -= routing[k - 1]["handled"].get<std::size_t>();
    EXPECT_EQ(curves[k]["rows"].get<std::size_t>(), left) << k;
    EXPECT_EQ(routing[k]["reached"], curves[k]["rows"]) << k;
    EXPECT_FALSE(curves[k]["curve"].empty()) << k;
  }
  EXPECT_NE(read_file(r.run_dir / "report.html").find("stage 2 on the "), std::string::npos);
}

// --- deferbench audit ------------------------------------------------------------------------

struct SavedRun {
  fs::path policy;
  Dataset test;
};

// A synthetic run with save_policy, and its test split prepared again (same config and seed).
SavedRun saved_policy(const testing::TempDir& dir, const std::string& name,
                      const std::vector<std::string>& extra) {
  std::vector<std::string> overrides = {"results_dir=" + (dir / "results").string(),
                                        "save_policy=" + (dir / name).string(), "device=cpu",
                                        "threads=1", "dataset.synthetic.rows=3000"};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  const YAML::Node cfg = compose_config(kRoot / "experiments" / "configs", overrides).config;
  RunOptions o;
  o.project_root = kRoot;
  o.quiet = true;
  run_experiment(cfg, o);
  const RunSettings s = RunSettings::from_config(cfg, kRoot);
  Context ctx = s.context();
  ctx.device = Device::kCpu;
  return {dir / name, prepare_data(s, ctx).test};
}

// The test split as JSONL traces with their embeddings beside them.
fs::path write_traffic(const testing::TempDir& dir, const Dataset& d) {
  std::string lines;
  for (std::size_t i = 0; i < d.size(); ++i) {
    json j = {{"id", d.ids[i]},
              {"input", ""},
              {"teacher", d.labels->name(d.teacher[i])},
              {"metadata", {{"domain", "d" + std::to_string(i % 3)}}}};
    if (d.has_gold() && d.gold[i] != kNoLabel) j["ground_truth"] = d.labels->name(d.gold[i]);
    lines += j.dump() + "\n";
  }
  write_npy(dir / "traffic.npy", d.features);
  return dir.write("traffic.jsonl", lines);
}

TEST(AuditCommand, AuditsSavedPolicyOnNewTrafficAndCompares) {
  testing::TempDir dir;
  const SavedRun a =
      saved_policy(dir, "policy_a", {"calibration.target=0.9", "calibration.mode=empirical"});
  const SavedRun b =
      saved_policy(dir, "policy_b", {"calibration.target=0.8", "calibration.mode=empirical"});
  const fs::path traffic = write_traffic(dir, a.test);
  const ProgramOutput r =
      run_capture(DEFERBENCH_BINARY,
                  {"audit", "--policy", a.policy.string(), "--input", traffic.string(), "-o", "out",
                   "--compare", b.policy.string(), "--time", "row_order", "--windows", "3",
                   "--threads", "1", "--field", "domain"},
                  dir.path());
  ASSERT_EQ(r.status, 0) << r.err;
  const json audit = json::parse(read_file(dir / "out/audit.json"));
  ASSERT_EQ(audit.size(), 1u);
  const json& e = audit[0];
  EXPECT_EQ(e["rows"].get<std::size_t>(), a.test.size());
  EXPECT_EQ(e["target"].get<double>(), 0.9);
  EXPECT_EQ(e["split"], "input");
  // The audit's decisions are the policy's: route the same rows directly.
  Context ctx{Device::kCpu, 0, 1};
  const SavedPolicy pa = load_policy(a.policy), pb = load_policy(b.policy);
  ASSERT_FALSE(pa.stages.empty());
  ASSERT_FALSE(pb.stages.empty());
  const Routed ra = route(pa.stages, a.test.features, ctx),
               rb = route(pb.stages, a.test.features, ctx);
  std::size_t handled_a = 0, handled_b = 0, agreed_a = 0, moved_in = 0, moved_out = 0;
  for (std::size_t i = 0; i < a.test.size(); ++i) {
    handled_a += ra.stage[i] >= 0;
    handled_b += rb.stage[i] >= 0;
    agreed_a += ra.stage[i] >= 0 && ra.label[i] == a.test.teacher[i];
    moved_in += ra.stage[i] < 0 && rb.stage[i] >= 0;
    moved_out += ra.stage[i] >= 0 && rb.stage[i] < 0;
  }
  EXPECT_EQ(e["routing"]["handled"]["k"].get<std::size_t>(), handled_a);
  EXPECT_EQ(e["routing"]["agreement"]["k"].get<std::size_t>(), agreed_a);
  EXPECT_EQ(e["agreement_gap"]["disagreements"].get<std::size_t>(), handled_a - agreed_a);
  std::size_t slice_rows = 0;
  for (const json& s : e["slices"]["teacher_label"]) slice_rows += s["rows"].get<std::size_t>();
  EXPECT_EQ(slice_rows, a.test.size());
  ASSERT_EQ(e["temporal"]["windows"].size(), 3u);
  // The metadata field named with --field is a kind of slice: d0, d1, d2 by row number.
  const json& domain = e["slices"]["field:domain"];
  ASSERT_EQ(domain.size(), 3u);
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(domain[k]["name"], "d" + std::to_string(k));
    EXPECT_EQ(domain[k]["rows"].get<std::size_t>(), (a.test.size() + 2 - k) / 3);
  }
  // The comparison: the rows that moved, overall and summed over the classes.
  const json& c = e["compare"];
  EXPECT_EQ(c["coverage_b"]["k"].get<std::size_t>(), handled_b);
  EXPECT_EQ(c["to_handled"].get<std::size_t>(), moved_in);
  EXPECT_EQ(c["to_deferred"].get<std::size_t>(), moved_out);
  std::size_t in = 0, out = 0;
  for (const json& k : c["classes"]) {
    in += k["to_handled"].get<std::size_t>();
    out += k["to_deferred"].get<std::size_t>();
  }
  EXPECT_EQ(in, moved_in);
  EXPECT_EQ(out, moved_out);
  EXPECT_LT(handled_a, handled_b) << "a lower target answers more";
  const std::string html = read_file(dir / "out/report.html");
  EXPECT_NE(html.find("Compared with policy B"), std::string::npos);
  EXPECT_NE(html.find("Risk–coverage"), std::string::npos);
}

TEST(AuditCommand, BadInputIsOneLineAndWritesNothing) {
  testing::TempDir dir;
  const SavedRun a = saved_policy(dir, "policy", {});
  write_npy(dir / "x.npy", a.test.features);
  // Traffic without the teacher's answers cannot be audited.
  const fs::path no_teacher = dir.write("plain.jsonl", "{\"id\": \"q1\", \"input\": \"\"}\n");
  for (const fs::path& input : {dir / "x.npy", no_teacher}) {
    const ProgramOutput r = run_capture(
        DEFERBENCH_BINARY,
        {"audit", "--policy", a.policy.string(), "--input", input.string(), "-o", "out"},
        dir.path());
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(input.filename().string()), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir / "out"));
  }
}

}  // namespace
}  // namespace deferbench
