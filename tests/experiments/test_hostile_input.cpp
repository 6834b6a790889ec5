// The "hostile and broken input" cases at the command line: each gets exit status 2, one line
// on stderr naming the file / key / value and what was expected, and writes nothing. (Cases 1
// and 2, code in plot titles and table cells, are in test_report.cpp: ReportHostile.*,
// ReportEscape.*.)
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/util/atomic_file.h"
#include "core/util/checksum.h"
#include "experiments/subprocess.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::TempDir;

const fs::path kRoot = DEFERBENCH_ROOT;

struct Cli {
  int status = -1;
  std::string err;
};

// deferbench with `args` in `workdir` (no shell); its exit status and stderr.
Cli cli(const std::vector<std::string>& args, const fs::path& workdir) {
  const ProgramOutput r = run_capture(DEFERBENCH_BINARY, args, workdir);
  return Cli{r.status, r.err};
}

// Exit 2 and one error line holding every needle.
void expect_one_line_error(const Cli& r, const std::vector<std::string>& needles) {
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("deferbench: error: "));
  for (const auto& n : needles) EXPECT_THAT(r.err, HasSubstr(n));
}

std::vector<std::string> run_args(const TempDir& dir, std::vector<std::string> more) {
  std::vector<std::string> a = {"run", "-q", "device=cpu", "threads=1",
                                "results_dir=" + (dir / "results").string()};
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

// ---- case 3: too little data ----

TEST(HostileInput, TooFewRowsNameTheSplitItsCountAndTheMinimum) {
  TempDir dir;
  for (const char* rows : {"5", "1", "40"}) {
    const Cli r = cli(run_args(dir, {"calibration.mode=empirical",
                                     std::string("dataset.synthetic.rows=") + rows}),
                      dir.path());
    expect_one_line_error(r, {"dataset 'synthetic': split.", "expected at least 10"});
    EXPECT_EQ(testing::count_files(dir / "results"), 0u) << rows << " rows: output left behind";
  }
}

TEST(HostileInput, ATeacherWithOneClassIsAnError) {
  TempDir dir;
  std::string traces;
  for (int i = 0; i < 200; ++i)
    traces += "{\"input\": \"text " + std::to_string(i) + "\", \"teacher\": \"yes\"}\n";
  const fs::path f = dir.write("t.jsonl", traces);
  const Cli r = cli(run_args(dir, {"dataset=jsonl_traces", "dataset.files=[" + f.string() + "]",
                                   "calibration.mode=empirical"}),
                    dir.path());
  expect_one_line_error(r, {"one class only ('yes')", "at least 2 classes"});
  EXPECT_EQ(testing::count_files(dir / "results"), 0u);
}

TEST(HostileInput, ACalibrationSplitThatCannotCertifyIsNamedAtStart) {
  TempDir dir;
  // 500 rows, cross-fitted: 75 calibration rows plus the val split's 78 (stratified rounding);
  // min_accepted 200 rows are needed before anything is tested.
  Cli r = cli(run_args(dir, {"dataset.synthetic.rows=500", "calibration.target=0.9",
                             "calibration.min_accepted=200"}),
              dir.path());
  expect_one_line_error(r, {"split.cal has 153 rows (78 of them the val split's: cross-fitting)",
                            "certifying target 0.9", "at least 200"});
  // Without cross-fitting the val split trains the acceptor: 75 calibration rows.
  r = cli(run_args(dir, {"dataset.synthetic.rows=500", "calibration.target=0.9",
                         "calibration.min_accepted=100", "pipeline.cross_fit.folds=0"}),
          dir.path());
  expect_one_line_error(r, {"split.cal has 75 rows", "certifying target 0.9", "at least 100"});
  // With min_accepted lowered the bound itself decides: log(0.1)/log(0.99) = 229.1 → 230 rows.
  r = cli(run_args(dir, {"dataset.synthetic.rows=1000", "calibration.target=0.99",
                         "calibration.min_accepted=10", "pipeline.cross_fit.folds=0"}),
          dir.path());
  expect_one_line_error(r, {"split.cal has 150 rows", "at least 230"});
  r = cli(run_args(dir, {"calibration.target=1"}), dir.path());
  expect_one_line_error(r, {"calibration.target: 1 cannot be certified"});
  EXPECT_EQ(testing::count_files(dir / "results"), 0u);
}

// ---- case 4: output paths checked before any work ----

TEST(HostileInput, OutputPathsUnderARegularFileAreRefusedBeforeAnyWork) {
  TempDir dir;
  const fs::path file = dir.write("a-file", "x");
  Cli r = cli(run_args(dir, {"save_policy=" + (file / "policy").string()}), dir.path());
  expect_one_line_error(r, {"save_policy", (file).string(), "not a folder"});
  EXPECT_EQ(testing::count_files(dir / "results"), 0u) << "the run went ahead";

  r = cli({"run", "-q", "results_dir=" + (file / "results").string()}, dir.path());
  expect_one_line_error(r, {"results_dir", file.string(), "not a folder"});

  r = cli({"run", "-q", "-m", "seed=0,1", "results_dir=" + (file / "results").string()},
          dir.path());
  expect_one_line_error(r, {"results_dir", file.string(), "not a folder"});

  r = cli({"featurize", "-q", "-o", (file / "features").string()}, dir.path());
  expect_one_line_error(r, {"featurize -o", file.string(), "not a folder"});
  EXPECT_EQ(read_file(file), "x");
  EXPECT_EQ(testing::count_files(dir.path()), 1u);
}

// ---- case 5: echoed input is capped ----

TEST(HostileInput, AFiveMegabyteTokenIsNotEchoedWhole) {
  TempDir dir;
  const std::string huge(5 << 20, 'z');
  const fs::path f =
      dir.write("t.jsonl", "{\"input\": \"a\", \"teacher\": \"x\"}\n{\"input\": " + huge + "}\n");
  const Cli r = cli(run_args(dir, {"dataset=jsonl_traces", "dataset.files=[" + f.string() + "]"}),
                    dir.path());
  expect_one_line_error(r, {"t.jsonl:2"});
  EXPECT_LT(r.err.size(), 400u) << r.err.substr(0, 400);
  EXPECT_EQ(testing::count_files(dir / "results"), 0u);
}

// ---- case 6: a damaged sweep folder on --resume ----

class DamagedSweep : public ::testing::Test {
 protected:
  void SetUp() override {
    const Cli r = cli(
        {"run", "-q", "-m", "device=cpu", "threads=1", "jobs=1",
         "results_dir=" + (dir_ / "results").string(), "dataset.synthetic.rows=800", "seed=0,1,2"},
        dir_.path());
    ASSERT_EQ(r.status, 0) << r.err;
    sweep_ = dir_ / "results/synthetic" / fs::read_symlink(dir_ / "results/synthetic/latest");
    ASSERT_TRUE(fs::exists(sweep_ / "runs/2/metrics.json"));
  }
  // Resumes; expects exit 2, one line with the needles, and the folder unchanged.
  void expect_refused(const std::vector<std::string>& needles) {
    const std::size_t files = testing::count_files(sweep_);
    const std::string summary = read_file(sweep_ / "summary.csv");
    const Cli r = cli({"run", "-q", "--resume", sweep_.string()}, dir_.path());
    expect_one_line_error(r, needles);
    EXPECT_EQ(testing::count_files(sweep_), files);
    EXPECT_EQ(read_file(sweep_ / "summary.csv"), summary);
  }
  TempDir dir_;
  fs::path sweep_;
};

TEST_F(DamagedSweep, ATruncatedMetricsJsonIsNamedWithHowToRedoTheRun) {
  const fs::path m = sweep_ / "runs/2/metrics.json";
  const std::string text = read_file(m);
  write_file_atomic(m, text.substr(0, text.size() / 2));
  expect_refused({m.string(), "not a complete run's metrics", "delete"});
  // A metrics.json of the wrong shape (valid JSON) likewise.
  write_file_atomic(m, "{\"targets\": 3}");
  expect_refused({m.string(), "not a complete run's metrics"});
}

TEST_F(DamagedSweep, ACorruptSweepYamlIsNamedWithItsLine) {
  const fs::path y = sweep_ / "sweep.yaml";
  write_file_atomic(y, "overrides: [a, b\njobs: 1\n");
  expect_refused({y.string() + ":", "not valid YAML"});
  write_file_atomic(y, "overrides:\n  - {a: 1}\n");
  expect_refused({y.string() + ":2", "field 'overrides'", "list of strings"});
  write_file_atomic(y, "overrides: []\njobs: many\n");
  expect_refused({y.string(), "field 'jobs'"});
}

// ---- cases 7 and 8: route ----

class SavedPolicyFolder : public ::testing::Test {
 protected:
  // The policy's fitting: without cross-fitting (one surrogate file); the cross-fitted fixture
  // below saves five fold surrogates instead.
  virtual std::vector<std::string> fitting() const { return {"pipeline.cross_fit.folds=0"}; }
  void SetUp() override {
    std::vector<std::string> args = {"calibration.target=0.8", "pipeline.families=[l2d]",
                                     "save_policy=" + policy_.string()};
    for (const std::string& a : fitting()) args.push_back(a);
    const Cli r = cli(run_args(dir_, args), dir_.path());
    ASSERT_EQ(r.status, 0) << r.err;
    ASSERT_TRUE(fs::exists(policy_ / "stage1_surrogate.bin") ||
                fs::exists(policy_ / "stage1_surrogate_fold1.bin"));
    input_ = dir_ / "traffic.npy";
    Cli w = cli({"featurize", "-q", "-o", (dir_ / "feat").string()}, dir_.path());
    ASSERT_EQ(w.status, 0) << w.err;
    fs::copy_file(dir_ / "feat/features.npy", input_);
  }
  Cli route(const std::vector<std::string>& more = {}) {
    std::vector<std::string> a = {"route",         "-q", "--policy",   policy_.string(), "--input",
                                  input_.string(), "-o", out_.string()};
    a.insert(a.end(), more.begin(), more.end());
    return cli(a, dir_.path());
  }
  nlohmann::json manifest() { return nlohmann::json::parse(read_file(policy_ / "manifest.json")); }
  void set_manifest(const nlohmann::json& m) {
    write_file_atomic(policy_ / "manifest.json", m.dump(2));
  }
  // Route refuses the policy: exit 2, one line naming manifest.json and the needles, no output.
  void expect_refused(const std::vector<std::string>& needles) {
    const Cli r = route();
    std::vector<std::string> all = {(policy_ / "manifest.json").string()};
    all.insert(all.end(), needles.begin(), needles.end());
    expect_one_line_error(r, all);
    EXPECT_FALSE(fs::exists(out_)) << "output written";
  }
  TempDir dir_;
  fs::path policy_ = dir_ / "policy", input_, out_ = dir_ / "routed.jsonl";
};

TEST_F(SavedPolicyFolder, RouteOutputEqualToItsInputIsRefused) {
  const std::string before = read_file(input_);
  for (const fs::path& same : {input_, dir_ / "./traffic.npy", fs::path("traffic.npy")}) {
    const Cli r = cli({"route", "-q", "--policy", policy_.string(), "--input", input_.string(),
                       "-o", same.string()},
                      dir_.path());
    expect_one_line_error(r, {"route -o", "is the --input file"});
    EXPECT_EQ(read_file(input_), before) << "the input was overwritten";
  }
  fs::create_symlink(input_, dir_ / "link.npy");
  const Cli r = cli({"route", "-q", "--policy", policy_.string(), "--input", input_.string(), "-o",
                     (dir_ / "link.npy").string()},
                    dir_.path());
  expect_one_line_error(r, {"is the --input file"});
  EXPECT_EQ(read_file(input_), before);
  // The intact policy routes (the refusals below are the checks, not a broken fixture).
  const Cli ok = route();
  ASSERT_EQ(ok.status, 0) << ok.err;
  EXPECT_TRUE(fs::exists(out_));
  fs::remove(out_);
}

TEST_F(SavedPolicyFolder, TheManifestRecordsTheChecksumOfEveryFile) {
  const nlohmann::json m = manifest();
  EXPECT_EQ(m["version"], 2);
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(policy_)) {
    if (e.path().filename() == "manifest.json") continue;
    ++files;
    const std::string name = e.path().filename().string();
    ASSERT_TRUE(m["files"].contains(name)) << name;
    EXPECT_EQ(m["files"][name], file_checksum(e.path())) << name;
  }
  EXPECT_EQ(m["files"].size(), files);
  EXPECT_GE(files, 2u);  // surrogate and acceptor at least
}

