// What the model loaders check in a model file's state before a model exists (the fuzzer's
// findings 4, 5 and 8, tests/fuzz/README.md): the classes every model declares, the shapes of a
// dense network, the integers of an XGBoost booster. Each bad file is an Error naming the file and
// the field, never a model that loads and then fails (or writes out of bounds) in predict.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/data/binary_io.h"
#include "core/model/model_file.h"
#include "core/util/error.h"
#include "models/dense/logreg.h"
#include "models/dense/mlp.h"
#include "models/registry.h"
#include "tests/test_util.h"

#ifdef DEFERBENCH_HAVE_XGBOOST
#include "models/xgboost/xgb.h"
#endif

namespace deferbench {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using testing::error_of;
using ::testing::HasSubstr;
using ::testing::Not;

// A fuzzer finding's reproducer (re-encoded in model file format 2, tests/fuzz/README.md).
fs::path finding(const std::string& name) {
  return fs::path(DEFERBENCH_ROOT) / "tests" / "fuzz" / "findings" / name;
}

std::string load_error(const fs::path& file) {
  return error_of([&] { builtin_models().load(file); });
}

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_bytes(const fs::path& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << bytes;
}

template <class T>
std::string bytes_of(const T& v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof(T));
}

// ---- finding 4: the classes a model file declares

