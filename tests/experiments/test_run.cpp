#include "experiments/run.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/config/compose.h"
#include "core/data/npy.h"
#include "core/stats/binomial.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::TempDir;

const fs::path kRoot = DEFERBENCH_ROOT;

YAML::Node config_for(const std::vector<std::string>& overrides) {
  return compose_config(kRoot / "experiments" / "configs", overrides).config;
}

RunResult run_quiet(const std::vector<std::string>& overrides) {
  RunOptions o;
  o.project_root = kRoot;
  o.quiet = true;
  return run_experiment(config_for(overrides), o);
}

TEST(EndToEnd, SyntheticRunWritesConsistentMetrics) {
  TempDir out;
  auto r = run_quiet({"results_dir=" + out.path().string(), "threads=1", "device=cpu"});
  const auto& m = r.metrics;
  // Files: the resolved config and the metrics, in <results>/<name>/<stamp>/, plus `latest`.
  ASSERT_TRUE(fs::exists(r.run_dir / "metrics.json"));
  ASSERT_TRUE(fs::exists(r.run_dir / "config.yaml"));
  EXPECT_EQ(r.run_dir.parent_path(), out.path() / "synthetic");
  EXPECT_TRUE(fs::is_symlink(out.path() / "synthetic" / "latest"));
  std::ifstream in(r.run_dir / "metrics.json");
  nlohmann::json saved = nlohmann::json::parse(in);
  EXPECT_EQ(saved["test"], m["test"]);
  YAML::Node saved_cfg = YAML::LoadFile((r.run_dir / "config.yaml").string());
  EXPECT_EQ(saved_cfg["dataset"]["synthetic"]["rows"].as<int>(), 6000);

  // Split sizes add up, and the test metrics are mutually consistent.
  const auto& rows = m["rows"];
  EXPECT_EQ(rows["total"].get<int>(), 6000);
  EXPECT_EQ(rows["train"].get<int>() + rows["val"].get<int>() + rows["cal"].get<int>() +
                rows["test"].get<int>(),
            6000);
  const auto& t = m["test"];
  EXPECT_EQ(t["handled"].get<int>() + t["teacher_calls"].get<int>(), t["rows"].get<int>());
  EXPECT_NEAR(t["coverage"].get<double>(), t["handled"].get<double>() / t["rows"].get<double>(),
              1e-12);
  // The synthetic task is learnable: a candidate is deployed at 0.9 and hands a real share of
  // traffic to the surrogate while meeting the target on test.
  const auto& tgt = m["targets"][0];
  EXPECT_DOUBLE_EQ(tgt["target"].get<double>(), 0.9);
  ASSERT_TRUE(tgt["deployed"].get<bool>()) << tgt.dump(2);
  EXPECT_GT(t["coverage"].get<double>(), 0.15);
  EXPECT_GT(t["teacher_agreement"].get<double>(), 0.87);
  // The teacher errs at 3% (dataset/synthetic.yaml): its accuracy on test is about 0.97.
  EXPECT_NEAR(t["teacher_accuracy"].get<double>(), 0.97, 0.025);
  // frontier.csv: one row per (family × surrogate) at the target, exactly one selected.
  std::ifstream fin(r.run_dir / "frontier.csv");
  std::string line;
  std::getline(fin, line);
  EXPECT_EQ(line.rfind("target,family,model,val_coverage", 0), 0u);
  int candidates = 0, selected = 0;
  while (std::getline(fin, line)) {
    ++candidates;
    std::vector<std::string> cols;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) cols.push_back(c);
    ASSERT_GE(cols.size(), 9u);
    // target,family,model,val_cov,val_agr,val_cost,val_feasible,on_frontier,selected
    selected += cols[8] == "1";
  }
  EXPECT_EQ(selected, 1);
  EXPECT_EQ(candidates, 3);  // global, l2d, rsb × logreg
  EXPECT_EQ(tgt["candidates"].get<int>(), 3);
}

TEST(EndToEnd, SameConfigAndSeedGiveIdenticalNumbers) {
  TempDir out;
  std::vector<std::string> o = {"results_dir=" + out.path().string(), "threads=2", "device=cpu",
                                "dataset.synthetic.rows=2000"};
  auto a = run_quiet(o), b = run_quiet(o);
  EXPECT_EQ(a.metrics["targets"], b.metrics["targets"]);
  EXPECT_NE(a.run_dir, b.run_dir);  // two runs, two folders
  o.push_back("seed=1");
  auto c = run_quiet(o);
  EXPECT_NE(a.metrics["targets"], c.metrics["targets"]);
}

