// Every registered model's parameters through its one table (core/model/params.h): YAML →
// params → model file → params gives back what the YAML said, each field rejects a wrong type
// or an out-of-range value naming its key, and the one model file header refuses a file of
// another format version or of another model with a one-line error.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/data/binary_io.h"
#include "core/model/model_file.h"
#include "core/model/params.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"
#include "models/dense/logreg.h"
#include "models/registry.h"
#include "models/trees/gbt.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

using testing::error_of;
using ::testing::HasSubstr;
using ::testing::Not;

// Two separable blobs in 4-d over a 3-class label space.
Dataset blobs(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0.0f, 0.3f);
  Dataset d;
  d.labels = std::make_shared<LabelSpace>(std::vector<std::string>{"a", "b", "c"});
  d.features = Matrix(n, 4);
  for (std::size_t i = 0; i < n; ++i) {
    const int c = static_cast<int>(i % 2);
    for (std::size_t j = 0; j < 4; ++j)
      d.features(i, j) = noise(rng) + (static_cast<int>(j % 2) == c ? 2.0f : 0.0f);
    d.teacher.push_back(c == 0 ? 0 : 2);
  }
  return d;
}

// Per model: a value other than the default for every parameter (small sizes so that a fit is
// quick), written as the table writes values. A model missing here gets generated values.
const std::map<std::string, std::string>& non_defaults() {
  static const std::map<std::string, std::string> m = {
      {"logreg",
       "{C: 3.5, solver: adam, max_iter: 7, tol: 0.001, standardize: false, batch_rows: 33, "
       "lr: 0.05, batch_size: 17, max_epochs: 3, patience: 2, precision: bf16, warm_tol: 0.002}"},
      {"mlp_1h",
       "{hidden: [5], activation: tanh, alpha: 0.01, lr: 0.002, batch_size: 19, max_epochs: 2, "
       "patience: 1, warm_patience: 3, tol: 0.0005, standardize: true, batch_rows: 41, "
       "precision: bf16}"},
      {"mlp_2h",
       "{hidden: [6, 3], activation: logistic, alpha: 0, lr: 0.003, batch_size: 23, "
       "max_epochs: 2, patience: 0, warm_patience: 0, tol: 0.25, standardize: true, "
       "batch_rows: 7, precision: bf16}"},
      {"dt",
       "{criterion: entropy, max_depth: 3, min_samples_split: 4, min_samples_leaf: 2, "
       "max_features: 0.75, max_bins: 17}"},
      {"rf",
       "{criterion: entropy, max_depth: 4, min_samples_split: 3, min_samples_leaf: 2, "
       "max_features: 2, max_bins: 31, n_trees: 3, bootstrap: false, warm_trees: 2}"},
      {"et",
       "{criterion: entropy, max_depth: 5, min_samples_split: 5, min_samples_leaf: 3, "
       "max_features: log2, max_bins: 9, n_trees: 2, bootstrap: true, warm_trees: 1}"},
      {"gbt",
       "{n_rounds: 3, learning_rate: 0.25, max_depth: 2, subsample: 0.5, min_samples_leaf: 2, "
       "l2: 0.5, min_child_weight: 0.01, max_bins: 15, early_stopping_rounds: 2, "
       "warm_rounds: 4, warm_max_rounds: 9}"},
      {"xgb",
       "{n_rounds: 3, max_depth: 2, eta: 0.2, subsample: 0.75, max_bin: 32, "
       "early_stopping_rounds: 1, lambda: 2.5, warm_rounds: 3, "
       "extra: {colsample_bytree: 0.5}, warm_max_rounds: 7}"},
  };
  return m;
}

std::map<std::string, std::string> values(const std::vector<ParamInfo>& params) {
  std::map<std::string, std::string> out;
  for (const ParamInfo& p : params) out[p.name] = p.value;
  return out;
}

class ModelParams : public ::testing::TestWithParam<std::string> {
 protected:
  // The registry's defaults; empty for a model this build lacks (xgb without XGBoost).
  std::vector<ParamInfo> defaults() const { return builtin_models().params(GetParam()); }
  YAML::Node spec(const std::string& params) const {
    YAML::Node s = YAML::Load(params);
    s["name"] = GetParam();
    return s;
  }
};

