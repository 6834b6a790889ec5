// The online cascade end to end (issue 17): `deferbench run stream=true` on the synthetic problem
// writes stream.csv; its columns add up; it is reproducible from its seed; an injected teacher
// change is caught by the monitor and the windowed agreement recovers after the next refit; bad
// stream configs are one-line errors.
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "core/config/compose.h"
#include "core/util/error.h"
#include "experiments/run.h"
#include "experiments/stream_run.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

const fs::path kRoot = DEFERBENCH_ROOT;

YAML::Node config_for(std::vector<std::string> overrides) {
  overrides.insert(overrides.begin(), "stream=true");
  return compose_config(kRoot / "experiments" / "configs", overrides).config;
}

RunOptions quiet() {
  RunOptions o;
  o.project_root = kRoot;
  o.quiet = true;
  return o;
}

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string cell;
  while (std::getline(ss, cell, ',')) out.push_back(cell);
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}

// stream.csv as rows of column → value.
std::vector<std::map<std::string, std::string>> parse(const std::string& csv) {
  std::stringstream ss(csv);
  std::string line;
  std::getline(ss, line);
  const std::vector<std::string> header = split(line);
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(ss, line)) {
    const std::vector<std::string> cells = split(line);
    EXPECT_EQ(cells.size(), header.size()) << line;
    std::map<std::string, std::string> row;
    for (std::size_t i = 0; i < header.size() && i < cells.size(); ++i) row[header[i]] = cells[i];
    rows.push_back(std::move(row));
  }
  return rows;
}

std::size_t num(const std::map<std::string, std::string>& r, const std::string& k) {
  return static_cast<std::size_t>(std::stoull(r.at(k)));
}

TEST(StreamRun, SyntheticStreamAddsUpAndIsReproducible) {
  TempDir tmp;
  const std::vector<std::string> o = {"dataset.synthetic.rows=12000",
                                      "dataset.synthetic.confusable_pairs=1",
                                      "stream.window=1000",
                                      "stream.refit_every=1000",
                                      "stream.audit_share=0.1",
                                      "threads=1",
                                      "results_dir=" + tmp.path().string()};
  const RunOutput a = compute_stream_run(config_for(o), quiet());
  const auto rows = parse(a.stream_csv);
  std::map<std::string, std::size_t> calls, queries;
  for (const auto& r : rows) {
    EXPECT_EQ(num(r, "handled"), num(r, "handled_surrogate") + num(r, "handled_memory"));
    EXPECT_EQ(num(r, "handled") + num(r, "deferred"), num(r, "queries"));
    EXPECT_EQ(num(r, "teacher_calls"), num(r, "deferred") + num(r, "audited"));
    EXPECT_LE(num(r, "audited"), num(r, "handled"));
    calls[r.at("variant")] += num(r, "teacher_calls");
    queries[r.at("variant")] += num(r, "queries");
    EXPECT_EQ(num(r, "cum_teacher_calls"), calls[r.at("variant")]);
    EXPECT_EQ(num(r, "cum_queries"), queries[r.at("variant")]);
  }
  const nlohmann::json& v = a.metrics["variants"];
  ASSERT_EQ(v.size(), 5u);
  for (const auto& [name, m] : v.items()) {
    EXPECT_EQ(queries[name], 12000u) << name;
    EXPECT_EQ(m["teacher_calls"].get<std::size_t>(), calls[name]) << name;
    EXPECT_EQ(m["cold_start_calls"].get<std::size_t>(), 1000u);
    if (name == "fit_once" && !m["refits"][0]["certified"].get<bool>()) {
      // 300 calibration rows at the cold start may certify nothing: then it never answers.
      EXPECT_EQ(m["teacher_calls"].get<std::size_t>(), 12000u);
      continue;
    }
    // A stationary synthetic stream: the refitted policies handle a good share of it.
    if (name != "fit_once") EXPECT_GT(m["coverage"].get<double>(), 0.3) << name;
    EXPECT_GE(m["agreement_handled"].get<double>(), 0.9 - 0.02) << name;
  }
  EXPECT_EQ(v["fit_once"]["refits"].size(), 1u);
  EXPECT_GT(v["periodic"]["refits"].size(), 2u);
  // Warm refits where the model allows (logreg): every refit after the first, the blended
  // surrogate of `online` too.
  for (const char* name : {"online_no_memory", "online"})
    for (const auto& f : v[name]["refits"])
      EXPECT_EQ(f["warm"].get<bool>(), f["epoch"].get<int>() > 1) << name;

  // Same config and seed: the same stream.csv but for the refit timings.
  const RunOutput b = compute_stream_run(config_for(o), quiet());
  const auto rows_b = parse(b.stream_csv);
  ASSERT_EQ(rows.size(), rows_b.size());
  for (std::size_t i = 0; i < rows.size(); ++i)
    for (const auto& [k, value] : rows[i])
      if (k != "refit_seconds") EXPECT_EQ(value, rows_b[i].at(k)) << k << " row " << i;
}

