// `deferbench report`: the statistics against published tables and hand computations, then a
// small sweep folder written by hand (1 dataset, 2 calibration modes, 2 targets, 3 seeds, one
// failed run) whose tables and plot data are checked value by value.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "core/util/atomic_file.h"
#include "experiments/report.h"
#include "experiments/report/escape.h"
#include "experiments/report/tables.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using deferbench::testing::error_of;
using deferbench::testing::TempDir;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kT975df2 = 4.302652729749461;  // t_{0.975} with 2 degrees of freedom

// ---- statistics ----

TEST(ReportStats, StudentTQuantileMatchesTables) {
  EXPECT_NEAR(student_t_quantile(0.975, 9), 2.262157, 1e-5);
  EXPECT_NEAR(student_t_quantile(0.975, 1), 12.706205, 1e-5);
  EXPECT_NEAR(student_t_quantile(0.975, 30), 2.042272, 1e-5);
  EXPECT_NEAR(student_t_quantile(0.975, 2), kT975df2, 1e-9);
  EXPECT_NEAR(student_t_quantile(0.995, 4), 4.604095, 1e-5);
  // df = 2 has a closed form: t_p = (2p − 1) sqrt(2 / (4p(1 − p))).
  for (double p : {0.6, 0.9, 0.999}) {
    const double exact = (2 * p - 1) * std::sqrt(2 / (4 * p * (1 - p)));
    EXPECT_NEAR(student_t_quantile(p, 2), exact, 1e-9 * exact) << p;
  }
  // df = 1 is the Cauchy distribution: t_p = tan(π (p − 1/2)).
  EXPECT_NEAR(student_t_quantile(0.9, 1), std::tan(M_PI * 0.4), 1e-9);
  // Large df approaches the normal quantile 1.959964.
  EXPECT_NEAR(student_t_quantile(0.975, 1e7), 1.959964, 1e-5);
  EXPECT_EQ(student_t_quantile(0.5, 7), 0.0);
  for (double df : {1.0, 3.0, 12.5})
    for (double p : {0.6, 0.975, 0.9999})
      EXPECT_NEAR(student_t_quantile(1 - p, df), -student_t_quantile(p, df), 1e-9) << p << df;
}

TEST(ReportStats, StudentTCdfInvertsTheQuantile) {
  for (double df : {1.0, 2.0, 5.0, 40.0})
    for (double p : {0.01, 0.3, 0.5, 0.8, 0.975, 0.9999})
      EXPECT_NEAR(student_t_cdf(student_t_quantile(p, df), df), p, 1e-12) << p << " " << df;
  // df = 1: the Cauchy CDF 1/2 + atan(t)/π.
  EXPECT_NEAR(student_t_cdf(3.0, 1), 0.5 + std::atan(3.0) / M_PI, 1e-14);
}

TEST(ReportStats, StudentTRejectsBadArguments) {
  EXPECT_NE(error_of([] { student_t_quantile(1.0, 3); }).find("p must be in (0, 1)"),
            std::string::npos);
  EXPECT_NE(error_of([] { student_t_quantile(0.9, 0); }).find("degrees of freedom"),
            std::string::npos);
}

TEST(ReportStats, MeanCiByHand) {
  // {1, 2, 3, 4}: mean 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, sd = sqrt(5/3).
  const MeanCI m = mean_ci({1, 2, 3, 4});
  EXPECT_EQ(m.n, 4u);
  EXPECT_DOUBLE_EQ(m.mean, 2.5);
  EXPECT_NEAR(m.sd, 1.290994, 1e-6);
  const double half = 3.182446 * 1.290994 / 2;  // t_{0.975, 3} · sd / sqrt(4)
  EXPECT_NEAR(m.ci_low, 2.5 - half, 1e-5);
  EXPECT_NEAR(m.ci_high, 2.5 + half, 1e-5);
}

TEST(ReportStats, MeanCiOfOneAndNoValues) {
  const MeanCI one = mean_ci({0.7});
  EXPECT_EQ(one.n, 1u);
  EXPECT_DOUBLE_EQ(one.mean, 0.7);
  EXPECT_TRUE(std::isnan(one.sd) && std::isnan(one.ci_low) && std::isnan(one.ci_high));
  const MeanCI none = mean_ci({});
  EXPECT_EQ(none.n, 0u);
  EXPECT_TRUE(std::isnan(none.mean) && std::isnan(none.sd));
  const MeanCI same = mean_ci({0.3, 0.3, 0.3});
  EXPECT_DOUBLE_EQ(same.sd, 0);
  EXPECT_DOUBLE_EQ(same.ci_low, 0.3);
}

// ---- a sweep folder written by hand ----

// One target of one run's metrics.json. selection "": nothing selected.
struct Outcome {
  double target;
  std::string selection;  // family/model
  bool deployed;
  double coverage, agreement, f1;  // agreement NaN: nothing handled (null)
};

json metrics_json(const std::string& dataset, const std::string& mode, int seed,
                  const std::vector<Outcome>& outcomes) {
  json targets = json::array();
  for (const Outcome& o : outcomes) {
    json selected = nullptr;
    if (!o.selection.empty()) {
      const std::size_t slash = o.selection.find('/');
      selected = {{"family", o.selection.substr(0, slash)},
                  {"model", o.selection.substr(slash + 1)},
                  {"val_coverage", 0.5},
                  {"val_agreement", 0.9}};
    }
    json test = {{"rows", 100},
                 {"handled", 50},
                 {"coverage", o.coverage},
                 {"teacher_agreement", std::isnan(o.agreement) ? json() : json(o.agreement)},
                 {"e2e_accuracy", 0.8},
                 {"e2e_macro_f1", o.f1},
                 {"cost_per_1k", 500.0}};
    if (!o.selection.empty()) {  // an oracle 0.1 above the coverage
      test["oracle_coverage"] = o.coverage + 0.1;
      test["efficiency"] = o.coverage / (o.coverage + 0.1);
    }
    targets.push_back({{"target", o.target},
                       {"candidates", 12},
                       {"frontier", 4},
                       {"selected", selected},
                       {"deployed", o.deployed},
                       {"test", test}});
  }
  const json zoo =
      json::array({{{"model", "logreg"}, {"stages", 1}, {"fit_seconds", 1.0 + seed}},
                   {{"model", "logreg(C=10)"}, {"stages", 1}, {"fit_seconds", 2.0 * (seed + 1)}}});
  return {{"experiment", "toy"},
          {"dataset", dataset},
          {"model", "logreg"},
          {"seed", seed},
          {"calibration",
           {{"mode", mode},
            {"guarantee", mode == "guaranteed"},
            {"delta", 0.1},
            {"per_class", false},
            {"targets", {0.8, 0.9}}}},
          {"zoo", zoo},
          {"targets", targets},
          {"test", targets[0]["test"]},
          {"seconds", {{"load", 0.1}, {"fit", 1.0}, {"total", 2.0}}}};
}

