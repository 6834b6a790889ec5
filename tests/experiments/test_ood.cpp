// The out-of-distribution guard: rows farther from the training data than a calibrated quantile
// of val rows' k-th-neighbour distances are deferred whatever the acceptor says.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/config/compose.h"
#include "core/data/json_pairs_reader.h"
#include "experiments/policy_io.h"
#include "experiments/run.h"
#include "models/registry.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

namespace fs = std::filesystem;
const fs::path kRoot = DEFERBENCH_ROOT;

TEST(NeighbourIndex, KthDistanceIsEuclidean) {
  Matrix train(3, 2, std::vector<float>{0, 0, 3, 4, 6, 8});
  NeighbourIndex index(train, {0, 0, 0});
  Matrix q(1, 2, std::vector<float>{0, 0});
  // Distances from the origin: 0, 5, 10.
  EXPECT_FLOAT_EQ(index.kth_distance(q, 1, 1)[0], 0.0f);
  EXPECT_FLOAT_EQ(index.kth_distance(q, 2, 1)[0], 5.0f);
  EXPECT_FLOAT_EQ(index.kth_distance(q, 3, 1)[0], 10.0f);
}

TEST(OodGuard, FarRowsAreDeferredByTheWholePolicy) {
  // One stage accepting everything (global, threshold −∞) with a guard at distance 2, and a
  // second stage that would also accept everything: far rows must reach neither.
  Dataset d;
  d.labels = std::make_shared<LabelSpace>(std::vector<std::string>{"a", "b"});
  d.features = Matrix(4, 1, std::vector<float>{0, 1, 10, 11});
  d.teacher = {0, 0, 1, 1};
  auto model = builtin_models().make(YAML::Load("{name: logreg}"), "model");
  Context ctx{Device::kCpu, 0, 1};
  model->fit(d, nullptr, ctx);
  Stage s;
  s.surrogate = std::shared_ptr<Classifier>(std::move(model));
  s.thresholds = {-std::numeric_limits<double>::infinity()};
  s.neighbours = std::make_shared<NeighbourIndex>(d.features, d.teacher);
  s.ood_k = 1;
  s.ood_max_distance = 2.0;
  Stage second = s;
  second.ood_k = 0;
  Matrix q(3, 1, std::vector<float>{0.5f, 30.0f, 10.5f});
  const Routed r = route({s, second}, q, ctx);
  EXPECT_EQ(r.stage, (std::vector<int>{0, -1, 0}));  // 30 is 19 away from the nearest row
}

// On CLINC150: out-of-scope queries (never seen in training) are deferred more with the guard,
// while in-scope traffic keeps most of its coverage.
TEST(OodGuard, Clinc150OutOfScopeQueriesAreDeferred) {
  REQUIRE_SHARED_FILE("clinc150/data_full.json");
  testing::TempDir dir;
  const fs::path data = testing::shared_data() / "clinc150" / "data_full.json";
  JsonPairsOptions oos;
  oos.parts = {"oos_test"};
  JsonPairsOptions ins;
  ins.parts = {"train"};  // in scope, but not among the parts the run reads
  const Traces out_scope = read_json_pairs(data, oos, 0), in_scope = read_json_pairs(data, ins, 0);
  auto write = [&](const Traces& t, std::size_t n, const std::string& name) {
    std::string s;
    for (std::size_t i = 0; i < std::min(n, t.size()); ++i)
      s += nlohmann::json({{"id", t.ids[i]}, {"input", t.texts[i]}}).dump() + "\n";
    return dir.write(name, s);
  };
  const fs::path oos_file = write(out_scope, 1000, "oos.jsonl");
  const fs::path ins_file = write(in_scope, 1000, "ins.jsonl");

  auto policy_for = [&](int k) {
    const fs::path policy = dir / ("policy-" + std::to_string(k));
    const auto cfg = compose_config(
        kRoot / "experiments" / "configs",
        {"dataset=clinc150", "dataset.json_pairs.parts=[val,test]", "pipeline.families=[l2d]",
         "pipeline.ood.k=" + std::to_string(k), "pipeline.ood.quantile=0.9", "device=cpu",
         "data_dir=" + testing::shared_data().string(), "results_dir=" + (dir / "r").string(),
         "save_policy=" + policy.string()});
    RunOptions o;
    o.project_root = kRoot;
    o.quiet = true;
    run_experiment(cfg.config, o);
    return load_policy(policy);
  };
  const SavedPolicy guarded = policy_for(10), plain = policy_for(0);
  auto handled = [&](const SavedPolicy& policy, const fs::path& input) {
    return route_file(policy, input, RouteOptions{}, Context{Device::kCpu, 0, 2}).handled;
  };
  const std::size_t oos_guard = handled(guarded, oos_file), oos_plain = handled(plain, oos_file);
  const std::size_t ins_guard = handled(guarded, ins_file), ins_plain = handled(plain, ins_file);
  std::cout << "out of scope handled: " << oos_guard << " with the guard, " << oos_plain
            << " without; in scope: " << ins_guard << " / " << ins_plain << " of 1000\n";
  EXPECT_LT(oos_guard, oos_plain);
  EXPECT_LE(oos_guard, 100u);                // ≥ 90% of out-of-scope queries deferred
  EXPECT_GE(ins_guard * 10, ins_plain * 8);  // in scope keeps ≥ 80% of its coverage
  EXPECT_GT(ins_plain, 300u);
}

}  // namespace
}  // namespace deferbench