TEST_F(SavedPolicyFolder, AChangedWeightOfTheSameLengthIsDetected) {
  const fs::path model = policy_ / "stage1_surrogate.bin";
  std::string bytes = read_file(model);
  bytes[bytes.size() - 3] ^= 0x01;  // one bit of the last weights
  write_file_atomic(model, bytes);
  expect_refused({"files.stage1_surrogate.bin", "checksum mismatch"});
}

TEST_F(SavedPolicyFolder, PathsLeavingTheFolderAreRefused) {
  nlohmann::json m = manifest();
  // A stage naming a file outside the folder (not listed in "files").
  nlohmann::json edited = m;
  edited["stages"][0]["surrogate"] = "../../../../etc/passwd";
  set_manifest(edited);
  expect_refused({"stages[0].surrogate", "not listed in 'files'"});
  // Listed, with whatever checksum: not a plain name.
  for (const std::string bad : {"../x.bin", "/etc/passwd", "sub/x.bin", ".."}) {
    edited = m;
    edited["files"][bad] = checksum_of("");
    set_manifest(edited);
    expect_refused({"files." + bad, "expected a plain file name"});
  }
  // A link inside the folder that leads out of it, listed with the right checksum.
  const fs::path outside = dir_.write("outside.bin", read_file(policy_ / "stage1_surrogate.bin"));
  fs::create_symlink(outside, policy_ / "linked.bin");
  edited = m;
  edited["files"]["linked.bin"] = file_checksum(outside);
  edited["stages"][0]["surrogate"] = "linked.bin";
  set_manifest(edited);
  expect_refused({"files.linked.bin", "a link leading out of the policy folder"});
}

