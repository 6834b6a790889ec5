#include "experiments/artifact_files.h"

#include <unistd.h>

#include <cmath>

#include <fmt/format.h>

#include "core/config/compose.h"
#include "core/model/fold_average.h"
#include "core/util/atomic_file.h"
#include "core/util/checksum.h"
#include "core/util/error.h"
#include "models/registry.h"

namespace deferbench {
namespace fs = std::filesystem;

bool plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find_first_of(std::string("/\\\0", 3)) == std::string::npos;
}

nlohmann::json checksums_of(const fs::path& dir) {
  nlohmann::json files = nlohmann::json::object();
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename() != "manifest.json")
      files[e.path().filename().string()] = file_checksum(e.path());
  return files;
}

void write_policy_folder(const fs::path& dir, const char* caller,
                         const std::function<nlohmann::json(const fs::path&)>& fill) {
  DB_CHECK(!fs::exists(dir) || fs::is_empty(dir),
           "{}: {} exists and is not empty (choose a new "
           "folder)",
           caller, dir.string());
  const fs::path tmp = (dir.has_parent_path() ? dir.parent_path() : fs::path(".")) /
                       fmt::format(".{}.tmp-{}", dir.filename().string(), getpid());
  fs::create_directories(tmp);
  try {
    nlohmann::json manifest = fill(tmp);
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

nlohmann::json manifest_header(const fs::path& tmp, const char* kind,
                               const TextFeaturizer* featurizer, const LabelSpace& labels,
                               std::size_t feature_dim, const nlohmann::json& info) {
  nlohmann::json manifest = {{"format", "deferbench-policy"}, {"version", kPolicyFormatVersion}};
  if (std::string(kind) != kStagesKind) manifest["kind"] = kind;
  manifest["labels"] = labels.names();
  manifest["feature_dim"] = feature_dim;
  manifest["features"] = featurizer ? "text" : "embeddings";
  manifest["info"] = info;
  if (featurizer) featurizer->save(tmp / "featurizer.bin");
  return manifest;
}

nlohmann::json save_model_files(const Classifier& model, const fs::path& dir,
                                const std::string& base) {
  if (const auto* avg = dynamic_cast<const FoldAverage*>(&model)) {
    // A cross-fitted model: its fold members, averaged when loaded.
    nlohmann::json members = nlohmann::json::array();
    for (std::size_t m = 0; m < avg->members().size(); ++m) {
      const std::string name = fmt::format("{}_fold{}.bin", base, m + 1);
      avg->members()[m]->save(dir / name);
      members.push_back(name);
    }
    return members;
  }
  model.save(dir / (base + ".bin"));
  return base + ".bin";
}

nlohmann::json read_manifest(const fs::path& dir) {
  const fs::path mf = dir / "manifest.json";
  if (!fs::exists(mf)) fail({mf.string(), 0, ""}, "not found (is this a policy folder?)");
  try {
    return nlohmann::json::parse(read_file(mf));
  } catch (const nlohmann::json::exception& e) {
    fail({mf.string(), 0, ""}, "malformed JSON: " + excerpt(e.what()));
  }
}

ManifestReader::ManifestReader(const fs::path& dir, const nlohmann::json& m, const char* kind)
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
  // The kind: none for a single-surrogate policy, "experts" for a multi-expert one.
  const std::string want = kind;
  if (want == kStagesKind) {
    check(!m.contains("kind"), "kind",
          m.contains("kind") && m["kind"] == kExpertsKind
              ? "\"experts\": a multi-expert policy (load it with load_expert_policy, "
                "experiments/expert_policy_io.h); expected a single-surrogate policy (no kind)"
              : "expected none (a single-surrogate policy)");
  } else {
    check(m.contains("kind"), "kind",
          fmt::format("missing: a single-surrogate policy (load it with load_policy, "
                      "experiments/policy_io.h); expected \"{}\"",
                      want));
    check(m["kind"] == want, "kind", fmt::format("expected \"{}\"", want));
  }
  verify_files();
}

void ManifestReader::bad(const std::string& field, const std::string& msg) const {
  fail({mf_, 0, field}, msg);
}

std::int64_t ManifestReader::whole(const nlohmann::json& j, const std::string& field,
                                   std::int64_t lo, std::size_t hi) const {
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

double ManifestReader::number(const nlohmann::json& j, const std::string& field, double lo,
                              double hi) const {
  const bool ok = j.is_number() && std::isfinite(j.get<double>()) && j.get<double>() >= lo &&
                  j.get<double>() <= hi;
  check(ok, field, fmt::format("expected a number from {} to {}", lo, hi));
  return j.get<double>();
}

std::vector<std::string> ManifestReader::labels() const {
  const nlohmann::json& j = m_.at("labels");
  check(j.is_array() && j.size() >= 2, "labels", "expected a list of at least 2 label names");
  std::vector<std::string> out;
  for (const auto& v : j) {
    check(v.is_string(), "labels", "expected label names (strings)");
    out.push_back(v.get<std::string>());
  }
  return out;
}

fs::path ManifestReader::file(const nlohmann::json& name, const std::string& field) const {
  check(name.is_string(), field, "expected a file name");
  const std::string n = name.get<std::string>();
  check(verified_.count(n) > 0, field,
        fmt::format("'{}' is not listed in 'files' (expected a file of the policy folder)",
                    excerpt(n)));
  return dir_ / n;
}

std::shared_ptr<const Classifier> ManifestReader::model(
    const nlohmann::json& j, const std::string& field, std::size_t classes,
    const std::function<std::string(std::size_t)>& mismatch) const {
  std::shared_ptr<const Classifier> out;
  if (j.is_array()) {
    // A cross-fitted model: the average of its fold members.
    check(!j.empty(), field, "expected a file name or a non-empty list of them");
    std::vector<std::shared_ptr<const Classifier>> members;
    for (std::size_t m = 0; m < j.size(); ++m) {
      const std::string f = fmt::format("{}[{}]", field, m);
      members.push_back(builtin_models().load(file(j[m], f)));
      check(members.back()->n_classes() == classes, f, mismatch(members.back()->n_classes()));
    }
    out = std::make_shared<FoldAverage>(std::move(members));
  } else {
    out = builtin_models().load(file(j, field));
  }
  check(out->n_classes() == classes, field, mismatch(out->n_classes()));
  return out;
}

void ManifestReader::verify_files() {
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

ArtifactFeatures read_artifact_features(const ManifestReader& r, const nlohmann::json& m) {
  ArtifactFeatures a;
  a.labels = std::make_shared<const LabelSpace>(r.labels());
  a.feature_dim =
      static_cast<std::size_t>(r.whole(m.at("feature_dim"), "feature_dim", 1, kMaxFeatureDim));
  const nlohmann::json& features = m.at("features");
  if (features == "text") {
    a.featurizer = std::make_shared<TextFeaturizer>(
        TextFeaturizer::load(r.file("featurizer.bin", "features")));
    r.check(static_cast<std::size_t>(a.featurizer->dim()) == a.feature_dim, "feature_dim",
            fmt::format("{} differs from the featurizer's dimension ({})", a.feature_dim,
                        a.featurizer->dim()));
  } else {
    r.check(features == "embeddings", "features", "expected \"text\" or \"embeddings\"");
  }
  return a;
}

}  // namespace deferbench
