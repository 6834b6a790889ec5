// route_bench: the deferbench side of benchmarks/compare_python_routing.py. Fits a one-stage
// l2d policy (surrogate on split=train, logistic acceptor on the probability summaries on
// split=val, guaranteed threshold at target 0.8 on split=cal) on a feature folder and times
// routing of the split=test rows at given batch sizes, the way the Python side does.
//
//   route_bench DIR --model 'name: logreg, C: 10' --batch 1,64,4096 --threads 2 --json
//   route_bench --write-synthetic DIR --rows 20000 --dim 256 --classes 77
//
// DIR is what `deferbench featurize -o DIR` writes: features.npy (float32, rows × d) and
// labels.csv (row,id,split,teacher_id,gold_id,teacher,gold). --write-synthetic writes such a
// folder from the synthetic generator (splits 55/15/15/15 % in row order; rows are i.i.d.).
//
// Timing per batch size b: the test rows in order, cut into batches of b (cycling through the
// test rows when b exceeds them), built before timing; one untimed call, then calls until
// --min-seconds have passed; rows/s = rows routed / seconds. One JSON line per batch size:
// {"model","spec","batch","rows_per_s","calls","seconds","coverage","feasible","fit_seconds",
//  "threads","n_test"} or {"model","spec","error"}.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "benchmarks/bench_support.h"
#include "core/data/npy.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"

namespace fs = std::filesystem;
using namespace deferbench;
using namespace deferbench::bench;

namespace {

using Clock = std::chrono::steady_clock;

void write_synthetic(const fs::path& dir, std::size_t rows, std::size_t dim, std::size_t classes,
                     std::uint64_t seed) {
  const Dataset d = synthetic_dataset(rows, dim, classes, seed);
  fs::create_directories(dir);
  write_npy(dir / "features.npy", d.features.view());
  std::string csv = "row,id,split,teacher_id,gold_id,teacher,gold\n";
  for (std::size_t i = 0; i < rows; ++i) {
    const double q = static_cast<double>(i) / static_cast<double>(rows);
    const char* split = q < 0.55 ? "train" : q < 0.70 ? "val" : q < 0.85 ? "cal" : "test";
    csv += fmt::format("{},syn-{},{},{},{},{},{}\n", i, i, split, d.teacher[i], d.teacher[i],
                       d.teacher[i], d.teacher[i]);
  }
  write_file_atomic(dir / "labels.csv", csv);
}

YAML::Node parse_spec(const std::string& spec) {
  YAML::Node node = YAML::Load(
      spec.find(':') != std::string::npos && spec.front() != '{' ? "{" + spec + "}" : spec);
  if (node.IsScalar()) {
    YAML::Node m(YAML::NodeType::Map);
    m["name"] = node.Scalar();
    return m;
  }
  return node;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"route_bench: deferbench routing throughput on a feature folder"};
  std::string dir, synthetic_dir;
  std::vector<std::string> specs;
  std::vector<std::size_t> batches{1, 64, 4096};
  int threads = 2;
  double min_seconds = 0.5;
  bool json = false;
  std::size_t rows = 20000, dim = 256, classes = 77;
  std::uint64_t seed = 0;
  app.add_option("dir", dir, "folder with features.npy and labels.csv");
  app.add_option("--model,-m", specs, "model spec (repeatable; default logreg)");
  app.add_option("--batch", batches, "batch sizes")->delimiter(',');
  app.add_option("--threads", threads, "threads (default 2)");
  app.add_option("--min-seconds", min_seconds, "time each batch size at least this long");
  app.add_flag("--json", json, "one JSON line per batch size");
  app.add_option("--write-synthetic", synthetic_dir, "write a synthetic folder and exit");
  app.add_option("--rows", rows, "synthetic rows (default 20000)");
  app.add_option("--dim", dim, "synthetic dimension (default 256)");
  app.add_option("--classes", classes, "synthetic classes (default 77)");
  app.add_option("--seed", seed, "synthetic seed (default 0)");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  try {
    if (!synthetic_dir.empty()) {
      write_synthetic(synthetic_dir, rows, dim, classes, seed);
      return 0;
    }
    DB_CHECK(!dir.empty(), "route_bench: give a folder (or --write-synthetic DIR)");
    if (specs.empty()) specs.push_back("logreg");
    FeatureFolder f = read_feature_folder(dir);
    if (f.cal.size() == 0) f.cal = f.val;  // a folder without a cal split: calibrate on val
    DB_CHECK(f.val.size() > 0, "{}: needs val rows (the acceptor trains on them)", dir);
    const Context ctx = make_context(Device::kCpu, threads);
    for (const std::string& text : specs) {
      nlohmann::json base = {{"spec", text}};
      try {
        const YAML::Node spec = parse_spec(text);
        base["model"] = spec["name"].as<std::string>();
        const FittedPolicy p = fit_policy(spec, f.train, f.val, f.cal, ctx);
        const MatrixView test = f.test.features.view();
        for (std::size_t b : batches) {
          // The batches: test rows in order, cycling when b exceeds them.
          std::vector<Matrix> parts;
          const std::size_t n_parts = std::max<std::size_t>(1, test.rows() / b);
          std::size_t next = 0;
          for (std::size_t k = 0; k < n_parts; ++k) {
            Matrix m(b, test.cols());
            for (std::size_t i = 0; i < b; ++i, next = (next + 1) % test.rows())
              std::copy_n(test.row(next), test.cols(), m.row(i));
            parts.push_back(std::move(m));
          }
          route(p.stages, parts[0].view(), ctx);  // warm-up
          std::size_t calls = 0, routed = 0, handled = 0;
          const auto t0 = Clock::now();
          double seconds = 0;
          do {
            const Routed r = route(p.stages, parts[calls % n_parts].view(), ctx);
            for (int s : r.stage) handled += s >= 0;
            routed += b;
            ++calls;
            seconds = std::chrono::duration<double>(Clock::now() - t0).count();
          } while (seconds < min_seconds);
          nlohmann::json j = base;
          j["batch"] = b;
          j["rows_per_s"] = static_cast<double>(routed) / seconds;
          j["calls"] = calls;
          j["seconds"] = seconds;
          j["coverage"] = static_cast<double>(handled) / static_cast<double>(routed);
          j["feasible"] = p.feasible;
          j["fit_seconds"] = p.fit_seconds;
          j["threads"] = threads;
          j["n_test"] = test.rows();
          if (json)
            std::printf("%s\n", j.dump().c_str());
          else
            std::printf("%-12s batch %6zu  %12.0f rows/s  coverage %.3f\n",
                        base["model"].get<std::string>().c_str(), b, j["rows_per_s"].get<double>(),
                        j["coverage"].get<double>());
          std::fflush(stdout);
        }
      } catch (const std::exception& e) {
        nlohmann::json j = base;
        j["error"] = e.what();
        std::printf("%s\n",
                    json ? j.dump().c_str() : fmt::format("{}: {}", text, e.what()).c_str());
      }
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "route_bench: error: %s\n", e.what());
    return 2;
  }
  return 0;
}