// For a model without an entry in non_defaults(): each parameter of a plain kind set to a value
// other than its default, the smallest the table accepts where possible (small is quick).
std::string generated_non_defaults(const std::vector<ParamInfo>& defaults) {
  YAML::Node out(YAML::NodeType::Map);
  for (const ParamInfo& p : defaults) {
    const auto bounds = [&p] {
      const std::size_t comma = p.accepts.find(", ");
      return std::make_pair(p.accepts.substr(1, comma - 1),
                            p.accepts.substr(comma + 2, p.accepts.size() - comma - 3));
    };
    if (p.kind == "int" || p.kind == "number") {
      const auto [min, max] = bounds();
      const double lo = std::stod(min);
      const std::string next = p.kind == "int" ? fmt::format("{:.0f}", lo + 1) : max;
      out[p.name] = p.value != min ? min : next;
    } else if (p.kind == "bool") {
      out[p.name] = p.value == "true" ? "false" : "true";
    } else if (p.kind == "choice") {
      const std::string first = p.accepts.substr(0, p.accepts.find(" | "));
      const std::string second = p.accepts.substr(p.accepts.find(" | ") + 3);
      out[p.name] = p.value != first ? first : second.substr(0, second.find(" | "));
    }
  }
  YAML::Emitter text;
  text << YAML::Flow << out;
  return text.c_str();
}

TEST_P(ModelParams, YamlToParamsToFileAndBackIsWhatTheYamlSaid) {
  const std::vector<ParamInfo> defaults = this->defaults();
  if (defaults.empty()) GTEST_SKIP() << GetParam() << " is not available in this build";
  const bool listed = non_defaults().count(GetParam()) == 1;
  const std::string params =
      listed ? non_defaults().at(GetParam()) : generated_non_defaults(defaults);
  const YAML::Node overrides = YAML::Load(params);
  // Expected: the defaults, with every parameter given replaced by its new value.
  std::map<std::string, std::string> expected = values(defaults);
  if (listed) EXPECT_EQ(overrides.size(), expected.size()) << "every parameter gets a new value";
  for (const auto& kv : overrides) {
    const std::string key = kv.first.Scalar();
    ASSERT_EQ(expected.count(key), 1u) << key;
    YAML::Emitter text;
    text << YAML::Flow << kv.second;
    EXPECT_NE(expected[key], text.c_str()) << key << " must differ from its default";
    expected[key] = text.c_str();
  }
  auto model = builtin_models().make(spec(params), "model");
  EXPECT_EQ(values(builtin_models().params_of(*model)), expected);

  const Context ctx{Device::kCpu, 3, 1};
  const Dataset train = blobs(80, 1), val = blobs(30, 2);
  model->fit(train, &val, ctx);
  testing::TempDir dir;
  model->save(dir / "m.bin");
  auto loaded = builtin_models().load(dir / "m.bin");
  EXPECT_EQ(loaded->name(), GetParam());
  EXPECT_EQ(values(builtin_models().params_of(*loaded)), expected);
  EXPECT_EQ(loaded->predict_proba(val.features, ctx).values(),
            model->predict_proba(val.features, ctx).values());
}

TEST_P(ModelParams, DefaultsReadBackFromTheirListing) {
  const std::vector<ParamInfo> defaults = this->defaults();
  if (defaults.empty()) GTEST_SKIP() << GetParam() << " is not available in this build";
  // The listing, as a config mapping, builds the model with exactly those values.
  YAML::Node s = params_to_yaml(defaults);
  s["name"] = GetParam();
  auto model = builtin_models().make(s, "model");
  EXPECT_EQ(values(builtin_models().params_of(*model)), values(defaults));
  for (const ParamInfo& p : defaults) {
    EXPECT_FALSE(p.kind.empty()) << p.name;
    EXPECT_FALSE(p.accepts.empty()) << p.name;
    EXPECT_FALSE(p.doc.empty()) << p.name;
  }
}

