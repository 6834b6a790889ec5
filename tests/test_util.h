// Shared helpers for the test suite.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/data/dataset.h"
#include "core/model/classifier.h"
#include "core/util/error.h"

namespace deferbench::testing {

// The shared data folder (../shared/data beside the clone), as configured at build time.
inline std::filesystem::path shared_data() {
  return DEFERBENCH_SHARED_DATA;
}

// A fresh, empty temporary folder for one test, removed when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  // Writes `content` to a file in the folder and returns its path.
  std::filesystem::path write(const std::string& name, const std::string& content) const;

 private:
  std::filesystem::path path_;
};

// The message of the deferbench::Error that `f` throws ("" if it throws none).
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const ::deferbench::Error& e) {
    return e.what();
  }
  return "";
}

// Three Gaussian blobs in 4-d, labelled 0, 2, 3 of a 5-class label space "0".."4" (classes 1
// and 4 never occur): the standard small problem of the model tests.
Dataset blobs(std::size_t n, std::uint64_t seed, double spread);

// Every row of `proba` is a probability distribution (entries in [0, 1], sum 1 within 1e-5), and
// the listed columns (classes never seen in training) are exactly 0.
void expect_distributions(MatrixView proba, const std::vector<std::size_t>& zero_columns);

// Files (recursively) in a folder, for "no output left behind" checks.
std::size_t count_files(const std::filesystem::path& dir);

// Rows [begin, end) of d.
Dataset rows_of(const Dataset& d, std::size_t begin, std::size_t end);

// The refit problem of the warm-start tests (issue 17): synthetic Gaussian clusters
// (core/data/synthetic.h; 15,000 rows, separation 3, min(3, classes / 2) confusable pairs,
// classes named "0", "1", ...), overlapping enough that no model is perfect: an online refit
// after 1,000 new labels. old_rows: the first 9,000 rows; all_rows: the first 10,000 (old +
// new); val: the next 1,000; test: the last 4,000, held out.
struct WarmProblem {
  Dataset old_rows, all_rows, val, test;
};
WarmProblem warm_problem(std::size_t dim, std::size_t classes, std::uint64_t seed = 31);

// A model's accuracy and mean log-loss against d.teacher, each row's probability of its class
// clipped below at `floor` in the log.
struct HeldOutQuality {
  double accuracy = 0, log_loss = 0;
};
HeldOutQuality held_out_quality(const Classifier& model, const Dataset& d, const Context& ctx,
                                double floor);

// The largest absolute difference of two equal-length vectors (their sizes are expected equal).
double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace deferbench::testing

// Skips the current test, naming the missing file, when a shared data file is absent
// (a user's clone has no ../shared beside it).
#define REQUIRE_SHARED_FILE(rel)                                                          \
  do {                                                                                    \
    auto _p = ::deferbench::testing::shared_data() / (rel);                               \
    if (!std::filesystem::exists(_p)) GTEST_SKIP() << "shared data file missing: " << _p; \
  } while (false)
