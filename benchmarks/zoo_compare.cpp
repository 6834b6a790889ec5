// zoo_compare: fits zoo models on a folder written by `deferbench featurize -o DIR` and reports,
// per model, the test accuracy (against the teacher), the fit time and the prediction
// throughput. benchmarks/compare_sklearn.py runs it beside scikit-learn.
//
//   zoo_compare DIR --model logreg --model 'name: logreg, C: 10' --threads 2 --json
//
// Trains on split=train, passes split=val for early stopping, measures on split=test.
// A model that cannot be built or fitted (an unknown name, say) gives an error line and the
// others still run.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "benchmarks/bench_support.h"
#include "core/data/dataset.h"
#include "core/data/npy.h"
#include "core/util/atomic_file.h"
#include "core/util/context.h"
#include "core/util/error.h"
#include "models/backend.h"
#include "models/registry.h"

namespace fs = std::filesystem;
using deferbench::Context;
using deferbench::Dataset;
using deferbench::LabelId;
using deferbench::Matrix;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// "rf" → {name: rf}; "name: rf, n_trees: 50" or "{...}" → that mapping; a .yaml file → its content.
YAML::Node parse_spec(const std::string& spec) {
  if (spec.size() > 5 && spec.substr(spec.size() - 5) == ".yaml" && fs::exists(spec))
    return YAML::LoadFile(spec);
  YAML::Node node;
  try {
    node = YAML::Load(spec.find(':') != std::string::npos && spec.front() != '{' ? "{" + spec + "}"
                                                                                 : spec);
  } catch (const YAML::Exception& e) {
    DB_THROW("--model '{}': not YAML: {}", spec, e.what());
  }
  if (node.IsScalar()) {
    YAML::Node m(YAML::NodeType::Map);
    m["name"] = node.Scalar();
    return m;
  }
  return node;
}

std::string flow_yaml(const YAML::Node& node) {
  YAML::Emitter e;
  e << YAML::Flow << node;
  return e.c_str();
}

nlohmann::json run_one(const std::string& spec_text, const deferbench::bench::FeatureFolder& s,
                       const Context& ctx, double min_predict_seconds) {
  nlohmann::json out;
  out["spec"] = spec_text;
  try {
    YAML::Node spec = parse_spec(spec_text);
    out["model"] = spec["name"] ? spec["name"].as<std::string>() : "?";
    out["spec"] = flow_yaml(spec);
    auto model = deferbench::builtin_models().make(spec, "model");
    auto t = Clock::now();
    model->fit(s.train, s.val.size() > 0 ? &s.val : nullptr, ctx);
    const double fit_seconds = seconds_since(t);

    // Prediction throughput: repeat over the test rows until min_predict_seconds have passed.
    t = Clock::now();
    std::vector<LabelId> pred = model->predict(s.test.features, ctx);
    int reps = 1;
    while (seconds_since(t) < min_predict_seconds) {
      model->predict(s.test.features, ctx);
      ++reps;
    }
    const double predict_seconds = seconds_since(t);
    std::size_t ok = 0;
    for (std::size_t i = 0; i < pred.size(); ++i) ok += pred[i] == s.test.teacher[i];
    out["accuracy"] = static_cast<double>(ok) / static_cast<double>(pred.size());
    out["fit_seconds"] = fit_seconds;
    out["predict_seconds"] = predict_seconds / reps;
    out["predict_rows_per_s"] = static_cast<double>(pred.size()) * reps / predict_seconds;
  } catch (const std::exception& e) {
    out["error"] = e.what();
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Fits zoo models on a featurized folder and reports accuracy and speed."};
  std::string dir;
  std::vector<std::string> specs;
  int threads = 2;
  std::uint64_t seed = 0;
  std::string device = "cpu";
  bool json = false;
  double min_predict_seconds = 0.25;
  app.add_option("dir", dir, "Folder written by `deferbench featurize -o DIR`")->required();
  app.add_option("-m,--model", specs,
                 "Model: a name (rf), a YAML mapping ('name: rf, n_trees: 50') or a .yaml file; "
                 "repeatable (default: every registered model)");
  app.add_option("-t,--threads", threads, "Threads (0: all cores)");
  app.add_option("-s,--seed", seed, "Seed");
  app.add_option("-d,--device", device, "cpu, cuda or auto");
  app.add_option("--min-predict-seconds", min_predict_seconds,
                 "Repeat prediction on the test rows for at least this long");
  app.add_flag("--json", json, "One JSON object per model and line");
  CLI11_PARSE(app, argc, argv);

  try {
    const Context ctx =
        deferbench::make_context(deferbench::parse_device_request(device), seed, threads);
    if (specs.empty()) specs = deferbench::builtin_models().names();
    const deferbench::bench::FeatureFolder s = deferbench::bench::read_feature_folder(dir);
    if (!json)
      fmt::print("{}: train {}, val {}, test {} rows × {} features, {} classes; {} threads\n", dir,
                 s.train.size(), s.val.size(), s.test.size(), s.train.features.cols(),
                 s.train.n_classes(), ctx.threads);
    for (const std::string& spec : specs) {
      nlohmann::json r = run_one(spec, s, ctx, min_predict_seconds);
      r["threads"] = ctx.threads;
      r["n_train"] = s.train.size();
      r["n_test"] = s.test.size();
      if (json) {
        fmt::print("{}\n", r.dump());
      } else if (r.contains("error")) {
        fmt::print("{:<40} error: {}\n", r["spec"].get<std::string>(),
                   r["error"].get<std::string>());
      } else {
        fmt::print("{:<40} accuracy {:.4f}  fit {:8.3f} s  predict {:12.0f} rows/s\n",
                   r["spec"].get<std::string>(), r["accuracy"].get<double>(),
                   r["fit_seconds"].get<double>(), r["predict_rows_per_s"].get<double>());
      }
      std::fflush(stdout);
    }
  } catch (const deferbench::Error& e) {
    fmt::print(stderr, "zoo_compare: error: {}\n", e.what());
    return 2;
  }
  return 0;
}
