// Policy artifacts: a deployed routing policy saved as a folder, and routing new traffic with it.
//
//   DIR/manifest.json          format, version, label space, features, stages (model files,
//                              thresholds, kNN settings), the run's metrics and config, and
//                              "files": every other file's name and XXH3-128 checksum
//   DIR/featurizer.bin         the text featurizer (when the policy was trained on text)
//   DIR/stage<k>_surrogate.bin, stage<k>_acceptor.bin, stage<k>_neighbours.{npy,bin}
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/dataset.h"
#include "core/data/label_space.h"
#include "core/features/text_featurizer.h"
#include "core/routing/policy.h"
#include "experiments/artifact_files.h"

namespace deferbench {

struct SavedPolicy {
  std::vector<Stage> stages;                   // empty: every query goes to the teacher
  std::shared_ptr<TextFeaturizer> featurizer;  // null: inputs must be embeddings
  std::shared_ptr<const LabelSpace> labels;
  std::size_t feature_dim = 0;
  nlohmann::json manifest;
};

// The format version (kPolicyFormatVersion) and the checks shared with the multi-expert
// artifact: experiments/artifact_files.h. A folder of another kind ("kind": "experts") is
// refused with a message naming its loader.

// Writes the folder atomically (a temporary folder renamed at the end). `info` is stored in the
// manifest as is (family, model, target, metrics, config). DIR must not exist or be empty.
void save_policy(const std::filesystem::path& dir, const std::vector<Stage>& stages,
                 const TextFeaturizer* featurizer, const LabelSpace& labels,
                 std::size_t feature_dim, const nlohmann::json& info);

// Errors name manifest.json, the field and what was expected. Every file the manifest names must
// be listed in its "files" with a matching checksum, be a plain file name of the folder and no
// link leading out of it; each model's class count must match the labels, each size the
// feature width. A checksum detects damage and edits; it is not a signature.
SavedPolicy load_policy(const std::filesystem::path& dir);

struct RouteOptions {
  std::string format = "auto";       // auto (from the extension) | jsonl | csv | npy
  std::string text_column = "text";  // csv
  std::string id_column;             // csv ("" = none: ids are <file>:<line>)
  char delimiter = ',';
  // Read by `deferbench audit`, which needs the teacher's answers (CSV columns; JSONL traces
  // carry them as `teacher`, `gold`, `metadata.timestamp`, `metadata.slice`).
  std::string teacher_column = "teacher";
  std::string gold_column, time_column, slice_column;  // "" = none
  std::vector<std::string> fields;  // metadata keys (JSONL) or columns (CSV) to slice by
};

// Traffic read for a saved policy: the rows and their features (the policy's featurizer applied
// to the texts, or the embeddings). `require_teacher`: every row must carry the teacher's answer
// (JSONL or CSV only), as the audit needs.
struct Traffic {
  Traces traces;
  Matrix x;
};
Traffic read_traffic(const SavedPolicy& policy, const std::filesystem::path& input,
                     const RouteOptions& options, const Context& ctx, bool require_teacher);
// The same for any policy artifact: its featurizer (null: the inputs must be embeddings) and its
// feature width.
Traffic read_traffic(const TextFeaturizer* featurizer, std::size_t feature_dim,
                     const std::filesystem::path& input, const RouteOptions& options,
                     const Context& ctx, bool require_teacher);

// Reads FILE (JSONL traces without teacher, CSV with a text column, or .npy features), routes
// every row and returns one JSON line per row: {"id", "label" (null when deferred), "decision"
// ("handled" | "deferred"), "accept_score", "stage" (1-based, null when deferred)}. On a CUDA
// context the whole policy runs on the GPU (models/torch/device_policy.h) when every model in it
// has a device form.
struct RoutedFile {
  std::string lines;        // one JSON line per input row
  std::size_t rows = 0;     // input rows
  std::size_t handled = 0;  // rows the surrogate answered
};
RoutedFile route_file(const SavedPolicy& policy, const std::filesystem::path& input,
                      const RouteOptions& options, const Context& ctx);

// A threshold as JSON: the number, or "+inf" / "-inf" (JSON has no infinity).
nlohmann::json threshold_json(double v);

}  // namespace deferbench