// frontier.csv of one run. Per target, model and family (run.cpp's order):
//   global: never val-feasible, test coverage 0, agreement undefined;
//   l2d:  logreg feasible, val coverage 0.50; logreg(C=10) val coverage 0.60, feasible at 0.8 only;
//   rsb:  both feasible with val coverage 0.55 (a tie: the first row, logreg, wins).
// test coverage = base + 0.01·seed (+ 0.05 in empirical mode); test agreement = base − 0.01·seed.
std::string frontier_csv(const std::string& mode, int seed) {
  struct Spec {
    double target;
    const char *family, *model;
    bool feasible;
    double val_coverage, test_coverage, test_agreement;
    bool frontier;
  };
  static const Spec kSpecs[] = {
      {0.8, "global", "logreg", false, 0, 0, kNaN, false},
      {0.8, "l2d", "logreg", true, 0.50, 0.45, 0.85, true},
      {0.8, "rsb", "logreg", true, 0.55, 0.52, 0.86, true},
      {0.8, "global", "logreg(C=10)", false, 0, 0, kNaN, false},
      {0.8, "l2d", "logreg(C=10)", true, 0.60, 0.62, 0.83, false},
      {0.8, "rsb", "logreg(C=10)", true, 0.55, 0.58, 0.84, false},
      {0.9, "global", "logreg", false, 0, 0, kNaN, false},
      {0.9, "l2d", "logreg", true, 0.50, 0.30, 0.93, true},
      {0.9, "rsb", "logreg", true, 0.55, 0.25, 0.95, true},
      {0.9, "global", "logreg(C=10)", false, 0, 0, kNaN, false},
      {0.9, "l2d", "logreg(C=10)", false, 0.60, 0.35, 0.88, false},
      {0.9, "rsb", "logreg(C=10)", true, 0.55, 0.28, 0.91, false},
  };
  // Seed 2's file is one written before the AURC columns: they are optional.
  const bool aurc = seed != 2;
  std::string out =
      "target,family,model,val_coverage,val_agreement,val_cost_per_1k,val_feasible,on_frontier,"
      "selected,cal_feasible,stage1_threshold,stage1_lower_bound,test_coverage,test_agreement,"
      "test_e2e_accuracy,test_e2e_macro_f1,test_cost_per_1k";
  out += aurc ? ",test_aurc,test_e_aurc\n" : "\n";
  for (const Spec& s : kSpecs) {
    const bool global = std::string(s.family) == "global";
    const double coverage =
        global ? 0 : s.test_coverage + 0.01 * seed + (mode == "empirical" ? 0.05 : 0);
    const std::string agreement = global ? "" : fmt::format("{}", s.test_agreement - 0.01 * seed);
    // The model field is quoted, as a CSV writer may do.
    out += fmt::format("{},{},\"{}\",{},0.9,100,{},{},0,1,0.5,0.85,{},{},0.8,0.75,500", s.target,
                       s.family, s.model, s.val_coverage, s.feasible ? 1 : 0, s.frontier ? 1 : 0,
                       coverage, agreement);
    // AURC 0.2 + 0.01·seed, E-AURC 0.05.
    out += aurc ? fmt::format(",{},0.05\n", 0.2 + 0.01 * seed) : "\n";
  }
  return out;
}

// The deployed policies, per mode and seed, at targets 0.8 and 0.9.
const std::map<std::string, std::vector<std::vector<Outcome>>> kOutcomes = {
    {"guaranteed",
     {{{0.8, "l2d/logreg", true, 0.50, 0.85, 0.70}, {0.9, "", false, 0.0, kNaN, 0.60}},
      {{0.8, "l2d/logreg", true, 0.60, 0.79, 0.72},
       {0.9, "l2d/logreg(C=10)", true, 0.30, 0.95, 0.66}},
      {{0.8, "rsb/logreg", true, 0.70, 0.82, 0.74},
       {0.9, "rsb/logreg", false, 0.0, kNaN, 0.63}}}},  // selected, not deployed
    {"empirical",
     {{{0.8, "rsb/logreg", true, 0.80, 0.78, 0.80}, {0.9, "rsb/logreg", true, 0.40, 0.88, 0.75}},
      {{0.8, "rsb/logreg", true, 0.70, 0.81, 0.78}, {0.9, "l2d/logreg", true, 0.50, 0.91, 0.77}},
      {{0.8, "rsb/logreg", true, 0.90, 0.77, 0.82}, {0.9, "rsb/logreg", true, 0.45, 0.92, 0.76}}}},
};

// runs/0..5: guaranteed seeds 0–2, then empirical seeds 0–2; runs/6 failed (no metrics.json);
// runs/.tmp-7-1 an unfinished temporary (not a run).
void write_fixture(const fs::path& dir) {
  int n = 0;
  for (const std::string mode : {"guaranteed", "empirical"})
    for (int seed = 0; seed < 3; ++seed, ++n) {
      const fs::path run = dir / "runs" / std::to_string(n);
      fs::create_directories(run);
      write_file_atomic(run / "metrics.json",
                        metrics_json("toy", mode, seed, kOutcomes.at(mode)[seed]).dump(2));
      write_file_atomic(run / "frontier.csv", frontier_csv(mode, seed));
      write_file_atomic(run / "overrides.yaml",
                        fmt::format("[experiment=toy, calibration={}, seed={}, "
                                    "\"calibration.target=[0.8,0.9]\"]\n",
                                    mode, seed));
    }
  fs::create_directories(dir / "runs" / "6");
  write_file_atomic(dir / "runs" / "6" / "error.txt", "boom\n");
  fs::create_directories(dir / "runs" / ".tmp-7-1");
}

using Row = std::map<std::string, std::string>;