TEST_F(SavedPolicyFolder, MistypedOrInconsistentManifestFieldsAreNamed) {
  const nlohmann::json m = manifest();
  struct Case {
    std::function<void(nlohmann::json&)> edit;
    std::vector<std::string> needles;
  };
  const std::vector<Case> cases = {
      {[](auto& j) {
         j = nlohmann::json::array({1, 2});
       },
       {"expected a JSON object"}},
      {[](auto& j) { j["format"] = 7; }, {"format", "deferbench-policy"}},
      {[](auto& j) { j["version"] = "2"; }, {"version", "whole number"}},
      {[](auto& j) { j["version"] = 1; }, {"version", "older format without file checksums"}},
      {[](auto& j) { j["version"] = 3; }, {"version", "newer than this build reads (2)"}},
      {[](auto& j) { j["feature_dim"] = 1e30; }, {"feature_dim", "whole number from 1"}},
      {[](auto& j) { j["feature_dim"] = -4; }, {"feature_dim", "whole number from 1"}},
      {[](auto& j) { j["stages"][0]["knn"] = 2.5; }, {"stages[0].knn", "whole number"}},
      {[](auto& j) { j["labels"].erase(j["labels"].size() - 1); },
       {"stages[0].surrogate", "the model predicts 10 classes; the manifest has 9 labels"}},
      {[](auto& j) {
         j["stages"][0]["thresholds"] = nlohmann::json::array({0.1, 0.2});
       },
       {"stages[0].thresholds", "expected 1 threshold or one per label (10)"}},
      {[](auto& j) { j.erase("files"); }, {"files", "checksums"}},
  };
  for (const Case& c : cases) {
    nlohmann::json edited = m;
    c.edit(edited);
    set_manifest(edited);
    SCOPED_TRACE(edited.dump().substr(0, 200));
    expect_refused(c.needles);
  }
}

