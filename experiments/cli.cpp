#include "experiments/cli.h"

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "core/config/compose.h"
#include "experiments/run.h"

namespace deferbench {
namespace fs = std::filesystem;

namespace {

fs::path project_root() {
  if (const char* env = std::getenv("DEFERBENCH_ROOT")) return env;
  return DEFERBENCH_ROOT;
}

}  // namespace

int cli_main(int argc, char** argv) {
  CLI::App app{
      "deferbench: learn to defer — a cheap surrogate answers what it can, with a "
      "teacher-agreement target, and defers the rest to the expensive teacher"};
  app.set_version_flag("--version", std::string("deferbench ") + DEFERBENCH_VERSION);
  app.require_subcommand(0, 1);

  std::vector<std::string> overrides;
  bool print_cfg = false, quiet = false, verbose = false;
  std::string config_dir;
  CLI::App* run = app.add_subcommand("run", "Run an experiment (default: experiment=synthetic)");
  run->add_option("overrides", overrides,
                  "Hydra-style overrides: GROUP=OPTION, key=value, +key=value, ~key");
  run->add_flag("--cfg", print_cfg, "Print the composed config and exit");
  run->add_option("--config-dir", config_dir,
                  "Config folder (default: experiments/configs of the source tree)");
  run->add_flag("-q,--quiet", quiet, "No summary and no log lines, errors only");
  run->add_flag("-v,--verbose", verbose, "Debug log lines");

  std::vector<std::string> feat_overrides;
  std::string feat_out;
  CLI::App* featurize = app.add_subcommand(
      "featurize", "Write the features of every row (featurizer fitted on train) to a folder");
  featurize->add_option("overrides", feat_overrides, "Overrides, as for run");
  featurize->add_option("-o,--out", feat_out, "Output folder (must not exist or be empty)")
      ->required();
  featurize->add_option("--config-dir", config_dir, "Config folder");
  featurize->add_flag("-q,--quiet", quiet, "No summary and no log lines, errors only");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (app.get_subcommands().empty()) {
    fmt::print("{}", app.help());
    return 0;
  }

  spdlog::set_pattern("[%H:%M:%S] %v");
  spdlog::set_level(quiet ? spdlog::level::warn
                          : (verbose ? spdlog::level::debug : spdlog::level::info));
  const fs::path root = project_root();
  const fs::path dir = config_dir.empty() ? root / "experiments" / "configs" : fs::path(config_dir);
  if (featurize->parsed()) {
    RunOptions options;
    options.project_root = root;
    options.quiet = quiet;
    featurize_to(compose_config(dir, feat_overrides).config, options, feat_out);
    return 0;
  }
  ComposedConfig composed = compose_config(dir, overrides);
  if (print_cfg) {
    fmt::print("{}", to_yaml_text(composed.config));
    return 0;
  }
  RunOptions options;
  options.project_root = root;
  options.quiet = quiet;
  run_experiment(composed.config, options);
  return 0;
}

}  // namespace deferbench