std::vector<Row> read_table_csv(const fs::path& file) {
  std::istringstream in(read_file(file));
  std::string line;
  auto split = [](const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string f;
    while (std::getline(ss, f, ',')) out.push_back(f);
    if (!s.empty() && s.back() == ',') out.push_back("");
    return out;
  };
  std::getline(in, line);
  const std::vector<std::string> header = split(line);
  std::vector<Row> rows;
  while (std::getline(in, line)) {
    const std::vector<std::string> fields = split(line);
    EXPECT_EQ(fields.size(), header.size()) << line;
    Row r;
    for (std::size_t i = 0; i < header.size() && i < fields.size(); ++i) r[header[i]] = fields[i];
    rows.push_back(r);
  }
  return rows;
}

const Row& find_row(const std::vector<Row>& rows, const Row& where) {
  for (const Row& r : rows) {
    bool match = true;
    for (const auto& [k, v] : where) match = match && r.count(k) && r.at(k) == v;
    if (match) return r;
  }
  static const Row kNone;
  ADD_FAILURE() << "no row with " << ::testing::PrintToString(where);
  return kNone;
}

double num(const Row& r, const std::string& column) {
  if (!r.count(column)) {
    ADD_FAILURE() << "no column " << column;
    return kNaN;
  }
  return r.at(column).empty() ? kNaN : std::stod(r.at(column));
}

// Blocks (separated by blank lines) of rows of numbers; comment lines left out.
std::vector<std::vector<std::vector<double>>> read_dat(const fs::path& file) {
  std::istringstream in(read_file(file));
  std::vector<std::vector<std::vector<double>>> blocks(1);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) {
      if (!blocks.back().empty()) blocks.emplace_back();
      continue;
    }
    if (line[0] == '#') continue;
    std::istringstream fields(line);
    std::vector<double> row;
    std::string f;
    while (fields >> f) row.push_back(f[0] == '"' ? kNaN : std::stod(f));
    blocks.back().push_back(row);
  }
  if (blocks.back().empty()) blocks.pop_back();
  return blocks;
}

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':'))
    if (!dir.empty() && ::access((fs::path(dir) / program).c_str(), X_OK) == 0) return true;
  return false;
}

class ReportSweep : public ::testing::Test {
 protected:
  void SetUp() override { write_fixture(dir_.path()); }
  ReportResult report(ReportOptions options = {}) {
    options.gnuplot = "deferbench-test-no-gnuplot";  // rendering is tested on its own
    return write_report(dir_.path(), options);
  }
  std::vector<Row> table(const std::string& name) {
    return read_table_csv(dir_ / ("tables/" + name + ".csv"));
  }
  TempDir dir_;
};

TEST_F(ReportSweep, CountsRunsAndSkipsUnfinishedOnes) {
  const ReportResult r = report();
  EXPECT_EQ(r.runs, 6u);
  EXPECT_EQ(r.skipped_runs, 1u);  // runs/6; runs/.tmp-7-1 is not a run folder
  std::vector<std::string> names;
  for (const fs::path& f : r.files) {
    EXPECT_TRUE(fs::is_regular_file(f)) << f;
    names.push_back(f.lexically_relative(dir_.path()).string());
  }
  for (const char* expected :
       {"tables/table1_selection.md", "tables/table1_selection.tex", "tables/table1_selection.csv",
        "tables/table2_zoo.csv", "tables/table3_modes.tex", "plots/coverage_vs_target_toy.dat",
        "plots/coverage_vs_target_toy.gp", "plots/pareto_toy.gp", "plots/violations_toy.dat"})
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
}

TEST_F(ReportSweep, SelectionTableMatchesHandComputation) {
  report();
  const std::vector<Row> rows = table("table1_selection");
  ASSERT_EQ(rows.size(), 4u);  // 2 modes × 2 targets, sorted: empirical first, then guaranteed
  EXPECT_EQ(rows[0].at("mode"), "empirical");
  EXPECT_EQ(rows[0].at("target"), "0.8");
  EXPECT_EQ(rows[3].at("mode"), "guaranteed");
  EXPECT_EQ(rows[3].at("target"), "0.9");

  // guaranteed, 0.8: coverage {0.5, 0.6, 0.7}: mean 0.6, sd 0.1, half-width 4.302653·0.1/√3.
  const Row& g8 = find_row(rows, {{"mode", "guaranteed"}, {"target", "0.8"}});
  EXPECT_EQ(g8.at("runs"), "3");
  EXPECT_EQ(g8.at("selected"), "l2d/logreg");
  EXPECT_EQ(g8.at("selected_runs"), "2");
  EXPECT_NEAR(num(g8, "coverage_mean"), 0.6, 1e-12);
  EXPECT_NEAR(num(g8, "coverage_sd"), 0.1, 1e-12);
  EXPECT_NEAR(num(g8, "coverage_ci_low"), 0.6 - kT975df2 * 0.1 / std::sqrt(3.0), 1e-9);
  EXPECT_NEAR(num(g8, "coverage_ci_high"), 0.6 + 0.248414, 1e-6);
  // agreement {0.85, 0.79, 0.82}: mean 0.82, sd 0.03; 0.79 < 0.8 is the one violation.
  EXPECT_NEAR(num(g8, "agreement_mean"), 0.82, 1e-12);
  EXPECT_NEAR(num(g8, "agreement_sd"), 0.03, 1e-12);
  EXPECT_EQ(g8.at("violations"), "1");
  EXPECT_EQ(g8.at("none_handled"), "0");
  // macro-F1 {0.70, 0.72, 0.74}: mean 0.72, sd 0.02.
  EXPECT_NEAR(num(g8, "e2e_macro_f1_mean"), 0.72, 1e-12);
  EXPECT_NEAR(num(g8, "e2e_macro_f1_sd"), 0.02, 1e-12);

  // guaranteed, 0.9: nothing selected, l2d/logreg(C=10), selected but not deployed → teacher only
  // twice. coverage {0, 0.3, 0}: mean 0.1, sd sqrt((0.01 + 0.04 + 0.01)/2) = sqrt(0.03).
  // Agreement only where something was handled: n = 1, no interval; no violation (0.95 ≥ 0.9).
  const Row& g9 = find_row(rows, {{"mode", "guaranteed"}, {"target", "0.9"}});
  EXPECT_EQ(g9.at("selected"), "teacher only");
  EXPECT_EQ(g9.at("selected_runs"), "2");
  EXPECT_NEAR(num(g9, "coverage_mean"), 0.1, 1e-12);
  EXPECT_NEAR(num(g9, "coverage_sd"), std::sqrt(0.03), 1e-12);
  EXPECT_EQ(g9.at("agreement_n"), "1");
  EXPECT_NEAR(num(g9, "agreement_mean"), 0.95, 1e-12);
  EXPECT_EQ(g9.at("agreement_sd"), "");
  EXPECT_EQ(g9.at("agreement_ci_low"), "");
  EXPECT_EQ(g9.at("none_handled"), "2");
  EXPECT_EQ(g9.at("violations"), "0");

  // empirical, 0.8: agreement {0.78, 0.81, 0.77}: two below 0.8; mean 2.36/3.
  const Row& e8 = find_row(rows, {{"mode", "empirical"}, {"target", "0.8"}});
  EXPECT_EQ(e8.at("selected"), "rsb/logreg");
  EXPECT_EQ(e8.at("selected_runs"), "3");
  EXPECT_EQ(e8.at("violations"), "2");
  EXPECT_NEAR(num(e8, "agreement_mean"), 2.36 / 3, 1e-12);
  // deviations −1/150, 7/300, −1/60: squares sum 8.6667e-4, sd = sqrt(4.3333e-4) = 0.0208167.
  EXPECT_NEAR(num(e8, "agreement_sd"), 0.0208167, 1e-7);
  EXPECT_NEAR(num(e8, "coverage_mean"), 0.8, 1e-12);

  // empirical, 0.9: rsb/logreg twice, l2d/logreg once; 0.88 < 0.9 once.
  const Row& e9 = find_row(rows, {{"mode", "empirical"}, {"target", "0.9"}});
  EXPECT_EQ(e9.at("selected"), "rsb/logreg");
  EXPECT_EQ(e9.at("selected_runs"), "2");
  EXPECT_EQ(e9.at("violations"), "1");
  EXPECT_NEAR(num(e9, "coverage_mean"), 0.45, 1e-12);
  EXPECT_NEAR(num(e9, "coverage_sd"), 0.05, 1e-12);
  // Each run's oracle is its coverage + 0.1: the mean moves by 0.1, the spread stays.
  EXPECT_NEAR(num(e9, "oracle_coverage_mean"), 0.55, 1e-12);
  EXPECT_NEAR(num(e9, "oracle_coverage_sd"), 0.05, 1e-12);
  EXPECT_GT(num(e9, "efficiency_mean"), 0.0);
  EXPECT_LT(num(e9, "efficiency_mean"), 1.0);
}