// calibration.test: randomized (the default): the draw u is recorded with the deployed stages,
// is the same for the same config and seed (so are the numbers), and the exact test records
// none.
TEST(EndToEnd, TheRandomizedTestRecordsItsDrawAndIsReproducible) {
  TempDir out;
  std::vector<std::string> o = {"results_dir=" + out.path().string(), "threads=1", "device=cpu",
                                "dataset.synthetic.rows=2000", "pipeline.families=[l2d]"};
  const auto a = run_quiet(o), b = run_quiet(o);
  o.push_back("calibration.test=exact");
  const auto exact = run_quiet(o);
  EXPECT_EQ(a.metrics["targets"], b.metrics["targets"]);
  ASSERT_TRUE(a.metrics["targets"][0].contains("stages"));
  ASSERT_FALSE(a.metrics["targets"][0]["stages"].empty());
  ASSERT_FALSE(exact.metrics["targets"][0]["stages"].empty());
  EXPECT_EQ(a.metrics["calibration"]["test"], "randomized");
  EXPECT_EQ(exact.metrics["calibration"]["test"], "exact");
  const auto& stage = a.metrics["targets"][0]["stages"][0];
  ASSERT_TRUE(stage.contains("test_u")) << stage.dump();
  const double u = stage["test_u"].get<double>();
  EXPECT_GT(u, 0.0);
  EXPECT_LT(u, 1.0);
  EXPECT_EQ(b.metrics["targets"][0]["stages"][0]["test_u"].get<double>(), u);
  EXPECT_FALSE(exact.metrics["targets"][0]["stages"][0].contains("test_u"));
  YAML::Node saved = YAML::LoadFile((a.run_dir / "config.yaml").string());
  EXPECT_EQ(saved["calibration"]["test"].as<std::string>(), "randomized");
  // Another seed splits other calibration rows: another u.
  o.back() = "seed=5";
  const auto other = run_quiet(o);
  ASSERT_FALSE(other.metrics["targets"][0]["stages"].empty());
  EXPECT_NE(other.metrics["targets"][0]["stages"][0]["test_u"].get<double>(), u);
}

// Runs sharing one fit cache (as a sweep's runs do) share prepared data only when its splits are
// the same: cross-fitting's val_rows (cal or train) changes them, and so does turning it off.
TEST(EndToEnd, CrossFittingSettingsKeepTheirOwnPreparedData) {
  TempDir out;
  FitCache cache;
  RunOptions o;
  o.project_root = kRoot;
  o.quiet = true;
  o.cache = &cache;
  // As a sweep does: every run's cache keys announced first, then the runs.
  auto cfg = [&](const std::string& more) {
    return config_for({"results_dir=" + out.path().string(), "threads=1", "device=cpu",
                       "dataset.synthetic.rows=2000", more});
  };
  const std::vector<std::string> variants = {"pipeline.cross_fit.val_rows=cal",
                                             "pipeline.cross_fit.val_rows=train",
                                             "pipeline.cross_fit.folds=0"};
  for (const std::string& v : variants) cache.expect(run_cache_keys(cfg(v), o));
  auto rows_of = [&](const std::string& more) {
    return run_experiment(cfg(more), o).metrics["rows"];
  };
  const auto to_cal = rows_of("pipeline.cross_fit.val_rows=cal");
  const auto to_train = rows_of("pipeline.cross_fit.val_rows=train");
  const auto off = rows_of("pipeline.cross_fit.folds=0");
  // Without cross-fitting: train 55%, val 15%, cal 15% (stratified rounding).
  const int train = off["train"].get<int>(), val = off["val"].get<int>(),
            cal = off["cal"].get<int>();
  EXPECT_NEAR(val, 300, 5);
  EXPECT_EQ(to_cal["train"].get<int>(), train);
  EXPECT_EQ(to_cal["cal"].get<int>(), cal + val);
  EXPECT_EQ(to_cal["val"].get<int>(), 0);
  EXPECT_EQ(to_train["train"].get<int>(), train + val);
  EXPECT_EQ(to_train["cal"].get<int>(), cal);
  EXPECT_EQ(to_cal["test"], off["test"]);
}