TEST(ModelFileChecks, ZeroClassesFindingIsAnErrorNamingTheFileAndField) {
  const fs::path file = finding("model_zero_classes.bin");
  ASSERT_TRUE(fs::exists(file)) << file;
  const std::string msg = load_error(file);
  EXPECT_THAT(msg, AllOf(HasSubstr(file.string()), HasSubstr("field 'n_classes'"),
                         HasSubstr("logreg model: expected a label space of 1 to 16777216 "
                                   "classes, got 0")));
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

// Every model of the zoo, fitted on blobs labelled 0, 2, 3 of a 5-class space and saved; its
// file's state holds n_classes (5) and the classes vector (3: 0, 2, 3), patched here.
class ZooClasses : public ::testing::TestWithParam<std::string> {
 protected:
  // The saved file's bytes, or "" when this build lacks the model.
  std::string saved() {
    YAML::Node spec;
    spec["name"] = GetParam();
    std::unique_ptr<Classifier> model;
    try {
      model = builtin_models().make(spec, "model");
    } catch (const Error&) {
      return "";
    }
    const Context ctx{Device::kCpu, 3, 2};
    model->fit(testing::blobs(120, 1, 0.3), nullptr, ctx);
    model->save(dir_ / "good.bin");
    return read_bytes(dir_ / "good.bin");
  }
  // Where the classes vector (its length, then the ids) starts in `bytes`.
  static std::size_t classes_at(const std::string& bytes) {
    const std::string ids = bytes_of<std::uint64_t>(3) + bytes_of<std::int32_t>(0) +
                            bytes_of<std::int32_t>(2) + bytes_of<std::int32_t>(3);
    const std::size_t at = bytes.find(ids);
    EXPECT_NE(at, std::string::npos);
    EXPECT_EQ(bytes.find(ids, at + 1), std::string::npos) << "the classes vector is not unique";
    return at;
  }
  // Where n_classes stands: just before the classes (logreg, mlp), or before n_features (4).
  static std::size_t n_classes_at(const std::string& bytes, std::size_t classes) {
    if (bytes.compare(classes - 8, 8, bytes_of<std::uint64_t>(5)) == 0) return classes - 8;
    EXPECT_EQ(bytes.compare(classes - 8, 8, bytes_of<std::uint64_t>(4)), 0);
    EXPECT_EQ(bytes.compare(classes - 16, 8, bytes_of<std::uint64_t>(5)), 0);
    return classes - 16;
  }
  std::string patched_error(std::string bytes, std::size_t at, const std::string& with) {
    bytes.replace(at, with.size(), with);
    const fs::path file = dir_ / "bad.bin";
    write_bytes(file, bytes);
    return load_error(file);
  }
  testing::TempDir dir_;
};

TEST_P(ZooClasses, AClassListNotAscendingUniqueAndInTheLabelSpaceIsAnError) {
  const std::string bytes = saved();
  if (bytes.empty()) GTEST_SKIP() << GetParam() << " is not available in this build";
  const std::size_t ids = classes_at(bytes) + 8;
  const fs::path bad = dir_ / "bad.bin";
  // Out of range in the middle (the ends are fine: a check of front and back alone let a dense
  // model write past its output row), descending, a duplicate, negative.
  const std::vector<std::pair<std::vector<std::int32_t>, std::string>> cases = {
      {{0, 7, 3}, "got 7 at position 1 after 0"},
      {{0, 3, 2}, "got 2 at position 2 after 3"},
      {{0, 2, 2}, "got 2 at position 2 after 2"},
      {{-1, 2, 3}, "got -1 at position 0"}};
  for (const auto& [classes, got] : cases) {
    std::string with;
    for (std::int32_t c : classes) with += bytes_of(c);
    EXPECT_THAT(
        patched_error(bytes, ids, with),
        AllOf(HasSubstr(bad.string()), HasSubstr("field 'classes'"),
              HasSubstr("expected class ids ascending, unique and in [0, 5)"), HasSubstr(got)))
        << GetParam();
  }
  // The file as saved loads (the patch, not the saving, made the errors).
  EXPECT_EQ(load_error(dir_ / "good.bin"), "");
}

TEST_P(ZooClasses, ALabelSpaceOfZeroClassesOrTooSmallForTheClassesIsAnError) {
  const std::string bytes = saved();
  if (bytes.empty()) GTEST_SKIP() << GetParam() << " is not available in this build";
  const std::size_t n_classes = n_classes_at(bytes, classes_at(bytes));
  const fs::path bad = dir_ / "bad.bin";
  EXPECT_THAT(patched_error(bytes, n_classes, bytes_of<std::uint64_t>(0)),
              AllOf(HasSubstr(bad.string()), HasSubstr("field 'n_classes'"),
                    HasSubstr("expected a label space of 1 to 16777216 classes, got 0")))
      << GetParam();
  EXPECT_THAT(patched_error(bytes, n_classes, bytes_of<std::uint64_t>(std::uint64_t{1} << 40)),
              AllOf(HasSubstr("field 'n_classes'"), HasSubstr("got 1099511627776")))
      << GetParam();
  EXPECT_THAT(patched_error(bytes, n_classes, bytes_of<std::uint64_t>(3)),
              AllOf(HasSubstr(bad.string()), HasSubstr("field 'classes'"),
                    HasSubstr("in [0, 3) (the label space), got 3 at position 2")))
      << GetParam();
}

INSTANTIATE_TEST_SUITE_P(EveryRegisteredModel, ZooClasses,
                         ::testing::ValuesIn(builtin_models().names()),
                         [](const auto& info) { return info.param; });

// ---- findings 4 and 8: a dense network's classes and shapes

// A logreg model file with this state (default parameters).
std::string logreg_file(std::uint64_t n_classes, const std::vector<std::int32_t>& classes,
                        std::size_t inputs, std::size_t scale_size, Matrix weight,
                        std::size_t bias_size) {
  std::ostringstream s;
  BinaryWriter w(s);
  write_model_header(w, "logreg");
  write_params(LogRegParams::table(), LogRegParams{}, w);
  w.pod<std::uint64_t>(n_classes);
  w.vector(classes);
  w.vector(std::vector<float>(inputs, 0.5f));
  w.vector(std::vector<float>(scale_size, 2.0f));
  w.matrix(weight);
  w.vector(std::vector<float>(bias_size, 0.1f));
  return s.str();
}

TEST(ModelFileChecks, DenseSizeFindingIsAnErrorNamingTheFileAndField) {
  const fs::path file = finding("model_dense_size_assert.bin");
  ASSERT_TRUE(fs::exists(file)) << file;
  const std::string msg = load_error(file);
  EXPECT_THAT(msg, AllOf(HasSubstr(file.string()), HasSubstr("field 'scale'"),
                         HasSubstr("expected 4 values (one per input, as 'mean' has), got 2")));
  EXPECT_THAT(msg, Not(HasSubstr("internal error")));
}

TEST(ModelFileChecks, LogRegShapesAndClassesAreChecked) {
  testing::TempDir dir;
  const fs::path file = dir / "m.bin";
  auto error = [&](const std::string& bytes) {
    write_bytes(file, bytes);
    return load_error(file);
  };
  // The well-formed file loads and predicts.
  write_bytes(file, logreg_file(5, {0, 2, 3}, 4, 4, Matrix(3, 4, 0.1f), 3));
  const auto model = builtin_models().load(file);
  const Matrix p = model->predict_proba(Matrix(2, 4, 1.0f), Context{Device::kCpu, 1, 1});
  EXPECT_EQ(p.cols(), 5u);
  // No class at all (shapes consistent with that): loaded before, and predict had nothing to do.
  EXPECT_THAT(error(logreg_file(5, {}, 4, 4, Matrix(0, 4), 0)),
              AllOf(HasSubstr(file.string()), HasSubstr("field 'classes'"),
                    HasSubstr("logreg model: expected at least 1 class, got none")));
  EXPECT_THAT(
      error(logreg_file(5, {0, 2, 3}, 4, 3, Matrix(3, 4), 3)),
      AllOf(HasSubstr(file.string()), HasSubstr("field 'scale'"), HasSubstr("expected 4 values")));
  EXPECT_THAT(error(logreg_file(5, {0, 2, 3}, 4, 4, Matrix(2, 4), 3)),
              AllOf(HasSubstr(file.string()), HasSubstr("field 'weight'"),
                    HasSubstr("expected a 3 × 4 matrix (3 classes × inputs ('mean')), got 2 × 4")));
  EXPECT_THAT(error(logreg_file(5, {0, 2, 3}, 4, 4, Matrix(3, 5), 3)),
              AllOf(HasSubstr("field 'weight'"), HasSubstr("got 3 × 5")));
  EXPECT_THAT(error(logreg_file(5, {0, 2, 3}, 4, 4, Matrix(3, 4), 2)),
              AllOf(HasSubstr(file.string()), HasSubstr("field 'bias'"),
                    HasSubstr("expected 3 values (3 classes), got 2")));
}

// An mlp_2h model file with hidden layers of widths 3 and 2 over 4 inputs and classes 0, 2, 3 of
// 5; `layers` lists each layer's weight shape and bias size.
struct LayerShape {
  std::size_t rows, cols, bias;
};
std::string mlp_file(std::uint64_t layer_count, const std::vector<LayerShape>& layers) {
  std::ostringstream s;
  BinaryWriter w(s);
  write_model_header(w, "mlp_2h");
  write_params(MlpParams::table(), MlpParams::with_hidden({3, 2}), w);
  w.pod<std::uint64_t>(5);
  w.vector(std::vector<std::int32_t>{0, 2, 3});
  w.vector(std::vector<float>(4, 0.0f));
  w.vector(std::vector<float>(4, 1.0f));
  w.pod<std::uint64_t>(layer_count);
  for (const LayerShape& l : layers) {
    w.matrix(Matrix(l.rows, l.cols, 0.25f));
    w.vector(std::vector<float>(l.bias, 0.0f));
  }
  return s.str();
}

TEST(ModelFileChecks, MlpLayerShapesChainFromTheInputsToTheClasses) {
  testing::TempDir dir;
  const fs::path file = dir / "m.bin";
  auto error = [&](std::uint64_t count, const std::vector<LayerShape>& layers) {
    write_bytes(file, mlp_file(count, layers));
    return load_error(file);
  };
  EXPECT_EQ(error(3, {{3, 4, 3}, {2, 3, 2}, {3, 2, 3}}), "");  // well formed
  EXPECT_THAT(error(2, {{3, 4, 3}, {3, 3, 3}}),
              AllOf(HasSubstr(file.string()), HasSubstr("field 'layers'"),
                    HasSubstr("expected 3 layers (2 hidden")));
  EXPECT_THAT(error(3, {{3, 4, 3}, {2, 4, 2}, {3, 2, 3}}),
              AllOf(HasSubstr(file.string()), HasSubstr("field 'weights[1]'"),
                    HasSubstr("expected a 2 × 3 matrix (hidden layer 2's width × layer 1's "
                              "outputs), got 2 × 4")));
  EXPECT_THAT(error(3, {{3, 4, 3}, {2, 3, 2}, {3, 2, 2}}),
              AllOf(HasSubstr(file.string()), HasSubstr("field 'biases[2]'"),
                    HasSubstr("expected 3 values (3 classes), got 2")));
}

// A matrix whose rows × cols wraps around 2^64 is a truncated file, not a small matrix.
TEST(ModelFileChecks, AMatrixSizeThatOverflowsIsAnError) {
  std::ostringstream s;
  BinaryWriter w(s);
  w.pod<std::uint64_t>(std::uint64_t{1} << 33);
  w.pod<std::uint64_t>(std::uint64_t{1} << 31);
  std::istringstream in(s.str());
  BinaryReader r(in, "m.bin");
  EXPECT_THAT(error_of([&] { r.matrix(); }),
              AllOf(HasSubstr("m.bin"), HasSubstr("a length exceeds the bytes left")));
}

// ---- finding 5: the integers of an XGBoost booster

#ifdef DEFERBENCH_HAVE_XGBOOST

// An xgb model file (classes 0 and 1 of 2, 4 features) holding `booster` as its UBJSON model.
std::string xgb_file(const nlohmann::json& booster) {
  const std::vector<std::uint8_t> ubj = nlohmann::json::to_ubjson(booster);
  std::ostringstream s;
  BinaryWriter w(s);
  write_model_header(w, "xgb");
  write_params(XgbParams::table(), XgbParams{}, w);
  w.pod<std::uint64_t>(2);
  w.pod<std::uint64_t>(4);
  w.vector(std::vector<std::int32_t>{0, 1});
  w.pod<int>(1);
  w.vector(std::vector<char>(ubj.begin(), ubj.end()));
  return s.str();
}

// One gbtree of one leaf per class; `set` changes it.
nlohmann::json booster() {
  nlohmann::json leaf = {{"left_children", {-1}},
                         {"right_children", {-1}},
                         {"split_indices", {0}},
                         {"split_conditions", {0.5}},
                         {"split_type", {0}}};
  return {{"learner",
           {{"gradient_booster",
             {{"name", "gbtree"}, {"model", {{"tree_info", {0, 1}}, {"trees", {leaf, leaf}}}}}}}}};
}

TEST(ModelFileChecks, XgbFloatToIntFindingIsAnErrorNamingTheFileAndField) {
  const fs::path file = finding("model_xgb_float_to_int.bin");
  ASSERT_TRUE(fs::exists(file)) << file;
  EXPECT_THAT(load_error(file),
              AllOf(HasSubstr(file.string()), HasSubstr("field 'booster'"),
                    HasSubstr("the booster's 'split_indices' holds 1e+300, expected whole numbers "
                              "in int64's range")));
}

TEST(ModelFileChecks, XgbBoosterIntegersMustBeWholeAndInRange) {
  testing::TempDir dir;
  const fs::path file = dir / "m.bin";
  auto error = [&](const nlohmann::json& b) {
    write_bytes(file, xgb_file(b));
    return load_error(file);
  };
  // The well-formed booster loads, compiled into our trees.
  nlohmann::json good = booster();
  EXPECT_EQ(error(good), "");
  auto trees = [](nlohmann::json& b) -> nlohmann::json& {
    return b["learner"]["gradient_booster"]["model"]["trees"];
  };
  // A fraction where an index belongs (read as 0 before: the file loaded).
  nlohmann::json b = booster();
  trees(b)[1]["split_indices"][0] = 0.5;
  EXPECT_THAT(error(b), AllOf(HasSubstr(file.string()), HasSubstr("field 'booster'"),
                              HasSubstr("'split_indices' holds 0.5")));
  b = booster();
  trees(b)[0]["left_children"][0] = -1e300;
  EXPECT_THAT(error(b), AllOf(HasSubstr("field 'booster'"), HasSubstr("'left_children' holds")));
  b = booster();
  trees(b)[0]["right_children"][0] = 9223372036854775808.0;  // 2^63: just beyond int64
  EXPECT_THAT(error(b), HasSubstr("'right_children' holds 9.223372036854776e+18"));
  b = booster();
  b["learner"]["gradient_booster"]["model"]["tree_info"][1] = 1.5;
  EXPECT_THAT(error(b), HasSubstr("'tree_info' holds 1.5"));
  // A whole float is an integer (XGBoost writes integers, but a float 1.0 means 1).
  b = booster();
  b["learner"]["gradient_booster"]["model"]["tree_info"][1] = 1.0;
  EXPECT_EQ(error(b), "");
}

#endif  // DEFERBENCH_HAVE_XGBOOST

}  // namespace
}  // namespace deferbench
