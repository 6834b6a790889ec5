#include "experiments/policy_io.h"

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <optional>

#include <fmt/format.h>

#include "core/config/compose.h"
#include "core/data/binary_io.h"
#include "core/data/csv_reader.h"
#include "core/data/jsonl_reader.h"
#include "core/data/npy.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"
#include "models/backend.h"
#include "models/registry.h"

namespace deferbench {
namespace fs = std::filesystem;

namespace {

double threshold_of(const nlohmann::json& j, const fs::path& dir) {
  if (j.is_number()) return j.get<double>();
  if (j == "+inf") return std::numeric_limits<double>::infinity();
  if (j == "-inf") return -std::numeric_limits<double>::infinity();
  fail({(dir / "manifest.json").string(), 0, "thresholds"}, "expected numbers, +inf or -inf");
}

void save_labels(const fs::path& file, const std::vector<LabelId>& labels) {
  AtomicFile f(file);
  BinaryWriter w(f.stream());
  w.header("deferbench-labels", 1);
  w.vector(labels);
  f.commit();
}

std::vector<LabelId> load_labels(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail({file.string(), 0, ""}, "cannot open");
  BinaryReader r(in, file.string());
  r.header("deferbench-labels", 1);
  return r.vector<LabelId>();
}

}  // namespace

nlohmann::json threshold_json(double v) {
  if (std::isfinite(v)) return v;
  return v > 0 ? "+inf" : "-inf";
}

void save_policy(const fs::path& dir, const std::vector<Stage>& stages,
                 const TextFeaturizer* featurizer, const LabelSpace& labels,
                 std::size_t feature_dim, const nlohmann::json& info) {
  DB_CHECK(!fs::exists(dir) || fs::is_empty(dir),
           "save_policy: {} exists and is not empty (choose a new folder)", dir.string());
  const fs::path tmp = (dir.has_parent_path() ? dir.parent_path() : fs::path(".")) /
                       fmt::format(".{}.tmp-{}", dir.filename().string(), getpid());
  fs::create_directories(tmp);
  try {
    nlohmann::json manifest = {{"format", "deferbench-policy"},
                               {"version", kPolicyFormatVersion},
                               {"labels", labels.names()},
                               {"feature_dim", feature_dim},
                               {"features", featurizer ? "text" : "embeddings"},
                               {"info", info}};
    if (featurizer) featurizer->save(tmp / "featurizer.bin");
    nlohmann::json js = nlohmann::json::array();
    for (std::size_t k = 0; k < stages.size(); ++k) {
      const Stage& s = stages[k];
      const std::string prefix = fmt::format("stage{}_", k + 1);
      nlohmann::json j = {{"surrogate", prefix + "surrogate.bin"},
                          {"knn", s.knn},
                          {"use_embedding", s.use_embedding}};
      s.surrogate->save(tmp / (prefix + "surrogate.bin"));
      if (s.acceptor) {
        j["acceptor_constant"] = s.acceptor->constant();
        if (s.acceptor->model()) {
          s.acceptor->model()->save(tmp / (prefix + "acceptor.bin"));
          j["acceptor"] = prefix + "acceptor.bin";
        }
      } else {
        j["acceptor"] = nullptr;  // global: no acceptor
      }
      if (s.ood_k > 0) {
        j["ood_k"] = s.ood_k;
        j["ood_max_distance"] = s.ood_max_distance;
      }
      if (s.neighbours && (s.knn > 0 || s.ood_k > 0)) {
        write_npy(tmp / (prefix + "neighbours.npy"), s.neighbours->train());
        save_labels(tmp / (prefix + "neighbours.bin"), s.neighbours->teacher());
        j["neighbours"] = prefix + "neighbours";
      }
      nlohmann::json t = nlohmann::json::array();
      for (double v : s.thresholds) t.push_back(threshold_json(v));
      j["thresholds"] = t;
      js.push_back(j);
    }
    manifest["stages"] = js;
    write_file_atomic(tmp / "manifest.json", manifest.dump(2) + "\n");
    if (fs::exists(dir)) fs::remove(dir);
    fs::rename(tmp, dir);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
}

SavedPolicy load_policy(const fs::path& dir) {
  const fs::path mf = dir / "manifest.json";
  if (!fs::exists(mf)) fail({mf.string(), 0, ""}, "not found (is this a policy folder?)");
  SavedPolicy p;
  try {
    p.manifest = nlohmann::json::parse(read_file(mf));
  } catch (const nlohmann::json::exception& e) {
    fail({mf.string(), 0, ""}, std::string("malformed JSON: ") + e.what());
  }
  const auto& m = p.manifest;
  if (m.value("format", "") != "deferbench-policy")
    fail({mf.string(), 0, "format"}, "expected \"deferbench-policy\"");
  if (m.value("version", 0) > kPolicyFormatVersion)
    fail({mf.string(), 0, "version"}, fmt::format("{} is newer than this build reads ({})",
                                                  m.value("version", 0), kPolicyFormatVersion));
  try {
    p.labels = std::make_shared<const LabelSpace>(m.at("labels").get<std::vector<std::string>>());
    p.feature_dim = m.at("feature_dim").get<std::size_t>();
    if (m.at("features") == "text")
      p.featurizer = std::make_shared<TextFeaturizer>(TextFeaturizer::load(dir / "featurizer.bin"));
    for (const auto& j : m.at("stages")) {
      Stage s;
      s.surrogate = builtin_models().load(dir / j.at("surrogate").get<std::string>());
      if (!j.at("acceptor").is_null() || j.contains("acceptor_constant")) {
        const int constant = j.value("acceptor_constant", -1);
        std::unique_ptr<Classifier> model;
        if (constant < 0) model = builtin_models().load(dir / j.at("acceptor").get<std::string>());
        s.acceptor = std::make_shared<Acceptor>(std::move(model), constant);
      }
      s.knn = j.at("knn").get<int>();
      s.use_embedding = j.at("use_embedding").get<bool>();
      if (j.contains("neighbours")) {
        const std::string base = j.at("neighbours").get<std::string>();
        s.neighbours = std::make_shared<NeighbourIndex>(read_npy(dir / (base + ".npy")),
                                                        load_labels(dir / (base + ".bin")));
      }
      s.ood_k = j.value("ood_k", 0);
      if (s.ood_k > 0) s.ood_max_distance = j.at("ood_max_distance").get<double>();
      for (const auto& t : j.at("thresholds")) s.thresholds.push_back(threshold_of(t, dir));
      if (s.thresholds.empty()) fail({mf.string(), 0, "thresholds"}, "a stage has none");
      p.stages.push_back(std::move(s));
    }
  } catch (const nlohmann::json::exception& e) {
    fail({mf.string(), 0, ""}, std::string("missing or mistyped field: ") + e.what());
  }
  return p;
}

RoutedFile route_file(const SavedPolicy& policy, const fs::path& input, const RouteOptions& options,
                      const Context& ctx) {
  std::string format = options.format;
  if (format == "auto") {
    const std::string ext = input.extension().string();
    format = ext == ".npy"                       ? "npy"
             : ext == ".csv"                     ? "csv"
             : ext == ".jsonl" || ext == ".json" ? "jsonl"
                                                 : "";
    DB_CHECK(!format.empty(),
             "{}: cannot tell the format from the extension; use --format jsonl|csv|npy",
             input.string());
  }
  Traces traces;
  Matrix x;
  if (format == "npy") {
    DB_CHECK(!policy.featurizer,
             "{}: this policy was trained on text; give it JSONL or CSV with the text",
             input.string());
    x = read_npy(input);
    for (std::size_t i = 0; i < x.rows(); ++i) traces.ids.push_back(std::to_string(i));
  } else {
    if (format == "jsonl") {
      JsonlOptions o;
      o.require_teacher = false;
      traces = read_jsonl_traces(input, o);
    } else {
      CsvColumns c;
      c.text = options.text_column;
      c.id = options.id_column;
      c.delimiter = options.delimiter;
      c.require_teacher = false;
      traces = read_csv_traces(input, c);
    }
    if (policy.featurizer) {
      x = policy.featurizer->transform(traces.texts, ctx);
    } else {
      DB_CHECK(traces.has_embeddings(),
               "{}: this policy routes embeddings; put them in {}.npy beside the file",
               input.string(), input.stem().string());
      x = std::move(traces.embeddings);
    }
  }
  DB_CHECK(x.cols() == policy.feature_dim || x.rows() == 0,
           "{}: the policy expects {} feature columns, the input has {}", input.string(),
           policy.feature_dim, x.cols());
  RoutedFile result;
  result.rows = x.rows();
  std::string& out = result.lines;
  if (policy.stages.empty()) {
    for (const std::string& id : traces.ids)
      out += nlohmann::json({{"id", id},
                             {"label", nullptr},
                             {"decision", "deferred"},
                             {"accept_score", nullptr},
                             {"stage", nullptr}})
                 .dump() +
             "\n";
    return result;
  }
  // On CUDA the whole policy runs on the device when every part has a device form (one copy of
  // the rows there, one of the decisions back); else stage by stage.
  std::optional<Routed> on_device = route_on_device(policy.stages, x, ctx);
  const Routed r = on_device ? std::move(*on_device) : route(policy.stages, x, ctx);
  for (std::size_t i = 0; i < x.rows(); ++i) {
    const bool handled = r.stage[i] >= 0;
    nlohmann::json line = {
        {"id", traces.ids[i]},
        {"label", handled ? nlohmann::json(policy.labels->name(r.label[i])) : nlohmann::json()},
        {"decision", handled ? "handled" : "deferred"},
        {"accept_score", r.score[i]},
        {"stage", handled ? nlohmann::json(r.stage[i] + 1) : nlohmann::json()}};
    out += line.dump() + "\n";
    result.handled += handled;
  }
  return result;
}

}  // namespace deferbench