TEST_F(ReportSweep, MarkdownAndLatexShowMeanPlusMinusHalfWidth) {
  report();
  const std::string md = read_file(dir_ / "tables/table1_selection.md");
  // 0.6 ± 0.248 (4.302653 · 0.1 / √3 = 0.24841); the selection with its count; NaN as –.
  EXPECT_NE(md.find("| toy | guaranteed | 0.8 | 3 | l2d/logreg (2/3) | 0.600 ± 0.248 |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("teacher only (2/3) | 0.100 ± 0.430 | 0.950 | 2 |"), std::string::npos) << md;
  const std::string tex = read_file(dir_ / "tables/table1_selection.tex");
  for (const char* needle : {"\\begin{table}", "\\begin{tabular}{llrrlrrrrrrr}", "\\toprule",
                             "\\midrule", "\\bottomrule", "0.600 $\\pm$ 0.248", "95\\% CI"})
    EXPECT_NE(tex.find(needle), std::string::npos) << needle << "\n" << tex;
  EXPECT_EQ(tex.find("±"), std::string::npos);
  EXPECT_EQ(tex.find("–"), std::string::npos);
}

TEST_F(ReportSweep, ZooTableAveragesEachModelOverSeeds) {
  report();
  const std::vector<Row> rows = table("table2_zoo");
  ASSERT_EQ(rows.size(), 4u);  // 2 modes × 2 models
  EXPECT_NE(read_file(dir_ / "tables/table2_zoo.md").find("at target 0.9"), std::string::npos);
  // At 0.9, guaranteed: test coverage base + 0.01·{0,1,2} → base + 0.01; agreement base − 0.01.
  const Row& g = find_row(rows, {{"mode", "guaranteed"}, {"model", "logreg"}});
  EXPECT_EQ(g.at("runs"), "3");
  EXPECT_NEAR(num(g, "l2d_coverage_mean"), 0.31, 1e-9);
  EXPECT_NEAR(num(g, "l2d_coverage_sd"), 0.01, 1e-9);
  EXPECT_NEAR(num(g, "l2d_agreement_mean"), 0.92, 1e-9);
  EXPECT_NEAR(num(g, "rsb_coverage_mean"), 0.26, 1e-9);
  EXPECT_NEAR(num(g, "rsb_agreement_mean"), 0.94, 1e-9);
  EXPECT_NEAR(num(g, "fit_seconds_mean"), 2.0, 1e-12);  // 1 + seed
  // AURC from the two runs whose frontier.csv has it: 0.20 and 0.21.
  EXPECT_NEAR(num(g, "l2d_aurc_mean"), 0.205, 1e-9);
  EXPECT_NEAR(num(g, "l2d_e_aurc_mean"), 0.05, 1e-9);
  const Row& gc = find_row(rows, {{"mode", "guaranteed"}, {"model", "logreg(C=10)"}});
  EXPECT_NEAR(num(gc, "l2d_coverage_mean"), 0.36, 1e-9);
  EXPECT_NEAR(num(gc, "rsb_agreement_mean"), 0.90, 1e-9);
  EXPECT_NEAR(num(gc, "fit_seconds_mean"), 4.0, 1e-12);  // 2 (seed + 1)
  // Empirical runs are never averaged with guaranteed ones: + 0.05 coverage.
  const Row& e = find_row(rows, {{"mode", "empirical"}, {"model", "logreg"}});
  EXPECT_NEAR(num(e, "l2d_coverage_mean"), 0.36, 1e-9);

  // Another target on request: at 0.8, l2d/logreg coverage 0.45 + 0.01.
  ReportOptions at08;
  at08.zoo_target = 0.8;
  report(at08);
  EXPECT_NEAR(num(find_row(table("table2_zoo"), {{"mode", "guaranteed"}, {"model", "logreg"}}),
                  "l2d_coverage_mean"),
              0.46, 1e-9);
  EXPECT_NE(read_file(dir_ / "tables/table2_zoo.tex").find("at target 0.8"), std::string::npos);
  ReportOptions missing;
  missing.zoo_target = 0.7;
  const std::string err = error_of([&] { report(missing); });
  EXPECT_NE(err.find("zoo target 0.7 is not among the sweep's targets (0.8, 0.9)"),
            std::string::npos)
      << err;
}

TEST_F(ReportSweep, ModesTableHasViolationRatesWithClopperPearsonIntervals) {
  report();
  const std::vector<Row> rows = table("table3_modes");
  ASSERT_EQ(rows.size(), 4u);
  // Sorted by target, then mode.
  EXPECT_EQ(rows[0].at("target") + rows[0].at("mode"), "0.8empirical");
  EXPECT_EQ(rows[1].at("target") + rows[1].at("mode"), "0.8guaranteed");
  EXPECT_EQ(rows[2].at("target") + rows[2].at("mode"), "0.9empirical");
  // 1 violation in 3: lower bound solves P(X ≥ 1) = 1 − (1 − p)³ = 0.025; the upper one
  // P(X ≤ 1) = (1 − p)³ + 3p(1 − p)² = 0.025.
  const Row& g8 = rows[1];
  EXPECT_EQ(g8.at("handled_runs"), "3");
  EXPECT_EQ(g8.at("violations"), "1");
  EXPECT_NEAR(num(g8, "violation_rate"), 1.0 / 3, 1e-12);
  EXPECT_NEAR(num(g8, "violation_rate_ci_low"), 1 - std::pow(0.975, 1.0 / 3), 1e-9);
  const double u = num(g8, "violation_rate_ci_high");
  EXPECT_NEAR(std::pow(1 - u, 3) + 3 * u * (1 - u) * (1 - u), 0.025, 1e-9);
  EXPECT_NEAR(num(g8, "delta"), 0.1, 1e-12);
  // 2 in 3: the upper bound solves P(X ≤ 2) = 1 − p³ = 0.025.
  EXPECT_NEAR(num(rows[0], "violation_rate"), 2.0 / 3, 1e-12);
  EXPECT_NEAR(num(rows[0], "violation_rate_ci_high"), std::pow(0.975, 1.0 / 3), 1e-9);
  // guaranteed at 0.9: only one run handled anything, no violation: 0/1, interval [0, 0.975].
  const Row& g9 = rows[3];
  EXPECT_EQ(g9.at("runs"), "3");
  EXPECT_EQ(g9.at("handled_runs"), "1");
  EXPECT_NEAR(num(g9, "violation_rate"), 0, 0);
  EXPECT_NEAR(num(g9, "violation_rate_ci_low"), 0, 0);
  EXPECT_NEAR(num(g9, "violation_rate_ci_high"), 0.975, 1e-9);
  EXPECT_NEAR(num(g9, "coverage_mean"), 0.1, 1e-12);
}

TEST_F(ReportSweep, TablesAreReproducible) {
  report();
  std::map<std::string, std::string> first;
  for (const auto& e : fs::directory_iterator(dir_ / "tables"))
    first[e.path().filename().string()] = read_file(e.path());
  EXPECT_EQ(first.size(), 9u);
  report();
  for (const auto& [name, text] : first) EXPECT_EQ(read_file(dir_ / ("tables/" + name)), text);
}

TEST_F(ReportSweep, CoveragePlotDataFollowsEachFamilysOwnChoice) {
  report();
  const auto blocks = read_dat(dir_ / "plots/coverage_vs_target_toy.dat");
  ASSERT_EQ(blocks.size(), 2u);  // panels: empirical, guaranteed
  // Columns: target, then mean/ci_low/ci_high for global, l2d, rsb, selected.
  const std::vector<double>& g8 = blocks[1][0];
  ASSERT_EQ(g8.size(), 13u);
  EXPECT_DOUBLE_EQ(g8[0], 0.8);
  EXPECT_NEAR(g8[1], 0, 1e-12);  // global: never val-feasible → teacher only → 0
  // l2d at 0.8: logreg(C=10) has the higher val coverage (0.60 > 0.50): 0.62 + 0.01·seed.
  EXPECT_NEAR(g8[4], 0.63, 1e-9);
  EXPECT_NEAR(g8[6] - g8[4], kT975df2 * 0.01 / std::sqrt(3.0), 1e-9);
  EXPECT_NEAR(g8[7], 0.53, 1e-9);   // rsb: a tie at 0.55, the first row (logreg): 0.52 + 0.01
  EXPECT_NEAR(g8[10], 0.6, 1e-12);  // selected: metrics.json coverage
  const std::vector<double>& g9 = blocks[1][1];
  EXPECT_NEAR(g9[4], 0.31, 1e-9);  // l2d at 0.9: logreg(C=10) is not feasible → logreg
  EXPECT_NEAR(g9[7], 0.26, 1e-9);
  EXPECT_NEAR(g9[10], 0.1, 1e-12);
  EXPECT_NEAR(blocks[0][0][4], 0.68, 1e-9);  // empirical: + 0.05
  EXPECT_NEAR(blocks[0][1][10], 0.45, 1e-12);

  // Pareto at 0.9: 4 candidates with defined agreement per run (global has none), 3 runs per
  // mode; 2 of the 4 on the frontier.
  const auto pareto = read_dat(dir_ / "plots/pareto_toy.dat");
  ASSERT_EQ(pareto.size(), 2u);
  EXPECT_EQ(pareto[1].size(), 12u);
  std::size_t frontier = 0;
  for (const auto& row : pareto[1]) frontier += row[2] == 1;
  EXPECT_EQ(frontier, 6u);
  EXPECT_NE(read_file(dir_ / "plots/pareto_toy.gp").find("0.9 with lines"), std::string::npos);

  // Violations: target, then rate/ci_low/ci_high per mode (empirical, guaranteed).
  const auto violations = read_dat(dir_ / "plots/violations_toy.dat");
  ASSERT_EQ(violations.size(), 1u);
  ASSERT_EQ(violations[0].size(), 2u);
  EXPECT_NEAR(violations[0][0][1], 2.0 / 3, 1e-12);
  EXPECT_NEAR(violations[0][0][4], 1.0 / 3, 1e-12);
  EXPECT_NEAR(violations[0][1][4], 0, 1e-12);
  EXPECT_NE(read_file(dir_ / "plots/violations_toy.gp").find("delta = 0.1"), std::string::npos);
}

TEST_F(ReportSweep, MissingGnuplotWritesScriptsAndNamesThePackage) {
  const ReportResult r = report();
  EXPECT_FALSE(r.rendered);
  EXPECT_NE(r.warning.find("gnuplot-nox"), std::string::npos) << r.warning;
  EXPECT_NE(r.warning.find(dir_.path().string()), std::string::npos) << r.warning;
  for (const char* name : {"coverage_vs_target_toy", "pareto_toy", "violations_toy"}) {
    const std::string gp = read_file(dir_ / (std::string("plots/") + name + ".gp"));
    EXPECT_NE(gp.find(std::string("set output '") + name + ".png'"), std::string::npos);
    EXPECT_NE(gp.find(std::string("set output '") + name + ".svg'"), std::string::npos);
    EXPECT_NE(gp.find("pngcairo"), std::string::npos);
    EXPECT_FALSE(fs::exists(dir_ / (std::string("plots/") + name + ".png")));
  }
  ReportOptions no_plots;
  no_plots.plots = false;
  fs::remove_all(dir_ / "plots");
  const ReportResult tables_only = report(no_plots);
  EXPECT_FALSE(fs::exists(dir_ / "plots"));
  // Three tables in three formats, and the page.
  EXPECT_EQ(tables_only.files.size(), 10u);
  EXPECT_EQ(tables_only.files.back(), dir_ / "report.html");
  EXPECT_NE(read_file(dir_ / "report.html").find("Plots were not made"), std::string::npos);
  EXPECT_TRUE(tables_only.warning.empty());
}

TEST_F(ReportSweep, GnuplotRendersPngAndSvg) {
  if (!on_path("gnuplot"))
    GTEST_SKIP() << "gnuplot not on PATH (Debian: apt-get install gnuplot-nox)";
  const ReportResult r = write_report(dir_.path(), ReportOptions{});
  EXPECT_TRUE(r.rendered) << r.warning;
  EXPECT_TRUE(r.warning.empty()) << r.warning;
  for (const char* name : {"coverage_vs_target_toy", "pareto_toy", "violations_toy"})
    for (const char* ext : {".png", ".svg"}) {
      const fs::path image = dir_ / (std::string("plots/") + name + ext);
      ASSERT_TRUE(fs::exists(image)) << image;
      EXPECT_GT(fs::file_size(image), 1000u) << image;
      EXPECT_NE(std::find(r.files.begin(), r.files.end(), image), r.files.end()) << image;
    }
  EXPECT_EQ(read_file(dir_ / "plots/pareto_toy.png").substr(1, 3), "PNG");
  EXPECT_NE(read_file(dir_ / "plots/pareto_toy.svg").find("<svg"), std::string::npos);
}

TEST_F(ReportSweep, LatexTablesCompile) {
  if (!on_path("pdflatex")) GTEST_SKIP() << "pdflatex not on PATH";
  report();
  write_file_atomic(dir_ / "tables/doc.tex",
                    "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                    "\\input{table1_selection}\n\\input{table2_zoo}\n\\input{table3_modes}\n"
                    "\\end{document}\n");
  const std::string cmd = "cd '" + (dir_ / "tables").string() +
                          "' && pdflatex -interaction=nonstopmode -halt-on-error doc.tex "
                          ">latex.log 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << read_file(dir_ / "tables/latex.log");
  EXPECT_TRUE(fs::exists(dir_ / "tables/doc.pdf"));
}

// ---- grouping by other swept keys; errors ----

TEST(ReportGrouping, OtherSweptKeysSplitRowsIntoSettings) {
  TempDir dir;
  // Four runs: pipeline.acceptor ∈ {knn, probs} × seed ∈ {0, 1}; the settings differ in coverage.
  for (int n = 0; n < 4; ++n) {
    const std::string acceptor = n < 2 ? "knn" : "probs";
    const int seed = n % 2;
    const double coverage = (n < 2 ? 0.4 : 0.2) + 0.1 * seed;
    const fs::path run = dir / ("runs/" + std::to_string(n));
    fs::create_directories(run);
    write_file_atomic(run / "metrics.json",
                      metrics_json("toy", "guaranteed", seed,
                                   {{0.8, "l2d/logreg", true, coverage, 0.85, 0.7},
                                    {0.9, "l2d/logreg", true, coverage / 2, 0.92, 0.7}})
                          .dump());
    write_file_atomic(run / "frontier.csv", frontier_csv("guaranteed", seed));
    write_file_atomic(
        run / "overrides.yaml",
        fmt::format("- pipeline.acceptor={}\n- seed={}\n- results_dir=/tmp/x\n", acceptor, seed));
  }
  write_report(dir.path(), ReportOptions{-1, false, "none"});
  const std::vector<Row> rows = read_table_csv(dir / "tables/table1_selection.csv");
  ASSERT_EQ(rows.size(), 4u);  // 2 settings × 2 targets; results_dir is the same everywhere
  EXPECT_EQ(rows[0].count("results_dir"), 0u);
  const Row& knn = find_row(rows, {{"pipeline.acceptor", "knn"}, {"target", "0.8"}});
  EXPECT_EQ(knn.at("runs"), "2");
  EXPECT_NEAR(num(knn, "coverage_mean"), 0.45, 1e-12);
  const Row& probs = find_row(rows, {{"pipeline.acceptor", "probs"}, {"target", "0.8"}});
  EXPECT_NEAR(num(probs, "coverage_mean"), 0.25, 1e-12);
  EXPECT_NE(read_file(dir / "tables/table1_selection.md").find("| pipeline.acceptor |"),
            std::string::npos);
  EXPECT_EQ(read_table_csv(dir / "tables/table3_modes.csv").size(), 4u);
  EXPECT_EQ(read_table_csv(dir / "tables/table2_zoo.csv").size(), 4u);  // 2 settings × 2 models
}

TEST(ReportErrors, NotASweepFolder) {
  TempDir dir;
  const std::string err = error_of([&] { write_report(dir.path(), {}); });
  EXPECT_NE(err.find(dir.path().string()), std::string::npos) << err;
  EXPECT_NE(err.find("no runs/ folder"), std::string::npos) << err;
}

TEST(ReportErrors, NoFinishedRun) {
  TempDir dir;
  fs::create_directories(dir / "runs/0");
  dir.write("runs/0/error.txt", "failed\n");
  const std::string err = error_of([&] { write_report(dir.path(), {}); });
  EXPECT_NE(err.find(dir.path().string()), std::string::npos) << err;
  EXPECT_NE(err.find("no finished run"), std::string::npos) << err;
}

class ReportBadInput : public ::testing::Test {
 protected:
  void SetUp() override { write_fixture(dir_.path()); }
  std::string error_after(const std::string& file, const std::string& text) {
    write_file_atomic(dir_ / file, text);
    return error_of([&] { write_report(dir_.path(), ReportOptions{-1, false, "none"}); });
  }
  TempDir dir_;
};

TEST_F(ReportBadInput, MalformedMetricsJsonNamesTheFile) {
  const std::string err = error_after("runs/2/metrics.json", "{\"dataset\": \"toy\",\n  oops}");
  EXPECT_NE(err.find((dir_ / "runs/2/metrics.json").string()), std::string::npos) << err;
  EXPECT_NE(err.find("not valid JSON"), std::string::npos) << err;
  EXPECT_NE(err.find("line 2"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), std::string::npos);
}

TEST_F(ReportBadInput, MissingMetricsFieldNamesItsPath) {
  json m = metrics_json("toy", "guaranteed", 0, kOutcomes.at("guaranteed")[0]);
  m["targets"][1]["test"].erase("coverage");
  const std::string err = error_after("runs/0/metrics.json", m.dump());
  EXPECT_NE(err.find("runs/0/metrics.json: field 'targets[1].test.coverage': missing"),
            std::string::npos)
      << err;
  m["targets"][1]["test"]["coverage"] = "high";
  const std::string typed = error_after("runs/0/metrics.json", m.dump());
  EXPECT_NE(typed.find("expected a number, got \"high\""), std::string::npos) << typed;
}

TEST_F(ReportBadInput, FrontierCsvErrorsNameLineAndField) {
  // Line 4 (rsb/logreg at 0.8): its test_coverage (field 13) becomes "0.5x".
  std::vector<std::string> lines;
  std::istringstream in(frontier_csv("guaranteed", 1));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::vector<std::string> fields;
  std::stringstream row(lines[3]);
  for (std::string f; std::getline(row, f, ',');) fields.push_back(f);
  ASSERT_EQ(fields[1], "rsb");
  fields[12] = "0.5x";
  std::string csv;
  for (std::size_t i = 0; i < lines.size(); ++i)
    csv += (i == 3 ? fmt::format("{}", fmt::join(fields, ",")) : lines[i]) + "\n";
  const std::string err = error_after("runs/1/frontier.csv", csv);
  EXPECT_NE(err.find("runs/1/frontier.csv:4: field 'test_coverage': expected a number, got "
                     "'0.5x'"),
            std::string::npos)
      << err;
  const std::string missing =
      error_after("runs/1/frontier.csv", "target,family,model\n0.8,l2d,x\n");
  EXPECT_NE(missing.find("frontier.csv:1: field 'val_coverage': missing column"), std::string::npos)
      << missing;
  const std::string ragged =
      error_after("runs/1/frontier.csv", frontier_csv("guaranteed", 1) + "0.8,l2d,\"a,b\",1\n");
  EXPECT_NE(ragged.find("frontier.csv:14: 4 fields, expected 19"), std::string::npos) << ragged;
}

TEST_F(ReportBadInput, QuotedCommasInModelLabelsParse) {
  std::string csv = frontier_csv("guaranteed", 0);
  for (std::size_t at; (at = csv.find("\"logreg(C=10)\"")) != std::string::npos;)
    csv.replace(at, 14, "\"knn(k=5, w=\"\"d\"\")\"");
  write_file_atomic(dir_ / "runs/0/frontier.csv", csv);
  write_report(dir_.path(), ReportOptions{0.8, true, "none"});
  // The run's candidates parsed: its l2d choice at 0.8 is now knn(...) (val coverage 0.60).
  EXPECT_NE(read_file(dir_ / "plots/pareto_toy.dat").find("\"l2d/knn(k=5, w='d')\""),
            std::string::npos);
}

// ---- hostile input: text from a sweep cannot escape its cell, string or comment ----

const std::string kHostile = "x|y\n<script>alert(1)</script>`z` & a\\b";

TEST(ReportEscape, MarkdownCellKeepsItsRowAndInjectsNoHtml) {
  EXPECT_EQ(report::markdown_cell("a|b\nc<script>&`d`\\"), "a\\|b c&lt;script&gt;&amp;\\`d\\`\\\\");
  EXPECT_EQ(report::markdown_cell("l1\r\nl2\rl3\tx"), "l1 l2 l3 x");
  report::Table t;
  t.title = "t";
  t.columns = {{"name|" + kHostile, {"name"}, false}, {"n", {"n"}, true}};
  t.rows = {{{kHostile, "", {kHostile}}, {"1", "", {"1"}}},
            {{"plain", "", {"plain"}}, {"2", "0.5", {"2"}}}};
  const std::string md = report::markdown(t);
  std::size_t table_lines = 0, lines = 0;
  std::istringstream in(md);
  for (std::string line; std::getline(in, line); ++lines)
    if (!line.empty() && line[0] == '|') {
      ++table_lines;
      // Every table line has one cell per column: 3 unescaped '|' outside the cells.
      std::size_t bars = 0;
      for (std::size_t i = 0; i < line.size(); ++i) {
        if (line[i] == '\\')
          ++i;
        else
          bars += line[i] == '|';
      }
      EXPECT_EQ(bars, 3u) << line;
    }
  EXPECT_EQ(table_lines, 4u) << md;  // header, rule, 2 rows
  EXPECT_EQ(md.find("<script>"), std::string::npos) << md;
  EXPECT_NE(md.find("| plain | 2 ± 0.5 |"), std::string::npos) << md;
}

TEST(ReportEscape, LatexEscapesEverySpecialCharacter) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"_", "\\_"},
      {"&", "\\&"},
      {"%", "\\%"},
      {"#", "\\#"},
      {"$", "\\$"},
      {"{", "\\{"},
      {"}", "\\}"},
      {"~", "\\textasciitilde{}"},
      {"^", "\\textasciicircum{}"},
      {"\\", "\\textbackslash{}"},
      {"a\nb", "a b"},
      {"a\r\n\nb", "a  b"},
      {"<|>", "\\textless{}\\textbar{}\\textgreater{}"},
      {"mlp_1h ± 0.1 – δ", "mlp\\_1h $\\pm$ 0.1 -- $\\delta$"},
  };
  for (const auto& [in, out] : cases) EXPECT_EQ(report::latex_text(in), out) << in;
  report::Table t;
  t.name = "t";
  t.title = "50% of x_y";
  t.columns = {{"a&b", {"ab"}, false}};
  t.rows = {{{"\\input{/etc/passwd}\n\n", "", {""}}}};
  const std::string tex = report::latex(t);
  EXPECT_NE(tex.find("\\caption{50\\% of x\\_y}"), std::string::npos) << tex;
  EXPECT_NE(tex.find("a\\&b \\\\\n"), std::string::npos) << tex;
  EXPECT_NE(tex.find("\\textbackslash{}input\\{/etc/passwd\\}   \\\\\n"), std::string::npos) << tex;
}