TEST_P(ModelParams, UnknownKeyWrongTypeAndOutOfRangeNameTheKey) {
  const std::vector<ParamInfo> defaults = this->defaults();
  if (defaults.empty()) GTEST_SKIP() << GetParam() << " is not available in this build";
  auto make = [&](const std::string& params) {
    return [this, params] { builtin_models().make(spec(params), "model"); };
  };
  std::string e = error_of(make("{no_such_key: 1}"));
  EXPECT_THAT(e, HasSubstr("'model.no_such_key' does not exist"));
  EXPECT_THAT(e, HasSubstr(defaults.front().name));
  for (const ParamInfo& p : defaults) {
    const std::string key = "'model." + p.name;
    // A mapping is the wrong type for every parameter but a mapping one.
    if (p.kind != "mapping") {
      e = error_of(make("{" + p.name + ": {a: 1}}"));
      EXPECT_THAT(e, HasSubstr(key)) << p.name;
      EXPECT_THAT(e, Not(HasSubstr("\n"))) << p.name;
    }
    if (p.kind == "int" || p.kind == "number" || p.kind == "bool" || p.kind == "choice") {
      e = error_of(make("{" + p.name + ": not_a_value}"));
      EXPECT_THAT(e, HasSubstr(key)) << p.name;
      EXPECT_THAT(e, HasSubstr("not_a_value")) << p.name;
    }
    if (p.kind == "int" || p.kind == "number") {
      // accepts is "[min, max]": one above the maximum is out of range.
      const std::string max = p.accepts.substr(p.accepts.find(", ") + 2);
      const double above = std::stod(max.substr(0, max.size() - 1)) + 1;
      e = error_of(make(
          fmt::format("{{{}: {}}}", p.name,
                      p.kind == "int" ? fmt::format("{:.0f}", above) : fmt::format("{}", above))));
      EXPECT_THAT(e, HasSubstr(key)) << p.name;
      EXPECT_THAT(e, HasSubstr("out of range")) << p.name;
      EXPECT_THAT(e, HasSubstr(p.accepts)) << p.name;
    }
  }
}

