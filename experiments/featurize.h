// `deferbench featurize`: a run's prepared features, exported for other tools.
#pragma once

#include <filesystem>

#include <yaml-cpp/yaml.h>

#include "experiments/run_settings.h"

namespace deferbench {

// Writes the features of every row (text featurizer fitted on the train split only) for other
// tools: OUT/features.npy (float32, rows ordered train, val, cal, test), OUT/labels.csv
// (row, id, split, teacher_id, gold_id, teacher, gold) and OUT/config.yaml. OUT must not exist
// or be empty. Returns OUT.
std::filesystem::path featurize_to(const YAML::Node& config, const RunOptions& options,
                                   const std::filesystem::path& out);

}  // namespace deferbench
