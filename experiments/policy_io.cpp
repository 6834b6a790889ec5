#include "experiments/policy_io.h"

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "core/config/compose.h"
#include "core/data/binary_io.h"
#include "core/data/csv_reader.h"
#include "core/data/jsonl_reader.h"
#include "core/data/npy.h"
#include "core/model/fold_average.h"
#include "core/util/atomic_file.h"
#include "core/util/checksum.h"
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

// The largest feature width a manifest may declare (a bound, so a hostile one cannot make the
// router allocate without limit).
constexpr std::size_t kMaxFeatureDim = std::size_t(1) << 24;

// A name a manifest may give a file of its folder: a plain file name, no path.
bool plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find_first_of(std::string("/\\\0", 3)) == std::string::npos;
}

// The recorded checksum of every file of the folder, as save_policy writes them.
nlohmann::json checksums_of(const fs::path& dir) {
  nlohmann::json files = nlohmann::json::object();
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename() != "manifest.json")
      files[e.path().filename().string()] = file_checksum(e.path());
  return files;
}

// A policy's manifest read and checked field by field: every error names manifest.json, the
// field and what was expected. The files it names are verified against their checksums (and
// must be plain files of the folder) before any of them is read.
class ManifestReader {
 public:
  ManifestReader(const fs::path& dir, const nlohmann::json& m)
      : dir_(dir), mf_((dir / "manifest.json").string()), m_(m) {
    check(m.is_object(), "", "expected a JSON object (a policy manifest)");
    check(m.contains("format") && m["format"] == "deferbench-policy", "format",
          "expected \"deferbench-policy\"");
    check(m.contains("version") && m["version"].is_number_integer(), "version",
          "expected a whole number");
    const auto v = m["version"].get<std::int64_t>();
    check(v <= kPolicyFormatVersion, "version",
          fmt::format("{} is newer than this build reads ({})", v, kPolicyFormatVersion));
    check(v >= kPolicyFormatVersion, "version",
          fmt::format("{} is an older format without file checksums; save the policy again "
                      "with this build (expected version {})",
                      v, kPolicyFormatVersion));
    verify_files();
  }

  [[noreturn]] void bad(const std::string& field, const std::string& msg) const {
    fail({mf_, 0, field}, msg);
  }
  void check(bool ok, const std::string& field, const std::string& msg) const {
    if (!ok) bad(field, msg);
  }

  // A whole number in [lo, hi] (a float or a string is refused, not converted).
  std::int64_t whole(const nlohmann::json& j, const std::string& field, std::int64_t lo,
                     std::size_t hi) const {
    bool ok = false;
    std::int64_t v = 0;
    if (j.is_number_unsigned()) {
      ok = j.get<std::uint64_t>() <= hi && static_cast<std::int64_t>(hi) >= lo;
      if (ok) v = static_cast<std::int64_t>(j.get<std::uint64_t>());
    } else if (j.is_number_integer()) {
      v = j.get<std::int64_t>();
      ok = v >= lo && (v < 0 || static_cast<std::uint64_t>(v) <= hi);
    }
    check(ok, field, fmt::format("expected a whole number from {} to {}", lo, hi));
    return v;
  }

  std::vector<std::string> labels() const {
    const nlohmann::json& j = m_.at("labels");
    check(j.is_array() && j.size() >= 2, "labels", "expected a list of at least 2 label names");
    std::vector<std::string> out;
    for (const auto& v : j) {
      check(v.is_string(), "labels", "expected label names (strings)");
      out.push_back(v.get<std::string>());
    }
    return out;
  }

  // The path of a file the manifest names in `field`: listed in "files" (so verified).
  fs::path file(const nlohmann::json& name, const std::string& field) const {
    check(name.is_string(), field, "expected a file name");
    const std::string n = name.get<std::string>();
    check(verified_.count(n) > 0, field,
          fmt::format("'{}' is not listed in 'files' (expected a file of the policy folder)",
                      excerpt(n)));
    return dir_ / n;
  }

