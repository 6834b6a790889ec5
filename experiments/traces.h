// The `dataset` section of a config, read: the dispatch to the trace readers of core/data
// (synthetic, csv, jsonl, json_pairs) with each reader's own section validated.
#pragma once

#include <cstdint>
#include <filesystem>

#include <yaml-cpp/yaml.h>

#include "core/data/dataset.h"

namespace deferbench {

// Reads the traces the `dataset` section names (synthetic, csv, jsonl or json_pairs; relative
// file paths and patterns against data_dir). A missing file is an error naming it.
Traces load_traces(const YAML::Node& dataset, const std::filesystem::path& data_dir,
                   std::uint64_t seed);

}  // namespace deferbench