// dataset.subsample keeps that many rows (stratified); more than the data set has is an error.
TEST(EndToEnd, SubsampleKeepsThatManyRows) {
  TempDir out;
  const std::vector<std::string> o = {"results_dir=" + out.path().string(), "threads=1",
                                      "device=cpu", "dataset.subsample=1500"};
  const auto r = run_quiet(o);
  EXPECT_EQ(r.metrics["rows"]["total"].get<int>(), 1500);
  EXPECT_THAT(testing::error_of([&] { run_quiet({"dataset.subsample=7000"}); }),
              HasSubstr("'dataset.subsample': 7000 rows asked of dataset 'synthetic', which has "
                        "6000"));
}

// The oracle coverage is the largest test coverage of one threshold on the selected candidate's
// score with test agreement ≥ the target: an l2d policy deployed with test agreement ≥ target
// uses one such threshold, so its coverage can never exceed it; efficiency = coverage / oracle.
TEST(EndToEnd, OracleCoverageBoundsEveryDeployedPolicyThatMeetsTheTarget) {
  TempDir out;
  int checked = 0, certifiable_positive = 0;
  for (int seed = 0; seed < 6; ++seed) {
    const auto r = run_quiet({"results_dir=" + out.path().string(), "threads=1", "device=cpu",
                              "dataset.synthetic.rows=3000", "pipeline.families=[l2d]",
                              "calibration.target=[0.85,0.9]", "seed=" + std::to_string(seed)});
    for (const auto& t : r.metrics["targets"]) {
      const auto& test = t["test"];
      ASSERT_TRUE(test["oracle_coverage"].is_number());
      const double oracle = test["oracle_coverage"].get<double>();
      EXPECT_GE(oracle, 0.0);
      EXPECT_LE(oracle, 1.0);
      // What a calibration split of this size could certify on the test rows' agreement needs a
      // prefix agreeing above the target: never more than the oracle.
      ASSERT_TRUE(test["certifiable_coverage"].is_number());
      EXPECT_LE(test["certifiable_coverage"].get<double>(), oracle + 1e-12) << "seed " << seed;
      certifiable_positive += test["certifiable_coverage"].get<double>() > 0;
      if (!t["deployed"].get<bool>()) continue;
      const double coverage = test["coverage"].get<double>();
      EXPECT_NEAR(test["efficiency"].get<double>(), coverage / oracle, 1e-12);
      if (test["teacher_agreement"].get<double>() >= t["target"].get<double>()) {
        EXPECT_LE(coverage, oracle + 1e-12) << "seed " << seed;
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 6);  // the property was exercised
  EXPECT_GE(certifiable_positive, 6);
}

// A guaranteed calibration that certifies nothing says why: the first threshold's counts, and
// the agreements it needed (checked against min_passing_agreements).
TEST(EndToEnd, NothingCertifiedComesWithTheFirstTestsCounts) {
  TempDir out;
  const auto r =
      run_quiet({"results_dir=" + out.path().string(), "threads=1", "device=cpu",
                 "dataset.subsample=3000", "pipeline.families=[l2d]", "calibration.target=0.99"});
  const auto& t = r.metrics["targets"][0];
  ASSERT_FALSE(t["deployed"].get<bool>());
  ASSERT_TRUE(t.contains("diagnostic")) << t.dump();
  const auto& f = t["first_test"];
  EXPECT_EQ(f["cal_rows"].get<std::size_t>(), r.metrics["rows"]["cal"].get<std::size_t>());
  if (f["tests"].get<std::size_t>() > 0) {
    const auto accepted = f["accepted"].get<std::uint64_t>();
    EXPECT_LT(f["agreed"].get<std::uint64_t>(), f["needed"].get<std::uint64_t>());
    EXPECT_EQ(f["needed"].get<std::uint64_t>(), min_passing_agreements(accepted, 0.99, 0.1));
    EXPECT_THAT(t["diagnostic"].get<std::string>(),
                HasSubstr(fmt::format("accepted {} of {} calibration rows", accepted,
                                      f["cal_rows"].get<std::size_t>())));
  } else {
    EXPECT_THAT(t["diagnostic"].get<std::string>(), HasSubstr("no threshold accepted"));
  }
  // What the split could certify at best, judged on val: a share, named in the line.
  const double certifiable = f["certifiable_coverage"].get<double>();
  EXPECT_GE(certifiable, 0.0);
  EXPECT_LE(certifiable, 1.0);
  EXPECT_THAT(t["diagnostic"].get<std::string>(),
              HasSubstr(fmt::format("at most {:.2f} coverage could be certified", certifiable)));
}

// audit=true: audit.json beside metrics.json, one entry per target, whose slices partition the
// test rows and add up to the run's own test counts; its gap and risk–coverage agree with
// metrics.json.
TEST(EndToEnd, AuditAddsUpToTheRunsTestMetrics) {
  TempDir out;
  const auto r =
      run_quiet({"results_dir=" + out.path().string(), "threads=1", "device=cpu",
                 "dataset.synthetic.rows=3000", "calibration.target=[0.85,0.9]", "audit=true"});
  ASSERT_TRUE(fs::exists(r.run_dir / "audit.json"));
  const nlohmann::json audit = nlohmann::json::parse(read_file(r.run_dir / "audit.json"));
  ASSERT_EQ(audit.size(), 2u);
  for (std::size_t t = 0; t < audit.size(); ++t) {
    const auto& a = audit[t];
    const auto& m = r.metrics["targets"][t];
    const auto handled = m["test"]["handled"].get<std::size_t>();
    const auto rows = m["test"]["rows"].get<std::size_t>();
    EXPECT_EQ(a["target"], m["target"]);
    for (const char* kind : {"teacher_label", "predicted_label"}) {
      std::size_t slice_rows = 0, slice_handled = 0, slice_agreed = 0;
      for (const auto& s : a["slices"][kind]) {
        slice_rows += s["rows"].get<std::size_t>();
        slice_handled += s["coverage"]["k"].get<std::size_t>();
        slice_agreed += s["agreement"]["k"].get<std::size_t>();
        if (s["flagged"].get<bool>()) EXPECT_LE(s["p_value"].get<double>(), 0.1);
        if (s["agreement"]["n"].get<std::size_t>() > 0) {
          const double v = s["agreement"]["value"].get<double>();
          EXPECT_LE(s["agreement"]["ci95"][0].get<double>(), v);
          EXPECT_GE(s["agreement"]["ci95"][1].get<double>(), v);
        }
      }
      EXPECT_EQ(slice_rows, rows) << kind;
      EXPECT_EQ(slice_handled, handled) << kind;
      const auto& gap = a["agreement_gap"];
      EXPECT_EQ(gap["handled"].get<std::size_t>(), handled);
      EXPECT_EQ(gap["disagreements"].get<std::size_t>(), handled - slice_agreed);
      if (handled > 0)
        EXPECT_NEAR(static_cast<double>(slice_agreed) / static_cast<double>(handled),
                    m["test"]["teacher_agreement"].get<double>(), 1e-12);
    }
    if (!m["selected"].is_null()) {
      // Boundary pairs: a handled and a deferred row of one predicted class, closest first.
      double last = 0;
      std::string last_class;
      for (const auto& p : a["examples"]["boundary_pairs"]) {
        const double dist = p["distance"].get<double>();
        if (p["predicted"] == last_class) EXPECT_GE(dist, last);
        last = dist;
        last_class = p["predicted"].get<std::string>();
        EXPECT_NE(p["handled"]["row"], p["deferred"]["row"]);
      }
      std::size_t rep_rows = 0;
      for (const auto& r : a["examples"]["representatives"])
        rep_rows += r["rows"].get<std::size_t>();
      EXPECT_EQ(rep_rows, rows);  // one entry per teacher class
      for (const auto& c : a["examples"]["confident_disagreements"])
        EXPECT_NE(c["answer"], c["teacher"]);
      EXPECT_NEAR(a["risk_coverage"]["aurc"].get<double>(),
                  m["selected"]["test_aurc"].get<double>(), 1e-15);
      EXPECT_NEAR(a["risk_coverage"]["deployed_point"][0].get<double>(),
                  m["test"]["coverage"].get<double>(), 1e-15);
    }
  }
  // Synthetic rows carry no time: no temporal view unless asked for in row order, whose windows
  // partition the test rows.
  EXPECT_TRUE(audit[0]["temporal"].is_null());
  const auto ordered = run_quiet({"results_dir=" + out.path().string(), "threads=1", "device=cpu",
                                  "dataset.synthetic.rows=3000", "audit=true",
                                  "audit_time=row_order", "audit_windows=4"});
  const nlohmann::json a2 = nlohmann::json::parse(read_file(ordered.run_dir / "audit.json"))[0];
  ASSERT_EQ(a2["temporal"]["windows"].size(), 4u);
  std::size_t window_rows = 0, window_handled = 0;
  for (const auto& w : a2["temporal"]["windows"]) {
    window_rows += w["rows"].get<std::size_t>();
    window_handled += w["coverage"]["k"].get<std::size_t>();
  }
  EXPECT_EQ(window_rows, ordered.metrics["targets"][0]["test"]["rows"].get<std::size_t>());
  EXPECT_EQ(window_handled, ordered.metrics["targets"][0]["test"]["handled"].get<std::size_t>());
  // Without audit=true there is no audit.json.
  const auto plain = run_quiet({"results_dir=" + out.path().string(), "threads=1", "device=cpu",
                                "dataset.synthetic.rows=3000"});
  EXPECT_FALSE(fs::exists(plain.run_dir / "audit.json"));
}

TEST(EndToEnd, BankingLlmTracesEndToEnd) {
  REQUIRE_SHARED_FILE("banking77/llm_traces_dev.csv");
  REQUIRE_SHARED_FILE("banking77/llm_traces_test.csv");
  TempDir out;
  auto r = run_quiet({"experiment=banking77_llm", "results_dir=" + out.path().string(),
                      "data_dir=" + testing::shared_data().string(), "device=cpu"});
  const auto& m = r.metrics;
  EXPECT_EQ(m["rows"]["total"].get<int>(), 4081);  // gpt-label has no unusable answers
  EXPECT_EQ(m["classes"].get<int>(), 77);
  EXPECT_EQ(m["features"].get<std::string>(), "text-lsa-256");
  // The GPT teacher's accuracy against gold is ~0.82 on these traces (data README).
  EXPECT_NEAR(m["test"]["teacher_accuracy"].get<double>(), 0.82, 0.04);
  // A logistic surrogate on LSA features agrees with the teacher on most traffic.
  EXPECT_GT(m["zoo"][0]["test_teacher_accuracy"].get<double>(), 0.6);
  // Guaranteed calibration at 0.9 deploys a policy that answers a real share of the traffic.
  ASSERT_TRUE(m["targets"][0]["deployed"].get<bool>()) << m["targets"].dump(2);
  EXPECT_GT(m["test"]["coverage"].get<double>(), 0.3);
  EXPECT_GT(m["test"]["teacher_agreement"].get<double>(), 0.85);
}

TEST(Featurize, WritesEveryRowWithItsSplitAndLabels) {
  TempDir out;
  RunOptions o;
  o.project_root = kRoot;
  o.quiet = true;
  auto cfg = config_for({"dataset.synthetic.rows=500", "dataset.synthetic.dim=8", "device=cpu"});
  fs::path dir = featurize_to(cfg, o, out / "feat");
  Matrix x = read_npy(dir / "features.npy");
  EXPECT_EQ(x.rows(), 500u);
  EXPECT_EQ(x.cols(), 8u);
  std::ifstream in(dir / "labels.csv");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "row,id,split,teacher_id,gold_id,teacher,gold");
  std::map<std::string, int> per_split;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    auto first = line.find(',', line.find(',') + 1);
    per_split[line.substr(first + 1, line.find(',', first + 1) - first - 1)]++;
  }
  EXPECT_EQ(n, 500);
  // The split sizes match the run's (same config and seed → same split).
  // (Empirical calibration: 75 calibration rows cannot certify the default target.)
  auto r = run_quiet({"dataset.synthetic.rows=500", "dataset.synthetic.dim=8", "device=cpu",
                      "calibration.mode=empirical", "results_dir=" + (out / "runs").string()});
  EXPECT_EQ(per_split["train"], r.metrics["rows"]["train"].get<int>());
  EXPECT_EQ(per_split["test"], r.metrics["rows"]["test"].get<int>());
  // Synthetic traces carry embeddings: the features are those, unchanged.
  Traces t = load_traces(cfg["dataset"], kRoot, 0);
  double total = 0, expected = 0;
  for (float v : x.values()) total += v;
  for (float v : t.embeddings.values()) expected += v;
  EXPECT_NEAR(total, expected, 1e-3 * std::abs(expected) + 1e-3);
  // An existing, non-empty output folder is refused.
  EXPECT_THROW(featurize_to(cfg, o, dir), Error);
}

