#include "experiments/policy_io.h"

#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/config/compose.h"
#include "core/data/npy.h"
#include "experiments/run.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
const fs::path kRoot = DEFERBENCH_ROOT;

// Runs the default experiment with `extra` overrides and checks that the saved policy, loaded
// again, routes the test split exactly as the run did (in memory and through a file).
void expect_saved_policy_reproduces_run(const std::vector<std::string>& extra, int folds) {
  testing::TempDir dir;
  std::vector<std::string> overrides = {"results_dir=" + (dir / "results").string(),
                                        "save_policy=" + (dir / "policy").string(), "device=cpu",
                                        "threads=1"};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  const YAML::Node cfg = compose_config(kRoot / "experiments" / "configs", overrides).config;
  RunOptions o;
  o.project_root = kRoot;
  o.quiet = true;
  RunResult r = run_experiment(cfg, o);
  ASSERT_FALSE(r.deployed.empty()) << r.metrics["targets"].dump(2);
  ASSERT_EQ(r.metrics["cross_fit_folds"].get<int>(), folds);
  // A cross-fitted stage is saved as its fold surrogates, a plain one as one model file.
  std::ifstream manifest_file(dir / "policy" / "manifest.json");
  const auto manifest = nlohmann::json::parse(manifest_file);
  const auto& surrogate = manifest["stages"][0]["surrogate"];
  if (folds > 0) {
    ASSERT_TRUE(surrogate.is_array()) << surrogate.dump();
    EXPECT_EQ(surrogate.size(), static_cast<std::size_t>(folds));
  } else {
    EXPECT_TRUE(surrogate.is_string()) << surrogate.dump();
  }

  // The test split, prepared again from the same config (same seed: same rows and features).
  const RunSettings s = RunSettings::from_config(cfg, kRoot);
  Context ctx = s.context();
  ctx.device = Device::kCpu;
  PreparedData prep = prepare_data(s, ctx);
  const SavedPolicy loaded = load_policy(dir / "policy");
  ASSERT_EQ(loaded.stages.size(), r.deployed.size());
  const Routed a = route(r.deployed, prep.test.features, ctx);
  const Routed b = route(loaded.stages, prep.test.features, ctx);
  EXPECT_EQ(a.stage, b.stage);
  EXPECT_EQ(a.label, b.label);
  EXPECT_EQ(a.score, b.score);
  std::size_t handled = 0;
  for (int st : b.stage) handled += st >= 0;
  EXPECT_EQ(handled, r.metrics["test"]["handled"].get<std::size_t>());

  // Through a file, as `deferbench route` does: one JSON line per row, same decisions.
  write_npy(dir / "test.npy", prep.test.features);
  const RoutedFile routed = route_file(loaded, dir / "test.npy", RouteOptions{}, ctx);
  EXPECT_EQ(routed.rows, prep.test.size());
  EXPECT_EQ(routed.handled, handled);
  std::istringstream in(routed.lines);
  std::string line;
  std::size_t i = 0, handled_lines = 0;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    ASSERT_LT(i, prep.test.size());
    EXPECT_EQ(j["decision"] == "handled", b.stage[i] >= 0);
    if (b.stage[i] >= 0) {
      EXPECT_EQ(j["label"].get<std::string>(), prep.labels->name(b.label[i]));
      EXPECT_EQ(j["stage"].get<int>(), b.stage[i] + 1);
      ++handled_lines;
    }
    EXPECT_FLOAT_EQ(j["accept_score"].get<float>(), b.score[i]);
    ++i;
  }
  EXPECT_EQ(i, prep.test.size());
  EXPECT_EQ(handled_lines, handled);
}

TEST(PolicyArtifact, SaveLoadRouteReproducesTheRunExactly) {
  // The default experiment (6,000 synthetic rows) cross-fits: its stages average 5 fold models.
  expect_saved_policy_reproduces_run({}, 5);
}

TEST(PolicyArtifact, SaveLoadRouteReproducesAPolicyFittedWithoutCrossFitting) {
  expect_saved_policy_reproduces_run({"pipeline.cross_fit.folds=0"}, 0);
}

TEST(PolicyArtifact, TextPolicyRoutesJsonlTrafficWithoutTeacher) {
  REQUIRE_SHARED_FILE("banking77/llm_traces_dev.csv");
  testing::TempDir dir;
  const YAML::Node cfg =
      compose_config(kRoot / "experiments" / "configs",
                     {"experiment=banking77_llm", "results_dir=" + (dir / "results").string(),
                      "save_policy=" + (dir / "policy").string(), "device=cpu",
                      "data_dir=" + testing::shared_data().string(), "pipeline.families=[l2d]"})
          .config;
  RunOptions o;
  o.project_root = kRoot;
  o.quiet = true;
  RunResult r = run_experiment(cfg, o);
  const SavedPolicy p = load_policy(dir / "policy");
  ASSERT_TRUE(p.featurizer != nullptr);
  auto traffic =
      dir.write("traffic.jsonl",
                "{\"id\": \"q1\", \"input\": \"I lost my card, please block it\"}\n"
                "{\"id\": \"q2\", \"input\": \"what is the exchange rate for euros\"}\n");
  Context ctx{Device::kCpu, 0, 1};
  const RoutedFile routed = route_file(p, traffic, RouteOptions{}, ctx);
  EXPECT_EQ(routed.rows, 2u);
  std::istringstream in(routed.lines);
  std::string line;
  std::vector<std::string> ids;
  while (std::getline(in, line)) ids.push_back(nlohmann::json::parse(line)["id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{"q1", "q2"}));
}

TEST(PolicyArtifact, BadFolderIsAnErrorNamingIt) {
  testing::TempDir dir;
  EXPECT_THAT([&] { load_policy(dir.path()); },
              ::testing::ThrowsMessage<Error>(HasSubstr("manifest.json")));
  dir.write("manifest.json", "{\"format\": \"something-else\"}");
  EXPECT_THAT([&] { load_policy(dir.path()); },
              ::testing::ThrowsMessage<Error>(HasSubstr("deferbench-policy")));
}

}  // namespace
}  // namespace deferbench