TEST(StreamRun, CrossFittedRefitsPoolTheLabelsAndSaveCalls) {
  // stream.cross_fit: the same labels (same stream, same flags) as split refits, pooled: the
  // first refit's pool is the split refit's training plus acceptor rows; every refit is
  // cross-fitted and cold. The last assertions pin a measured result (seeds 0-4: 118 to 664
  // fewer teacher calls of 12,000, 2026-12-07): a change that loses it should say why.
  TempDir tmp;
  const auto run = [&](const std::string& folds) {
    return compute_stream_run(
        config_for({"dataset.synthetic.rows=12000", "dataset.synthetic.confusable_pairs=1",
                    "stream.window=1000", "stream.refit_every=1000", "stream.audit_share=0.1",
                    "stream.variants=[periodic]", "stream.cross_fit=" + folds, "threads=1",
                    "results_dir=" + tmp.path().string()}),
        quiet());
  };
  const RunOutput split = run("0"), cross = run("3");
  const nlohmann::json& a = split.metrics["variants"]["periodic"];
  const nlohmann::json& b = cross.metrics["variants"]["periodic"];
  ASSERT_FALSE(b["refits"].empty());
  const nlohmann::json& first_a = a["refits"][0];
  const nlohmann::json& first_b = b["refits"][0];
  EXPECT_EQ(first_b["train_rows"].get<std::size_t>(),
            first_a["train_rows"].get<std::size_t>() + first_a["acceptor_rows"].get<std::size_t>());
  EXPECT_EQ(first_b["acceptor_rows"], first_b["train_rows"]);
  EXPECT_EQ(first_b["calibration_rows"], first_a["calibration_rows"]);
  for (const auto& f : b["refits"]) {
    EXPECT_EQ(f["cross_fit_folds"].get<int>(), 3);
    EXPECT_FALSE(f["warm"].get<bool>());
  }
  for (const auto& f : a["refits"]) EXPECT_EQ(f["cross_fit_folds"].get<int>(), 0);
  EXPECT_LT(b["teacher_calls"].get<std::size_t>(), a["teacher_calls"].get<std::size_t>());
  EXPECT_GE(b["agreement_handled"].get<double>(), 0.9 - 0.02);
}