std::string param_name(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

INSTANTIATE_TEST_SUITE_P(EveryRegisteredModel, ModelParams,
                         ::testing::ValuesIn(builtin_models().names()), param_name);

// ---- the file header --------------------------------------------------------------------------

// A fitted gbt saved in dir / "gbt.bin"; returns the file's bytes.
std::string saved_gbt(const testing::TempDir& dir) {
  auto model = builtin_models().make(YAML::Load("{name: gbt, n_rounds: 2}"), "model");
  const Dataset train = blobs(60, 4);
  model->fit(train, nullptr, Context{Device::kCpu, 1, 1});
  model->save(dir / "gbt.bin");
  return read_file(dir / "gbt.bin");
}

// The header's bytes: u64 length, the magic tag, u32 version, u64 length, the name.
constexpr std::size_t kVersionAt = 8 + 16;
constexpr std::size_t kNameAt = kVersionAt + 4;

TEST(ModelFile, HeaderIsMagicVersionAndName) {
  testing::TempDir dir;
  const std::string bytes = saved_gbt(dir);
  std::istringstream in(bytes);
  BinaryReader r(in, "gbt.bin");
  EXPECT_EQ(read_model_header(r), "gbt");
  EXPECT_EQ(bytes.substr(8, 16), kModelFileMagic);
  std::uint32_t version = 0;
  std::memcpy(&version, bytes.data() + kVersionAt, 4);
  EXPECT_EQ(version, kModelFileVersion);
}

TEST(ModelFile, AnotherFormatVersionIsAOneLineError) {
  testing::TempDir dir;
  std::string bytes = saved_gbt(dir);
  for (std::uint32_t version : {kModelFileVersion + 1, 1u}) {
    std::memcpy(bytes.data() + kVersionAt, &version, 4);
    const auto file = dir.write("other_version.bin", bytes);
    const std::string e = error_of([&] { builtin_models().load(file); });
    EXPECT_THAT(e, HasSubstr("other_version.bin"));
    EXPECT_THAT(e, HasSubstr(fmt::format("format version {}", version)));
    EXPECT_THAT(e, HasSubstr(fmt::format("reads version {}", kModelFileVersion)));
    EXPECT_THAT(e, Not(HasSubstr("\n")));
  }
}

TEST(ModelFile, AnotherModelsNameIsAOneLineError) {
  testing::TempDir dir;
  const std::string bytes = saved_gbt(dir);
  // The same file with the header naming logreg (a length-prefixed string: rebuilt, not patched).
  std::ostringstream out;
  BinaryWriter w(out);
  write_model_header(w, "logreg");
  const std::size_t body = kNameAt + 8 + 3;  // after "gbt"
  const auto file = dir.write("renamed.bin", out.str() + bytes.substr(body));
  const std::string e = error_of([&] { builtin_models().load(file); });
  EXPECT_THAT(e, HasSubstr("renamed.bin"));
  EXPECT_THAT(e, HasSubstr("logreg model file"));
  EXPECT_THAT(e, HasSubstr("another model"));
  EXPECT_THAT(e, Not(HasSubstr("\n")));
}

// warm_tol came after the logreg files of tests/fuzz (saved before it existed): such a file
// still loads, with warm_tol at its default, and routes as the file says (its other parameters
// read); a file with fewer parameters than the required ones is a one-line error.
TEST(ModelFile, ALogRegFileFromBeforeWarmTolLoadsWithTheDefault) {
  const std::filesystem::path old =
      std::filesystem::path(DEFERBENCH_ROOT) / "tests" / "fuzz" / "corpus" / "model" / "logreg.bin";
  std::ifstream in(old, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(bytes.find("warm_tol"), std::string::npos);
  ASSERT_NE(bytes.find("precision"), std::string::npos);
  const std::unique_ptr<Classifier> m = builtin_models().load(old);
  const auto* lr = dynamic_cast<const LogReg*>(m.get());
  ASSERT_NE(lr, nullptr);
  EXPECT_EQ(lr->params().warm_tol, LogRegParams{}.warm_tol);
  // Saved again, the file has warm_tol and reads back to the same parameters.
  testing::TempDir dir;
  const auto again = dir.path() / "again.bin";
  m->save(again);
  const std::unique_ptr<Classifier> m2 = builtin_models().load(again);
  EXPECT_TRUE(
      same_params(LogRegParams::table(), lr->params(), dynamic_cast<const LogReg&>(*m2).params()));
  // The parameter count lowered below the required ones: an error naming the range.
  const std::size_t count_at = kNameAt + 8 + std::string("logreg").size();  // after the name
  std::uint32_t count = 0;
  std::memcpy(&count, bytes.data() + count_at, 4);
  ASSERT_EQ(count, LogRegParams::table().fields().size() - 1);
  std::string fewer = bytes;
  count -= 1;
  std::memcpy(fewer.data() + count_at, &count, 4);
  const auto file = dir.write("fewer.bin", fewer);
  const std::string e = error_of([&] { builtin_models().load(file); });
  EXPECT_THAT(e, AllOf(HasSubstr("fewer.bin"), HasSubstr("parameters"), HasSubstr("11 to 12"),
                       Not(HasSubstr("\n"))));
}

// Likewise gbt's warm_max_rounds: the fuzz seed gbt.bin (saved before it) loads with the default.
TEST(ModelFile, AGbtFileFromBeforeWarmMaxRoundsLoadsWithTheDefault) {
  const std::filesystem::path old =
      std::filesystem::path(DEFERBENCH_ROOT) / "tests" / "fuzz" / "corpus" / "model" / "gbt.bin";
  std::ifstream in(old, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(bytes.find("warm_max_rounds"), std::string::npos);
  ASSERT_NE(bytes.find("warm_rounds"), std::string::npos);
  const std::unique_ptr<Classifier> m = builtin_models().load(old);
  const auto* gbt = dynamic_cast<const GbtClassifier*>(m.get());
  ASSERT_NE(gbt, nullptr);
  EXPECT_EQ(gbt->params().warm_max_rounds, GbtParams{}.warm_max_rounds);
}

TEST(ModelFile, BytesAfterTheModelAreAnError) {
  testing::TempDir dir;
  const std::string bytes = saved_gbt(dir);
  const auto file = dir.write("longer.bin", bytes + "x");
  EXPECT_THAT(error_of([&] { builtin_models().load(file); }),
              AllOf(HasSubstr("longer.bin"), HasSubstr("after the end")));
}

TEST(ModelFile, AParameterOutsideItsRangeInAFileIsAnError) {
  testing::TempDir dir;
  std::string bytes = saved_gbt(dir);
  // The first parameter (n_rounds, an int64 after the count and its name) set to 0.
  const std::size_t first = kNameAt + 8 + 3 + 4 + 8 + std::string("n_rounds").size();
  std::int64_t value = 0;
  std::memcpy(&value, bytes.data() + first, 8);
  ASSERT_EQ(value, 2);
  value = 0;
  std::memcpy(bytes.data() + first, &value, 8);
  const auto file = dir.write("zero_rounds.bin", bytes);
  EXPECT_THAT(error_of([&] { builtin_models().load(file); }),
              AllOf(HasSubstr("zero_rounds.bin"), HasSubstr("n_rounds"), HasSubstr("[1, 100000]")));
}

}  // namespace
}  // namespace deferbench