// A cross-fitted policy: its stage's surrogate is a list of fold model files, each listed with
// its checksum and each checked like a single surrogate.
class SavedCrossFittedPolicyFolder : public SavedPolicyFolder {
 protected:
  std::vector<std::string> fitting() const override { return {}; }
};

TEST_F(SavedCrossFittedPolicyFolder, EveryFoldModelIsVerifiedAndNamed) {
  const nlohmann::json m = manifest();
  const auto& members = m["stages"][0]["surrogate"];
  ASSERT_TRUE(members.is_array()) << members.dump();
  ASSERT_EQ(members.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i)
    EXPECT_EQ(members[i], fmt::format("stage1_surrogate_fold{}.bin", i + 1));
  // It routes.
  Cli ok = route();
  ASSERT_EQ(ok.status, 0) << ok.err;
  fs::remove(out_);
  // One bit of the third fold model.
  const fs::path third = policy_ / "stage1_surrogate_fold3.bin";
  const std::string good = read_file(third);
  std::string bytes = good;
  bytes[bytes.size() - 3] ^= 0x01;
  write_file_atomic(third, bytes);
  expect_refused({"files.stage1_surrogate_fold3.bin", "checksum mismatch"});
  write_file_atomic(third, good);
  // A member outside the folder, an empty list, a label space the members do not predict.
  nlohmann::json edited = m;
  edited["stages"][0]["surrogate"][1] = "../../etc/passwd";
  set_manifest(edited);
  expect_refused({"stages[0].surrogate[1]", "not listed in 'files'"});
  edited = m;
  edited["stages"][0]["surrogate"] = nlohmann::json::array();
  set_manifest(edited);
  expect_refused({"stages[0].surrogate", "non-empty list"});
  edited = m;
  edited["labels"].erase(edited["labels"].size() - 1);
  set_manifest(edited);
  expect_refused({"stages[0].surrogate[0]", "the model predicts 10 classes; the manifest has 9"});
}

}  // namespace
}  // namespace deferbench
