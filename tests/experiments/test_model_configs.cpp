// Every model config in experiments/configs/model is a valid spec for the registry, names a
// registered model, and sets only keys that model knows (a typo would fail here, not mid-run).
#include <filesystem>
#include <map>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "core/config/compose.h"
#include "core/util/error.h"
#include "models/registry.h"

namespace deferbench {
namespace {

TEST(ModelConfigs, EveryConfigBuildsItsModel) {
  const std::filesystem::path dir =
      std::filesystem::path(DEFERBENCH_ROOT) / "experiments" / "configs";
  const auto options = group_options(dir, "model");
  ASSERT_GE(options.size(), 9u);
  for (const std::string& option : options) {
    const YAML::Node spec = compose_config(dir, {"model=" + option}).config["model"];
    const std::string name = spec["name"].as<std::string>();
    EXPECT_TRUE(builtin_models().contains(name)) << option;
    try {
      auto model = builtin_models().make(spec, "model");
      EXPECT_EQ(model->name(), name) << option;
    } catch (const Error& e) {
      // Only a model this build lacks may fail, and it must say how to get it.
      EXPECT_EQ(name, "xgb") << option << ": " << e.what();
    }
  }
}

// A config named after a registered model (model=gbt) holds that model's defaults: the parameters
// it sets equal the registry's listing (the tables are the one source; the files document them).
TEST(ModelConfigs, AConfigNamedAfterAModelHoldsItsDefaults) {
  const std::filesystem::path dir =
      std::filesystem::path(DEFERBENCH_ROOT) / "experiments" / "configs";
  int checked = 0;
  for (const std::string& option : group_options(dir, "model")) {
    if (!builtin_models().contains(option)) continue;  // a variant (logreg_c10)
    const std::vector<ParamInfo> defaults = builtin_models().params(option);
    if (defaults.empty()) continue;  // a model this build lacks
    const YAML::Node spec = compose_config(dir, {"model=" + option}).config["model"];
    auto model = builtin_models().make(spec, "model");
    std::map<std::string, std::string> got, want;
    for (const ParamInfo& p : builtin_models().params_of(*model)) got[p.name] = p.value;
    for (const ParamInfo& p : defaults) want[p.name] = p.value;
    EXPECT_EQ(got, want) << option;
    ++checked;
  }
  EXPECT_GE(checked, 7);
}

}  // namespace
}  // namespace deferbench