TEST(ReportEscape, CsvTablesQuoteAndRoundTripThroughTheCsvReader) {
  report::Table t;
  t.columns = {{"name", {"name, quoted"}, false}, {"n", {"n"}, true}};
  t.rows = {{{"", "", {kHostile}}, {"", "", {"1"}}}, {{"", "", {"\"q\""}}, {"", "", {"2"}}}};
  const CsvFile back = parse_csv(report::csv(t), "table.csv");
  EXPECT_EQ(back.header, (std::vector<std::string>{"name, quoted", "n"}));
  ASSERT_EQ(back.records.size(), 2u);
  EXPECT_EQ(back.records[0].fields, (std::vector<std::string>{kHostile, "1"}));
  EXPECT_EQ(back.records[1].fields, (std::vector<std::string>{"\"q\"", "2"}));
}

TEST(ReportEscape, GnuplotStringsAndDataFileText) {
  EXPECT_EQ(report::gnuplot_string("it's"), "'it''s'");
  EXPECT_EQ(report::gnuplot_string("a\nb`c`\r"), "'a'.\"\\012\".'b`c`'.\"\\015\".''");
  EXPECT_EQ(report::dat_comment("a\nb\r\nc"), "a b c");
  EXPECT_EQ(report::dat_string("l\"2\n"), "\"l'2 \"");
  if (!on_path("gnuplot"))
    GTEST_SKIP() << "gnuplot not on PATH (Debian: apt-get install gnuplot-nox)";
  // gnuplot evaluates the expression back to the original text and runs nothing.
  TempDir dir;
  const std::string text = "x\n  system(\"touch " + (dir / "PWNED").string() +
                           "\")\n  it's `touch " + (dir / "PWNED2").string() + "` \\ \x01 end";
  write_file_atomic(dir / "p.gp", "set print '" + (dir / "out.txt").string() + "'\nprint " +
                                      report::gnuplot_string(text) + "\n");
  ASSERT_EQ(std::system(("gnuplot '" + (dir / "p.gp").string() + "'").c_str()), 0);
  EXPECT_EQ(read_file(dir / "out.txt"), text + "\n");
  EXPECT_FALSE(fs::exists(dir / "PWNED"));
  EXPECT_FALSE(fs::exists(dir / "PWNED2"));
}