// ---- the command line: bad input → one line on stderr, exit status 2, no output left ----

struct Cli {
  int status;
  std::string err;
};

Cli run_cli(const std::string& args, const fs::path& workdir) {
  fs::path err_file = workdir / "stderr.txt";
  std::string cmd = "cd '" + workdir.string() + "' && '" + std::string(DEFERBENCH_BINARY) +
                    "' run -q " + args + " 2>'" + err_file.string() + "' >/dev/null";
  int raw = std::system(cmd.c_str());
  std::ifstream in(err_file);
  std::string err((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove(err_file);
  return Cli{WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, err};
}

class CliBadInput : public ::testing::Test {
 protected:
  // Runs with the given dataset overrides, expecting exit 2, a one-line error containing
  // `needles`, and nothing written under the results folder.
  void expect_error(const std::string& args, const std::vector<std::string>& needles) {
    Cli r = run_cli("results_dir='" + (dir_ / "results").string() + "' device=cpu " + args,
                    dir_.path());
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_THAT(r.err, HasSubstr("deferbench: error: "));
    for (const auto& n : needles) EXPECT_THAT(r.err, HasSubstr(n));
    EXPECT_EQ(testing::count_files(dir_ / "results"), 0u) << "output left behind";
  }
  std::string jsonl(const std::string& name, const std::string& content) {
    return "dataset=jsonl_traces 'dataset.files=[" + dir_.write(name, content).string() + "]'";
  }
  TempDir dir_;
};

TEST_F(CliBadInput, MalformedJsonLine) {
  expect_error(jsonl("t.jsonl", "{\"input\": \"a\", \"teacher\": \"x\"}\n{\"input\": \"b\",\n"),
               {"t.jsonl:2"});
}

TEST_F(CliBadInput, MissingTeacher) {
  expect_error(jsonl("t.jsonl", "{\"input\": \"a\", \"teacher\": \"x\"}\n{\"input\": \"b\"}\n"),
               {"t.jsonl:2", "teacher"});
}

TEST_F(CliBadInput, TeacherOfTheWrongType) {
  expect_error(jsonl("t.jsonl", "{\"input\": \"a\", \"teacher\": [1, 2]}\n"),
               {"t.jsonl:1", "teacher"});
}

TEST_F(CliBadInput, NanInEmbeddings) {
  Matrix m(2, 3, 1.0f);
  m(1, 2) = std::numeric_limits<float>::quiet_NaN();
  write_npy(dir_ / "t.npy", m);
  expect_error(jsonl("t.jsonl",
                     "{\"input\": \"a\", \"teacher\": \"x\"}\n"
                     "{\"input\": \"b\", \"teacher\": \"y\"}\n"),
               {"t.npy", "NaN"});
}

TEST_F(CliBadInput, EmbeddingRowsDoNotMatchTraces) {
  write_npy(dir_ / "t.npy", Matrix(3, 2, 0.5f));
  expect_error(jsonl("t.jsonl",
                     "{\"input\": \"a\", \"teacher\": \"x\"}\n"
                     "{\"input\": \"b\", \"teacher\": \"y\"}\n"),
               {"t.npy", "3", "2"});
}

TEST_F(CliBadInput, UnreadableNpyHeader) {
  dir_.write("t.npy", std::string("\x93NUMPY\x01\x00\x10\x00garbage-header!!", 26));
  expect_error(jsonl("t.jsonl", "{\"input\": \"a\", \"teacher\": \"x\"}\n"), {"t.npy"});
}

TEST_F(CliBadInput, EmptyFile) {
  expect_error(jsonl("t.jsonl", ""), {"t.jsonl", "empty"});
}

TEST_F(CliBadInput, CsvColumnAbsent) {
  auto f = dir_.write("t.csv", "text,label\nhello,1\n");
  expect_error("dataset=banking77 'dataset.files=[" + f.string() + "]'",
               {"t.csv", "category", "text, label"});
}

TEST_F(CliBadInput, UnknownConfigKeyListsValidKeys) {
  expect_error("+model.epochs=3", {"model.epochs", "does not exist", "max_iter"});
  expect_error("+features.dims=3", {"features.dims", "kind, text"});
}

TEST_F(CliBadInput, MissingDataFileNamesIt) {
  expect_error("experiment=banking77_llm data_dir=/nonexistent/data",
               {"/nonexistent/data/banking77/llm_traces_dev.csv", "not found"});
}

}  // namespace
}  // namespace deferbench