  Stage stage(const nlohmann::json& j, std::size_t k, const LabelSpace& labels,
              std::size_t feature_dim) const {
    const std::string f = fmt::format("stages[{}].", k);
    check(j.is_object(), f.substr(0, f.size() - 1), "expected an object");
    Stage s;
    const nlohmann::json& sj = j.at("surrogate");
    if (sj.is_array()) {
      // A cross-fitted stage: the average of its fold surrogates.
      check(!sj.empty(), f + "surrogate", "expected a file name or a non-empty list of them");
      std::vector<std::shared_ptr<const Classifier>> members;
      for (std::size_t m = 0; m < sj.size(); ++m) {
        const std::string field = fmt::format("{}surrogate[{}]", f, m);
        members.push_back(builtin_models().load(file(sj[m], field)));
        check(members.back()->n_classes() == labels.size(), field,
              fmt::format("the model predicts {} classes; the manifest has {} labels",
                          members.back()->n_classes(), labels.size()));
      }
      s.surrogate = std::make_shared<FoldAverage>(std::move(members));
    } else {
      s.surrogate = builtin_models().load(file(sj, f + "surrogate"));
    }
    check(s.surrogate->n_classes() == labels.size(), f + "surrogate",
          fmt::format("the model predicts {} classes; the manifest has {} labels",
                      s.surrogate->n_classes(), labels.size()));
    if (!j.at("acceptor").is_null() || j.contains("acceptor_constant")) {
      const int constant =
          j.contains("acceptor_constant")
              ? static_cast<int>(whole(j["acceptor_constant"], f + "acceptor_constant", -1, 1))
              : -1;
      std::unique_ptr<Classifier> model;
      if (constant < 0) {
        model = builtin_models().load(file(j.at("acceptor"), f + "acceptor"));
        check(model->n_classes() == 2, f + "acceptor",
              fmt::format("expected a 2-class model (agrees or not), got {} classes",
                          model->n_classes()));
      }
      s.acceptor = std::make_shared<Acceptor>(std::move(model), constant);
    }
    s.knn = static_cast<int>(whole(j.at("knn"), f + "knn", 0, 100000));
    check(j.at("use_embedding").is_boolean(), f + "use_embedding", "expected true or false");
    s.use_embedding = j["use_embedding"].get<bool>();
    s.ood_k = j.contains("ood_k") ? static_cast<int>(whole(j["ood_k"], f + "ood_k", 0, 100000)) : 0;
    if (s.ood_k > 0) {
      check(j.at("ood_max_distance").is_number(), f + "ood_max_distance", "expected a number");
      s.ood_max_distance = j["ood_max_distance"].get<double>();
    }
    if (j.contains("neighbours"))
      s.neighbours = neighbours(j["neighbours"], f, labels, feature_dim);
    check(s.neighbours || (s.knn == 0 && s.ood_k == 0), f + "neighbours",
          "missing: knn or ood_k is set, so the stage needs its training neighbours");
    const nlohmann::json& t = j.at("thresholds");
    check(t.is_array() && (t.size() == 1 || t.size() == labels.size()), f + "thresholds",
          fmt::format("expected 1 threshold or one per label ({})", labels.size()));
    for (const auto& v : t) s.thresholds.push_back(threshold_of(v, dir_));
    return s;
  }

 private:
  std::shared_ptr<NeighbourIndex> neighbours(const nlohmann::json& base, const std::string& f,
                                             const LabelSpace& labels,
                                             std::size_t feature_dim) const {
    check(base.is_string(), f + "neighbours", "expected a file name without extension");
    const std::string b = base.get<std::string>();
    Matrix x = read_npy(file(b + ".npy", f + "neighbours"));
    std::vector<LabelId> y = load_labels(file(b + ".bin", f + "neighbours"));
    check(x.cols() == feature_dim && x.rows() == y.size() && x.rows() > 0, f + "neighbours",
          fmt::format("expected {} columns and one label per row, got {}x{} and {} labels",
                      feature_dim, x.rows(), x.cols(), y.size()));
    for (LabelId v : y)
      check(v >= 0 && static_cast<std::size_t>(v) < labels.size(), f + "neighbours",
            fmt::format("a label id ({}) outside the manifest's {} labels", v, labels.size()));
    return std::make_shared<NeighbourIndex>(std::move(x), std::move(y));
  }