// The hostile dataset name of the "hostile input" issue: a newline ends gnuplot's title string
// and the next line is a gnuplot command.
std::string hostile_dataset(const fs::path& marker) {
  return "x\n  system(\"touch " + marker.string() + "\")\n  set title \"y|<script>";
}

int run_cli(const std::string& args, const fs::path& log) {
  const std::string cmd =
      "'" + std::string(DEFERBENCH_BINARY) + "' " + args + " >'" + log.string() + "' 2>&1";
  const int raw = std::system(cmd.c_str());
  return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
}

TEST(ReportHostile, ReportOnAHostileMetricsJsonRunsNothing) {
  TempDir dir;
  write_fixture(dir.path());
  const fs::path marker = dir / "PWNED";
  for (int n = 0; n < 6; ++n) {
    const fs::path file = dir / ("runs/" + std::to_string(n) + "/metrics.json");
    json m = json::parse(read_file(file));
    m["dataset"] = hostile_dataset(marker);
    write_file_atomic(file, m.dump());
  }
  ASSERT_EQ(run_cli("report '" + dir.path().string() + "'", dir / "log.txt"), 0)
      << read_file(dir / "log.txt");
  EXPECT_FALSE(fs::exists(marker)) << "gnuplot ran the injected command";
  const std::string md = read_file(dir / "tables/table1_selection.md");
  EXPECT_EQ(md.find("<script>"), std::string::npos) << md;
  std::size_t rows = 0;
  std::istringstream in(md);
  for (std::string line; std::getline(in, line);) rows += !line.empty() && line[0] == '|';
  EXPECT_EQ(rows, 2u + 4u) << md;  // header, rule, 2 modes × 2 targets
  const CsvFile csv = read_csv_file(dir / "tables/table1_selection.csv");
  ASSERT_EQ(csv.records.size(), 4u);
  EXPECT_EQ(csv.records[0].fields[0], hostile_dataset(marker));
  // The sweep's page: the tables are there, the hostile name only as text.
  const std::string html = read_file(dir / "report.html");
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("set title &quot;y|&lt;script&gt;"), std::string::npos);
  EXPECT_NE(html.find("id=\"table1_selection\""), std::string::npos);
  if (!on_path("gnuplot"))
    GTEST_SKIP() << "gnuplot not on PATH (Debian: apt-get install gnuplot-nox): tables checked, "
                    "the plot injection is not";
  bool rendered = false;
  for (const auto& e : fs::directory_iterator(dir / "plots"))
    rendered = rendered || e.path().extension() == ".png";
  EXPECT_TRUE(rendered) << read_file(dir / "log.txt");
}

