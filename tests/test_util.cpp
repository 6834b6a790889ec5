#include "tests/test_util.h"

#include <unistd.h>

#include <atomic>
#include <fstream>
#include <random>

namespace deferbench::testing {

TempDir::TempDir() {
  static std::atomic<unsigned> counter{0};
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "test";
  path_ =
      std::filesystem::temp_directory_path() /
      ("deferbench-" + name + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::filesystem::path TempDir::write(const std::string& name, const std::string& content) const {
  auto p = path_ / name;
  std::filesystem::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << content;
  return p;
}

Dataset blobs(std::size_t n, std::uint64_t seed, double spread) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, spread);
  const double centres[3][4] = {{2, 0, 0, 1}, {0, 2, 0, -1}, {0, 0, 2, 0}};
  const LabelId ids[3] = {0, 2, 3};
  Dataset d;
  d.labels = std::make_shared<LabelSpace>(std::vector<std::string>{"0", "1", "2", "3", "4"});
  d.features = Matrix(n, 4);
  for (std::size_t i = 0; i < n; ++i) {
    int c = static_cast<int>(i % 3);
    for (int j = 0; j < 4; ++j) d.features(i, j) = static_cast<float>(centres[c][j] + noise(rng));
    d.teacher.push_back(ids[c]);
  }
  return d;
}

void expect_distributions(MatrixView proba, const std::vector<std::size_t>& zero_columns) {
  for (std::size_t i = 0; i < proba.rows(); ++i) {
    double sum = 0;
    for (std::size_t j = 0; j < proba.cols(); ++j) {
      EXPECT_GE(proba(i, j), 0.0f) << "row " << i;
      EXPECT_LE(proba(i, j), 1.0f) << "row " << i;
      sum += proba(i, j);
    }
    EXPECT_NEAR(sum, 1.0, 1e-5) << "row " << i;
    for (std::size_t c : zero_columns)
      EXPECT_EQ(proba(i, c), 0.0f) << "row " << i << " column " << c;
  }
}

std::size_t count_files(const std::filesystem::path& dir) {
  if (!std::filesystem::exists(dir)) return 0;
  std::size_t n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) ++n;
  return n;
}

}  // namespace deferbench::testing
