// Multi-expert policy artifacts (core/experts/expert_policy.h): a deployed bayes_plugin or
// two_stage policy saved as a folder, and routing new traffic with it. The conventions are those
// of experiments/policy_io.h (experiments/artifact_files.h): the format and version, the
// checksums of every file verified on load, the atomic write, errors naming manifest.json, the
// field and what was expected.
//
//   DIR/manifest.json        format, version, "kind": "experts", labels, feature_dim, features,
//                            info, "files", and the policy: method, lambda, has_surrogate,
//                            surrogate (file name, a list of fold files, or null), rejector
//                            (two_stage) and choices: [{name, alpha, beta, estimator (file
//                            name, list, or null), constant_wrong (where estimator is null)}]
//   DIR/featurizer.bin       the text featurizer (when the policy was trained on text)
//   DIR/surrogate.bin, DIR/choice<j>_estimator.bin (j = 0-based choice), DIR/rejector.bin
//                            (a cross-fitted model: <base>_fold<m>.bin, m = 1, 2, …)
//
// load_policy (policy_io.h) refuses this folder, load_expert_policy a single-surrogate one, each
// naming the other loader.
#pragma once

#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

#include "core/data/label_space.h"
#include "core/experts/expert_policy.h"
#include "core/features/text_featurizer.h"
#include "experiments/policy_io.h"

namespace deferbench {

struct SavedExpertPolicy {
  ExpertPolicy policy;
  std::shared_ptr<TextFeaturizer> featurizer;  // null: inputs must be embeddings
  std::shared_ptr<const LabelSpace> labels;    // the surrogate's answers
  std::size_t feature_dim = 0;
  nlohmann::json manifest;
};

// Validates the policy (validate_expert_policy), checks that the surrogate predicts
// labels.size() classes, and writes the folder atomically (a temporary folder renamed at the
// end). `info` is stored in the manifest as is. DIR must not exist or be empty.
void save_expert_policy(const std::filesystem::path& dir, const ExpertPolicy& policy,
                        const TextFeaturizer* featurizer, const LabelSpace& labels,
                        std::size_t feature_dim, const nlohmann::json& info);

// Errors name manifest.json, the field and what was expected; every file the manifest names
// must be listed in its "files" with a matching checksum (a plain file of the folder); the
// surrogate must predict as many classes as there are labels, each estimator 2, the rejector
// one per choice. The loaded policy passes validate_expert_policy.
SavedExpertPolicy load_expert_policy(const std::filesystem::path& dir);

// Reads FILE as route_file does (JSONL traces, CSV with a text column, or .npy features; the
// policy's featurizer applied to texts), routes every row and returns one JSON line per row:
// {"id", "choice" (the choice's name), "label" (the surrogate's answer when the surrogate was
// chosen, else null)}. RoutedFile::handled counts the rows the surrogate answered.
RoutedFile route_expert_file(const SavedExpertPolicy& policy, const std::filesystem::path& input,
                             const RouteOptions& options, const Context& ctx);

}  // namespace deferbench