TEST(ReportHostile, RunWithAHostileDatasetNameRunsNothing) {
  if (!on_path("gnuplot"))
    GTEST_SKIP() << "gnuplot not on PATH (Debian: apt-get install gnuplot-nox): the sweep's "
                    "report renders no plot, so the injection cannot be tested";
  TempDir dir;
  const fs::path marker = dir / "PWNED";
  // The override as typed in a shell: YAML turns \n and \" in the double-quoted value into a
  // line break and a quote.
  const std::string name =
      "dataset.name=\"x\\n  system(\\\"touch " + marker.string() + "\\\")\\n  set title \\\"y\"";
  ASSERT_EQ(run_cli("run -q -m experiment=synthetic dataset.synthetic.rows=800 jobs=1 "
                    "results_dir='" +
                        (dir / "results").string() + "' '" + name + "'",
                    dir / "log.txt"),
            0)
      << read_file(dir / "log.txt");
  EXPECT_FALSE(fs::exists(marker)) << "gnuplot ran the injected command";
  std::size_t scripts = 0, images = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir / "results")) {
    scripts += e.path().extension() == ".gp";
    images += e.path().extension() == ".png";
    if (e.path().extension() == ".gp")
      EXPECT_NE(read_file(e.path()).find("'x'.\"\\012\".'  system("), std::string::npos);
  }
  EXPECT_GT(scripts, 0u);
  EXPECT_EQ(images, scripts) << "every script rendered";
  EXPECT_FALSE(fs::exists(marker));
}

}  // namespace
}  // namespace deferbench
