#include "experiments/policy_io.h"

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

// The stages of a single-surrogate policy's manifest (the shared checks: ManifestReader).
class StageReader {
 public:
  explicit StageReader(const ManifestReader& r) : r_(r) {}

  Stage stage(const nlohmann::json& j, std::size_t k, const LabelSpace& labels,
              std::size_t feature_dim) const {
    const std::string f = fmt::format("stages[{}].", k);
    r_.check(j.is_object(), f.substr(0, f.size() - 1), "expected an object");
    Stage s;
    s.surrogate = r_.model(j.at("surrogate"), f + "surrogate", labels.size(), [&](std::size_t n) {
      return fmt::format("the model predicts {} classes; the manifest has {} labels", n,
                         labels.size());
    });
    if (!j.at("acceptor").is_null() || j.contains("acceptor_constant")) {
      const int constant =
          j.contains("acceptor_constant")
              ? static_cast<int>(r_.whole(j["acceptor_constant"], f + "acceptor_constant", -1, 1))
              : -1;
      std::unique_ptr<Classifier> model;
      if (constant < 0) {
        model = builtin_models().load(r_.file(j.at("acceptor"), f + "acceptor"));
        r_.check(model->n_classes() == 2, f + "acceptor",
                 fmt::format("expected a 2-class model (agrees or not), got {} classes",
                             model->n_classes()));
      }
      s.acceptor = std::make_shared<Acceptor>(std::move(model), constant);
    }
    s.knn = static_cast<int>(r_.whole(j.at("knn"), f + "knn", 0, 100000));
    r_.check(j.at("use_embedding").is_boolean(), f + "use_embedding", "expected true or false");
    s.use_embedding = j["use_embedding"].get<bool>();
    s.ood_k =
        j.contains("ood_k") ? static_cast<int>(r_.whole(j["ood_k"], f + "ood_k", 0, 100000)) : 0;
    if (s.ood_k > 0) {
      r_.check(j.at("ood_max_distance").is_number(), f + "ood_max_distance", "expected a number");
      s.ood_max_distance = j["ood_max_distance"].get<double>();
    }
    if (j.contains("neighbours"))
      s.neighbours = neighbours(j["neighbours"], f, labels, feature_dim);
    r_.check(s.neighbours || (s.knn == 0 && s.ood_k == 0), f + "neighbours",
             "missing: knn or ood_k is set, so the stage needs its training neighbours");
    const nlohmann::json& t = j.at("thresholds");
    r_.check(t.is_array() && (t.size() == 1 || t.size() == labels.size()), f + "thresholds",
             fmt::format("expected 1 threshold or one per label ({})", labels.size()));
    for (const auto& v : t) s.thresholds.push_back(threshold_of(v, r_.dir()));
    return s;
  }

 private:
  std::shared_ptr<NeighbourIndex> neighbours(const nlohmann::json& base, const std::string& f,
                                             const LabelSpace& labels,
                                             std::size_t feature_dim) const {
    r_.check(base.is_string(), f + "neighbours", "expected a file name without extension");
    const std::string b = base.get<std::string>();
    Matrix x = read_npy(r_.file(b + ".npy", f + "neighbours"));
    std::vector<LabelId> y = load_labels(r_.file(b + ".bin", f + "neighbours"));
    r_.check(x.cols() == feature_dim && x.rows() == y.size() && x.rows() > 0, f + "neighbours",
             fmt::format("expected {} columns and one label per row, got {}x{} and {} labels",
                         feature_dim, x.rows(), x.cols(), y.size()));
    for (LabelId v : y)
      r_.check(v >= 0 && static_cast<std::size_t>(v) < labels.size(), f + "neighbours",
               fmt::format("a label id ({}) outside the manifest's {} labels", v, labels.size()));
    return std::make_shared<NeighbourIndex>(std::move(x), std::move(y));
  }

  const ManifestReader& r_;
};
}  // namespace

nlohmann::json threshold_json(double v) {
  if (std::isfinite(v)) return v;
  return v > 0 ? "+inf" : "-inf";
}

