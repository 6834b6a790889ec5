// Shared helpers for the test suite.
#pragma once

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "core/data/dataset.h"
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

}  // namespace deferbench::testing

// Skips the current test, naming the missing file, when a shared data file is absent
// (a user's clone has no ../shared beside it).
#define REQUIRE_SHARED_FILE(rel)                                                          \
  do {                                                                                    \
    auto _p = ::deferbench::testing::shared_data() / (rel);                               \
    if (!std::filesystem::exists(_p)) GTEST_SKIP() << "shared data file missing: " << _p; \
  } while (false)
