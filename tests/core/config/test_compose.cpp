#include "core/config/compose.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/config/fields.h"
#include "core/util/error.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

// A small config tree: root with defaults, two groups, one _global_ experiment.
class ComposeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.write("config.yaml",
               "defaults:\n  - _self_\n  - dataset: a\n  - model: m1\n  - experiment: base\n"
               "name: root\nseed: 0\nthreads: 2\nrouting:\n  target: 0.9\n  mode: empirical\n"
               "label: \"${name}-${seed}\"\ncopy: ${routing}\n");
    dir_.write("dataset/a.yaml", "name: a\nrows: 10\n");
    dir_.write("dataset/b.yaml", "name: b\nrows: 20\nfiles: [x.csv]\n");
    dir_.write("model/m1.yaml", "name: m1\nC: 1.0\n");
    dir_.write("model/m2.yaml", "name: m2\nC: 10\n");
    dir_.write("experiment/base.yaml", "# @package _global_\nname: base\n");
    dir_.write("experiment/on_b.yaml",
               "# @package _global_\ndefaults:\n  - override /dataset: b\nname: on_b\n"
               "routing:\n  target: 0.8\n");
  }
  ComposedConfig compose(const std::vector<std::string>& overrides) {
    return compose_config(dir_.path(), overrides);
  }
  std::string error_of(const std::vector<std::string>& overrides) {
    try {
      compose(overrides);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  }
  TempDir dir_;
};

TEST_F(ComposeTest, DefaultsListMergesGroupsUnderTheirKeys) {
  auto c = compose({});
  EXPECT_EQ(c.config["dataset"]["name"].as<std::string>(), "a");
  EXPECT_EQ(c.config["model"]["C"].as<double>(), 1.0);
  EXPECT_EQ(c.config["name"].as<std::string>(), "base");  // _global_ experiment overrides root
  EXPECT_FALSE(c.config["defaults"]);
  EXPECT_EQ(c.choices.at("dataset"), "a");
  EXPECT_EQ(c.choices.at("experiment"), "base");
}

TEST_F(ComposeTest, GroupOverrideAndExperimentDefaults) {
  auto c = compose({"model=m2"});
  EXPECT_EQ(c.config["model"]["name"].as<std::string>(), "m2");
  EXPECT_EQ(c.config["model"]["C"].as<int>(), 10);

  auto e = compose({"experiment=on_b"});
  EXPECT_EQ(e.config["dataset"]["name"].as<std::string>(), "b");  // experiment's override
  EXPECT_EQ(e.config["routing"]["target"].as<double>(), 0.8);
  EXPECT_EQ(e.config["routing"]["mode"].as<std::string>(), "empirical");  // deep merge kept it

  // The command line wins over the experiment's own choice.
  auto f = compose({"experiment=on_b", "dataset=a"});
  EXPECT_EQ(f.config["dataset"]["name"].as<std::string>(), "a");
}

TEST_F(ComposeTest, ValueOverridesAreTypedByYaml) {
  auto c = compose(
      {"seed=7", "routing.target=0.95", "+extra.list=[1, 2]", "++threads=4", "~routing.mode"});
  EXPECT_EQ(c.config["seed"].as<int>(), 7);
  EXPECT_DOUBLE_EQ(c.config["routing"]["target"].as<double>(), 0.95);
  ASSERT_TRUE(c.config["extra"]["list"].IsSequence());
  EXPECT_EQ(c.config["extra"]["list"][1].as<int>(), 2);
  EXPECT_EQ(c.config["threads"].as<int>(), 4);
  EXPECT_FALSE(c.config["routing"]["mode"]);
}

TEST_F(ComposeTest, InterpolationResolvesAfterOverrides) {
  auto c = compose({"seed=3"});
  EXPECT_EQ(c.config["label"].as<std::string>(), "base-3");
  ASSERT_TRUE(c.config["copy"].IsMap());  // a whole-value reference keeps the node's type
  EXPECT_DOUBLE_EQ(c.config["copy"]["target"].as<double>(), 0.9);
}

TEST_F(ComposeTest, ErrorsNameTheOverrideAndListChoices) {
  EXPECT_THAT(error_of({"dataset=zzz"}),
              AllOf(HasSubstr("override 'dataset=zzz'"), HasSubstr("valid options: a, b")));
  EXPECT_THAT(error_of({"routing.tagret=0.5"}),
              AllOf(HasSubstr("'routing.tagret' does not exist"), HasSubstr("target, mode")));
  EXPECT_THAT(error_of({"+seed=1"}), HasSubstr("already exists"));
  EXPECT_THAT(error_of({"~nothing"}), HasSubstr("does not exist"));
  EXPECT_THAT(error_of({"seed=abc"}), AllOf(HasSubstr("type mismatch for 'seed'"),
                                            HasSubstr("a number"), HasSubstr("a string")));
  EXPECT_THAT(error_of({"routing=3"}), HasSubstr("type mismatch"));
  EXPECT_THAT(error_of({"justakey"}), HasSubstr("expected KEY=VALUE"));
}

TEST_F(ComposeTest, InterpolationCycleAndMissingKeyAreErrors) {
  dir_.write("dataset/a.yaml", "name: ${dataset.rows}\nrows: ${dataset.name}\n");
  EXPECT_THAT(error_of({}), HasSubstr("cycle"));
  dir_.write("dataset/a.yaml", "name: ${nope.key}\n");
  EXPECT_THAT(error_of({}), HasSubstr("'${nope.key}' refers to a key that does not exist"));
}

