// What every policy artifact folder shares (experiments/policy_io.h: a single-surrogate policy;
// experiments/expert_policy_io.h: a multi-expert one): the manifest's header (format, version,
// kind, label space, features), the "files" checksums verified before any file is read, the
// atomic folder write, model files (a cross-fitted model as its fold members) and the checks
// whose errors name manifest.json, the field and what was expected.
//
// The kinds: a single-surrogate policy writes no "kind" (folders saved before kinds existed are
// of that kind); a multi-expert one writes "kind": "experts". Each loader refuses the other's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/label_space.h"
#include "core/features/text_featurizer.h"
#include "core/model/classifier.h"

namespace deferbench {

// Version 2: manifest.json lists every file of the folder with its checksum ("files"), verified
// on load. Version 1 folders (no checksums) are refused with a message to save them again.
inline constexpr int kPolicyFormatVersion = 2;

// The largest feature width a manifest may declare (a bound, so a hostile one cannot make the
// router allocate without limit).
inline constexpr std::size_t kMaxFeatureDim = std::size_t(1) << 24;

// The kinds of artifact a "deferbench-policy" folder may hold ("" = no "kind" field).
inline constexpr const char* kStagesKind = "";
inline constexpr const char* kExpertsKind = "experts";

// A name a manifest may give a file of its folder: a plain file name, no path.
bool plain_file_name(const std::string& name);

// The recorded checksum of every file of the folder but manifest.json.
nlohmann::json checksums_of(const std::filesystem::path& dir);

// Writes a policy folder atomically: `fill` writes the files into a temporary folder beside DIR
// and returns the manifest; "files" (every file's checksum) is added, manifest.json written and
// the temporary folder renamed to DIR. `caller` names the function in the error for a DIR that
// exists and is not empty. On failure the temporary folder is removed.
void write_policy_folder(const std::filesystem::path& dir, const char* caller,
                         const std::function<nlohmann::json(const std::filesystem::path&)>& fill);

// The manifest's header fields: format, version, kind (when not kStagesKind), labels,
// feature_dim, features (text | embeddings; the featurizer saved as featurizer.bin in `tmp`)
// and info.
nlohmann::json manifest_header(const std::filesystem::path& tmp, const char* kind,
                               const TextFeaturizer* featurizer, const LabelSpace& labels,
                               std::size_t feature_dim, const nlohmann::json& info);

// Saves a model as DIR/<base>.bin, or a cross-fitted one (core/model/fold_average.h) as its
// members DIR/<base>_fold<m>.bin (m = 1, 2, …); returns what the manifest records: the file name
// or the list of them.
nlohmann::json save_model_files(const Classifier& model, const std::filesystem::path& dir,
                                const std::string& base);

// DIR/manifest.json parsed (errors: not found, malformed JSON).
nlohmann::json read_manifest(const std::filesystem::path& dir);

// A policy's manifest read and checked field by field: every error names manifest.json, the
// field and what was expected. The constructor checks format, version and kind, then verifies
// every file of "files" against its checksum (each must be a plain file of the folder) before
// any of them is read.
class ManifestReader {
 public:
  ManifestReader(const std::filesystem::path& dir, const nlohmann::json& m, const char* kind);

  [[noreturn]] void bad(const std::string& field, const std::string& msg) const;
  void check(bool ok, const std::string& field, const std::string& msg) const {
    if (!ok) bad(field, msg);
  }

  // A whole number in [lo, hi] (a float or a string is refused, not converted).
  std::int64_t whole(const nlohmann::json& j, const std::string& field, std::int64_t lo,
                     std::size_t hi) const;
  // A finite number in [lo, hi].
  double number(const nlohmann::json& j, const std::string& field, double lo, double hi) const;

  std::vector<std::string> labels() const;

  // The path of a file the manifest names in `field`: listed in "files" (so verified).
  std::filesystem::path file(const nlohmann::json& name, const std::string& field) const;

  // A model saved by save_model_files (a file name, or a non-empty list of them: their
  // FoldAverage). Every file's model must predict `classes` classes; otherwise the error names
  // the field (field[m] for a member) with mismatch(got).
  std::shared_ptr<const Classifier> model(
      const nlohmann::json& j, const std::string& field, std::size_t classes,
      const std::function<std::string(std::size_t got)>& mismatch) const;

  const std::filesystem::path& dir() const { return dir_; }

 private:
  void verify_files();

  std::filesystem::path dir_;
  std::string mf_;
  const nlohmann::json& m_;
  std::set<std::string> verified_;
};

// The header fields as load_policy and load_expert_policy read them.
struct ArtifactFeatures {
  std::shared_ptr<TextFeaturizer> featurizer;  // null: inputs must be embeddings
  std::shared_ptr<const LabelSpace> labels;
  std::size_t feature_dim = 0;
};
ArtifactFeatures read_artifact_features(const ManifestReader& r, const nlohmann::json& m);

}  // namespace deferbench