TEST(StreamRun, TeacherChangeIsCaughtAndRecovered) {
  // experiment=synthetic_stream_change: at the middle of a 20,000-query stream the teacher starts
  // answering its most frequent class (of 4) as the next most frequent one: a quarter of the
  // traffic changes answer, so the agreement of the handled traffic falls far below the target
  // until the monitor falls back and a refit learns the new answers.
  TempDir tmp;
  const RunOutput out =
      compute_stream_run(config_for({"experiment=synthetic_stream_change",
                                     "stream.variants=[online_no_memory,periodic_no_monitor]",
                                     "threads=1", "results_dir=" + tmp.path().string()}),
                         quiet());
  const nlohmann::json& v = out.metrics["variants"]["online_no_memory"];
  const nlohmann::json& c = v["teacher_change"];
  ASSERT_TRUE(c["caught"].get<bool>()) << v.dump();
  std::printf("teacher change at %zu caught after %zu queries (%zu audited), recertified at %s\n",
              c["change_at"].get<std::size_t>(), c["delay_queries"].get<std::size_t>(),
              c["delay_audited"].get<std::size_t>(),
              c.contains("recertified_at") ? c["recertified_at"].dump().c_str() : "never");
  EXPECT_LE(c["delay_audited"].get<std::size_t>(), 400u);
  ASSERT_TRUE(c.contains("recovered_window_first")) << c.dump();
  EXPECT_GT(c["recovered_window_first"].get<std::size_t>(), c["alarm_at"].get<std::size_t>());

  // TRACER's update (periodic refits, no monitor): nothing stops it, and its refits learn from
  // pools that keep the old answers, so most windows after the change stay below the target
  // (nearly every window after the change: 0.47-0.56 of all windows over seeds 0-9, against
  // 0.05-0.28 with the monitor).
  const nlohmann::json& u = out.metrics["variants"]["periodic_no_monitor"];
  EXPECT_TRUE(u["alarms"].empty()) << u["alarms"].dump();
  EXPECT_FALSE(u["teacher_change"]["caught"].get<bool>());
  EXPECT_GT(u["refits"].size(), 1u);
  EXPECT_GT(u["share_windows_below_target"].get<double>(), 0.4);
  EXPECT_GT(u["share_windows_below_target"].get<double>(),
            v["share_windows_below_target"].get<double>() + 0.15);
  EXPECT_LT(u["agreement_handled"].get<double>(), 0.9);
}

TEST(StreamRun, BadStreamConfigsAreOneLineErrors) {
  TempDir tmp;
  const std::string rd = "results_dir=" + tmp.path().string();
  const auto err = [&](std::vector<std::string> o) {
    o.push_back(rd);
    return testing::error_of([&] { compute_stream_run(config_for(o), quiet()); });
  };
  std::string e = err({"stream.cold_start=100000"});
  EXPECT_NE(e.find("stream.cold_start"), std::string::npos) << e;
  e = err({"stream.variants=[online, sometimes]"});
  EXPECT_NE(e.find("sometimes"), std::string::npos) << e;
  e = err({"stream.scenario=earthquake"});
  EXPECT_NE(e.find("stream.scenario"), std::string::npos) << e;
  e = err({"+stream.colour=red"});
  EXPECT_NE(e.find("colour"), std::string::npos) << e;
  e = err({"audit=true"});
  EXPECT_NE(e.find("'audit'"), std::string::npos) << e;
  e = err({"stream.scenario=teacher_change", "stream.change_from=no_such_class"});
  EXPECT_NE(e.find("no_such_class"), std::string::npos) << e;
  e = err({"stream.memory_mode=sometimes"});
  EXPECT_NE(e.find("stream.memory_mode"), std::string::npos) << e;
  e = err({"stream.cross_fit=1"});
  EXPECT_NE(e.find("stream.cross_fit"), std::string::npos) << e;
  e = err({"stream.cross_fit=3", "stream.memory_mode=stage"});
  EXPECT_NE(e.find("memory_mode stage"), std::string::npos) << e;
  EXPECT_NO_THROW(compute_stream_run(
      config_for({"stream.cross_fit=3", "stream.memory_mode=stage", "stream.variants=[periodic]",
                  "dataset.synthetic.rows=3000", "threads=1", rd}),
      quiet()));
  const std::string outside = err({"dataset.subsample=3000", "dataset.subsample_test=1000"});
  EXPECT_NE(outside.find("'dataset.subsample_test': a stream replays"), std::string::npos)
      << outside;
  for (const std::string& m : {e, outside}) EXPECT_EQ(m.find('\n'), std::string::npos) << m;
}

}  // namespace
}  // namespace deferbench