TEST_F(ComposeTest, YamlSyntaxErrorNamesFileAndLine) {
  dir_.write("model/m1.yaml", "name: m1\nC: [1, 2\n");
  std::string msg = error_of({});
  EXPECT_THAT(msg, HasSubstr("model/m1.yaml:"));
  EXPECT_THAT(msg, HasSubstr("YAML syntax error"));
}

TEST_F(ComposeTest, RenderedYamlRoundTrips) {
  dir_.write("dataset/a.yaml", "name: a\nno_answer: [\"77\", 78]\n");
  auto c = compose({});
  YAML::Node back = YAML::Load(to_yaml_text(c.config));
  EXPECT_EQ(to_yaml_text(back), to_yaml_text(c.config));
  EXPECT_EQ(back["dataset"]["no_answer"][0].Tag(), "!");  // "77" stays a quoted string
}

TEST(FieldReader, RejectsUnknownKeysListingValidOnes) {
  YAML::Node n = YAML::Load("C: 2\nmax_itr: 5\n");
  FieldReader r(n, "model");
  EXPECT_EQ(r.get_double("C", 1.0, 0.0, 10.0), 2.0);
  EXPECT_EQ(r.get_int("max_iter", 100, 1, 1000), 100);
  try {
    r.finish();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("'model.max_itr' does not exist"));
    EXPECT_THAT(e.what(), HasSubstr("C, max_iter"));
  }
}

TEST(FieldReader, RangeAndTypeErrorsNameKeyValueAndRange) {
  YAML::Node n = YAML::Load("C: -1\nk: 2.5\nflag: maybe\nmode: z\n");
  FieldReader r(n, "model");
  EXPECT_THAT([&] { r.get_double("C", 1.0, 0.0, 10.0); },
              ::testing::ThrowsMessage<Error>(
                  AllOf(HasSubstr("'model.C'"), HasSubstr("-1"), HasSubstr("[0, 10]"))));
  EXPECT_THAT([&] { r.get_int("k", 1, 1, 9); },
              ::testing::ThrowsMessage<Error>(AllOf(HasSubstr("an integer"), HasSubstr("2.5"))));
  EXPECT_THAT([&] { r.get_bool("flag", true); },
              ::testing::ThrowsMessage<Error>(HasSubstr("true or false")));
  EXPECT_THAT(
      [&] {
        r.get_choice("mode", "a", {"a", "b"});
      },
      ::testing::ThrowsMessage<Error>(HasSubstr("one of a, b")));
}

TEST(RepoConfigs, BankingExperimentPicksItsDatasetAndTeacher) {
  auto c = compose_config(std::filesystem::path(DEFERBENCH_ROOT) / "experiments" / "configs",
                          {"experiment=banking77_llm"});
  EXPECT_EQ(c.config["name"].as<std::string>(), "banking77_llm");
  EXPECT_EQ(c.config["dataset"]["csv"]["teacher_column"].as<std::string>(), "gpt-label");
  EXPECT_EQ(c.config["model"]["name"].as<std::string>(), "logreg");
  auto d = compose_config(std::filesystem::path(DEFERBENCH_ROOT) / "experiments" / "configs", {});
  EXPECT_EQ(d.config["name"].as<std::string>(), "synthetic");
  EXPECT_EQ(d.config["dataset"]["format"].as<std::string>(), "synthetic");
}

TEST_F(ComposeTest, NulBytesInGroupOrOptionNamesAreErrors) {
  // Found by tests/fuzz/fuzz_overrides: a name holding a NUL byte reached the file system as
  // the part before it (the config folder itself), and reading that folder as YAML threw
  // std::ios_base::failure instead of a deferbench::Error.
  EXPECT_THAT(error_of({std::string("\0\0++c=1", 7)}), HasSubstr("does not exist"));
  EXPECT_THAT(error_of({std::string("dataset=\0", 9)}), HasSubstr("unknown option"));
  EXPECT_THAT(error_of({std::string("dataset=a\0b", 11)}), HasSubstr("unknown option"));
}

TEST_F(ComposeTest, HugeOverridesAreQuotedShortInErrors) {
  // Bounded whatever the input's size: the override, its key and the valid keys.
  const std::string big(5u << 20, 'k');
  std::string message = error_of({big + "=1"});  // no such key
  EXPECT_LT(message.size(), 400u) << message.substr(0, 1000);
  EXPECT_THAT(message, AllOf(HasSubstr("override 'kkk"), HasSubstr("…"),
                             HasSubstr("does not exist"), HasSubstr("name, seed")));
  message = error_of({"seed=[" + big});  // not YAML
  EXPECT_LT(message.size(), 300u) << message.substr(0, 1000);
  EXPECT_THAT(message, AllOf(HasSubstr("cannot parse the value '[kkk"), HasSubstr("…")));
  message = error_of({"dataset=" + std::string(1000, 'o')});  // a name too long for a file
  EXPECT_LT(message.size(), 300u) << message.substr(0, 1000);
  EXPECT_THAT(message, AllOf(HasSubstr("unknown option 'ooo"), HasSubstr("valid options: a, b")));
  message = error_of({std::string(1000, 'g') + "=x"});  // a group name too long for a folder
  EXPECT_THAT(message, HasSubstr("does not exist"));
  message = error_of({"++line=a\nb", "~line\nbreak"});  // one line even when the input is not
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

}  // namespace
}  // namespace deferbench
