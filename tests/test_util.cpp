#include "tests/test_util.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <random>

#include "core/data/synthetic.h"

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

Dataset rows_of(const Dataset& d, std::size_t begin, std::size_t end) {
  std::vector<std::size_t> rows(end - begin);
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = begin + i;
  return d.subset(rows);
}

WarmProblem warm_problem(std::size_t dim, std::size_t classes, std::uint64_t seed) {
  SyntheticOptions o;
  o.rows = 15000;
  o.dim = dim;
  o.classes = classes;
  o.separation = 3.0;
  o.confusable_pairs = std::min<std::size_t>(3, classes / 2);
  std::vector<std::string> names;
  for (std::size_t c = 0; c < classes; ++c) names.push_back(std::to_string(c));
  const Dataset all =
      to_dataset(generate_synthetic(o, seed), std::make_shared<const LabelSpace>(names));
  return {rows_of(all, 0, 9000), rows_of(all, 0, 10000), rows_of(all, 10000, 11000),
          rows_of(all, 11000, 15000)};
}

HeldOutQuality held_out_quality(const Classifier& model, const Dataset& d, const Context& ctx,
                                double floor) {
  const Matrix proba = model.predict_proba(d.features, ctx);
  HeldOutQuality q;
  for (std::size_t i = 0; i < d.size(); ++i) {
    const auto y = static_cast<std::size_t>(d.teacher[i]);
    const float* row = proba.row(i);
    q.accuracy += static_cast<double>(std::max_element(row, row + proba.cols()) - row) == y;
    q.log_loss -= std::log(std::max(static_cast<double>(row[y]), floor));
  }
  q.accuracy /= static_cast<double>(d.size());
  q.log_loss /= static_cast<double>(d.size());
  return q;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    worst = std::max(worst, static_cast<double>(std::abs(a[i] - b[i])));
  return worst;
}

}  // namespace deferbench::testing