  // Every entry of "files": a plain name, a regular file inside the folder (a link may not lead
  // out of it), whose checksum is the one recorded.
  void verify_files() {
    check(m_.contains("files") && m_["files"].is_object(), "files",
          "expected an object of file names and their checksums");
    const fs::path real_dir = fs::canonical(dir_);
    for (const auto& [name, sum] : m_["files"].items()) {
      const std::string field = "files." + excerpt(name);
      check(plain_file_name(name), field,
            "expected a plain file name (no folder, no '..', not absolute)");
      check(sum.is_string(), field, "expected a checksum string");
      const fs::path path = dir_ / name;
      std::error_code ec;
      const fs::path real = fs::canonical(path, ec);
      check(!ec && fs::is_regular_file(real), field, "expected a file in the policy folder");
      check(real.parent_path() == real_dir, field,
            "a link leading out of the policy folder (expected a plain file)");
      check(file_checksum(real) == sum.get<std::string>(), field,
            "checksum mismatch: the file changed after the policy was saved (damaged or "
            "edited); save the policy again");
      verified_.insert(name);
    }
  }

  fs::path dir_;
  std::string mf_;
  const nlohmann::json& m_;
  std::set<std::string> verified_;
};
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
      nlohmann::json j = {{"knn", s.knn}, {"use_embedding", s.use_embedding}};
      if (const auto* avg = dynamic_cast<const FoldAverage*>(s.surrogate.get())) {
        // A cross-fitted stage: its fold surrogates, averaged when loaded.
        nlohmann::json members = nlohmann::json::array();
        for (std::size_t m = 0; m < avg->members().size(); ++m) {
          const std::string name = fmt::format("{}surrogate_fold{}.bin", prefix, m + 1);
          avg->members()[m]->save(tmp / name);
          members.push_back(name);
        }
        j["surrogate"] = members;
      } else {
        j["surrogate"] = prefix + "surrogate.bin";
        s.surrogate->save(tmp / (prefix + "surrogate.bin"));
      }
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
    manifest["files"] = checksums_of(tmp);
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
    fail({mf.string(), 0, ""}, "malformed JSON: " + excerpt(e.what()));
  }
  const ManifestReader r(dir, p.manifest);
  const nlohmann::json& m = p.manifest;
  try {
    p.labels = std::make_shared<const LabelSpace>(r.labels());
    p.feature_dim =
        static_cast<std::size_t>(r.whole(m.at("feature_dim"), "feature_dim", 1, kMaxFeatureDim));
    const nlohmann::json& features = m.at("features");
    if (features == "text") {
      p.featurizer = std::make_shared<TextFeaturizer>(
          TextFeaturizer::load(r.file("featurizer.bin", "features")));
      r.check(static_cast<std::size_t>(p.featurizer->dim()) == p.feature_dim, "feature_dim",
              fmt::format("{} differs from the featurizer's dimension ({})", p.feature_dim,
                          p.featurizer->dim()));
    } else {
      r.check(features == "embeddings", "features", "expected \"text\" or \"embeddings\"");
    }
    const nlohmann::json& stages = m.at("stages");
    r.check(stages.is_array(), "stages", "expected a list");
    for (std::size_t k = 0; k < stages.size(); ++k)
      p.stages.push_back(r.stage(stages[k], k, *p.labels, p.feature_dim));
  } catch (const nlohmann::json::exception& e) {
    fail({mf.string(), 0, ""}, "missing or mistyped field: " + excerpt(e.what()));
  }
  return p;
}

Traffic read_traffic(const SavedPolicy& policy, const fs::path& input, const RouteOptions& options,
                     const Context& ctx, bool require_teacher) {
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
    DB_CHECK(!policy.featurizer,
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
