// Hydra-style configuration: a root `config.yaml` whose `defaults:` list picks one option per
// config group (a folder of YAML files), composed in list order, then command-line overrides.
//
//   defaults:                # in config.yaml
//     - _self_               # where the root file's own keys merge (first: groups override it)
//     - dataset: synthetic   # merges dataset/synthetic.yaml under the key `dataset`
//     - experiment: synthetic
//
// A group file that starts with `# @package _global_` merges at the root instead; it may carry
// its own `defaults:` with `- override /GROUP: OPTION` entries (an experiment picking its data
// set). Overrides, as in Hydra:
//   GROUP=OPTION     choose a group option (wins over every defaults list)
//   key.path=VALUE   set an existing key; VALUE is typed by YAML (1 → int, [1,2] → list)
//   +key.path=VALUE  add a key that does not exist yet
//   ++key.path=VALUE set a key whether or not it exists
//   ~key.path        delete a key
// String values may interpolate other keys: "${dataset.name}" (a whole-value reference keeps
// the referenced node's type). Errors name the override or file and list the valid choices.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace deferbench {

struct ComposedConfig {
  YAML::Node config;                           // resolved: overrides applied, interpolated
  std::map<std::string, std::string> choices;  // group → option chosen
};

ComposedConfig compose_config(const std::filesystem::path& config_dir,
                              const std::vector<std::string>& overrides);

// The options of a group (file stems in config_dir/GROUP), sorted.
std::vector<std::string> group_options(const std::filesystem::path& config_dir,
                                       const std::string& group);

// Resolves every ${a.b} reference in string scalars of `root` in place; errors on unknown keys
// and on cycles.
void resolve_interpolations(YAML::Node& root);

// A deep copy of `node` with mapping keys in their original order.
YAML::Node clone(const YAML::Node& node);

// Renders a node as block-style YAML text (for --cfg and the saved config.yaml).
std::string to_yaml_text(const YAML::Node& node);

}  // namespace deferbench