void save_policy(const fs::path& dir, const std::vector<Stage>& stages,
                 const TextFeaturizer* featurizer, const LabelSpace& labels,
                 std::size_t feature_dim, const nlohmann::json& info) {
  write_policy_folder(dir, "save_policy", [&](const fs::path& tmp) {
    nlohmann::json manifest =
        manifest_header(tmp, kStagesKind, featurizer, labels, feature_dim, info);
    nlohmann::json js = nlohmann::json::array();
    for (std::size_t k = 0; k < stages.size(); ++k) {
      const Stage& s = stages[k];
      const std::string prefix = fmt::format("stage{}_", k + 1);
      nlohmann::json j = {{"knn", s.knn}, {"use_embedding", s.use_embedding}};
      // A cross-fitted stage: its fold surrogates, averaged when loaded.
      j["surrogate"] = save_model_files(*s.surrogate, tmp, prefix + "surrogate");
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
    return manifest;
  });
}

SavedPolicy load_policy(const fs::path& dir) {
  const fs::path mf = dir / "manifest.json";
  SavedPolicy p;
  p.manifest = read_manifest(dir);
  const ManifestReader r(dir, p.manifest, kStagesKind);
  const nlohmann::json& m = p.manifest;
  try {
    ArtifactFeatures a = read_artifact_features(r, m);
    p.featurizer = std::move(a.featurizer);
    p.labels = std::move(a.labels);
    p.feature_dim = a.feature_dim;
    const nlohmann::json& stages = m.at("stages");
    r.check(stages.is_array(), "stages", "expected a list");
    const StageReader sr(r);
    for (std::size_t k = 0; k < stages.size(); ++k)
      p.stages.push_back(sr.stage(stages[k], k, *p.labels, p.feature_dim));
  } catch (const nlohmann::json::exception& e) {
    fail({mf.string(), 0, ""}, "missing or mistyped field: " + excerpt(e.what()));
  }
  return p;
}

Traffic read_traffic(const SavedPolicy& policy, const fs::path& input, const RouteOptions& options,
                     const Context& ctx, bool require_teacher) {
  return read_traffic(policy.featurizer.get(), policy.feature_dim, input, options, ctx,
                      require_teacher);
}

Traffic read_traffic(const TextFeaturizer* featurizer, std::size_t feature_dim,
                     const fs::path& input, const RouteOptions& options, const Context& ctx,
                     bool require_teacher) {
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
  Traffic t;
  Traces& traces = t.traces;
  Matrix& x = t.x;
  if (format == "npy") {
    DB_CHECK(!require_teacher,
             "{}: the audit needs the teacher's answers; give JSONL traces (with the embeddings "
             "in {}.npy beside them) or CSV",
             input.string(), input.stem().string());
    DB_CHECK(featurizer == nullptr,
             "{}: this policy was trained on text; give it JSONL or CSV with the text",
             input.string());
    x = read_npy(input);
    for (std::size_t i = 0; i < x.rows(); ++i) traces.ids.push_back(std::to_string(i));
  } else {
    if (format == "jsonl") {
      JsonlOptions o;
      o.require_teacher = require_teacher;
      o.field_keys = options.fields;
      traces = read_jsonl_traces(input, o);
    } else {
      CsvColumns c;
      c.text = options.text_column;
      c.id = options.id_column;
      c.delimiter = options.delimiter;
      c.require_teacher = require_teacher;
      if (require_teacher) {
        c.teacher = options.teacher_column;
        c.gold = options.gold_column;
        c.time = options.time_column;
        c.slice = options.slice_column;
        c.fields = options.fields;
      }
      traces = read_csv_traces(input, c);
    }
    if (featurizer) {
      x = featurizer->transform(traces.texts, ctx);
    } else {
      DB_CHECK(traces.has_embeddings(),
               "{}: this policy routes embeddings; put them in {}.npy beside the file",
               input.string(), input.stem().string());
      x = std::move(traces.embeddings);
    }
  }
  DB_CHECK(x.cols() == feature_dim || x.rows() == 0,
           "{}: the policy expects {} feature columns, the input has {}", input.string(),
           feature_dim, x.cols());
  return t;
}

RoutedFile route_file(const SavedPolicy& policy, const fs::path& input, const RouteOptions& options,
                      const Context& ctx) {
  const Traffic t = read_traffic(policy, input, options, ctx, false);
  const Traces& traces = t.traces;
  const Matrix& x = t.x;
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
