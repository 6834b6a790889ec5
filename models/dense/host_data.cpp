#include "models/dense/host_data.h"

#include <algorithm>
#include <cmath>

#include "core/util/error.h"

namespace deferbench::dense {

void standardization(MatrixView x, std::vector<float>& mean, std::vector<float>& scale) {
  const std::size_t n = x.rows(), d = x.cols();
  std::vector<double> sum(d, 0.0), sq(d, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    const float* r = x.row(i);
    for (std::size_t j = 0; j < d; ++j) sum[j] += r[j];
  }
  mean.assign(d, 0.0f);
  for (std::size_t j = 0; j < d; ++j) mean[j] = static_cast<float>(sum[j] / n);
  for (std::size_t i = 0; i < n; ++i) {
    const float* r = x.row(i);
    for (std::size_t j = 0; j < d; ++j) {
      double c = r[j] - static_cast<double>(mean[j]);
      sq[j] += c * c;
    }
  }
  scale.assign(d, 1.0f);
  for (std::size_t j = 0; j < d; ++j) {
    double sd = std::sqrt(sq[j] / n);
    scale[j] = sd > 1e-12 ? static_cast<float>(1.0 / sd) : 1.0f;
  }
}

HostTrainingData host_training_data(const Dataset& train, const Dataset* val, bool standardize,
                                    std::string_view model) {
  DB_CHECK(train.size() > 0, "{}: cannot fit on an empty training set", model);
  DB_CHECK(train.features.rows() == train.size(), "{}: the training set has no features", model);
  const std::size_t d = train.features.cols();
  HostTrainingData h;
  CompactLabels labels = compact_labels(train.teacher);
  h.classes = std::move(labels.classes);
  h.y = std::move(labels.index);
  auto standardize_rows = [&](Matrix& m) {
    for (std::size_t i = 0; i < m.rows(); ++i) {
      float* r = m.row(i);
      for (std::size_t j = 0; j < d; ++j) r[j] = (r[j] - h.mean[j]) * h.scale[j];
    }
  };
  if (standardize) {
    standardization(train.features, h.mean, h.scale);
    h.x_owned = Matrix::copy_of(train.features);
    standardize_rows(h.x_owned);
    h.x = h.x_owned.view();
  } else {
    h.mean.assign(d, 0.0f);
    h.scale.assign(d, 1.0f);
    h.x = train.features;
  }
  h.x_val = Matrix(0, d);
  if (val != nullptr && val->size() > 0) {
    DB_CHECK(val->features.cols() == d, "{}: validation features have {} columns, not {}", model,
             val->features.cols(), d);
    KnownRows known = known_rows(val->teacher, h.classes);
    h.x_val = gather_rows(val->features, known.rows);
    if (standardize) standardize_rows(h.x_val);
    h.y_val = std::move(known.index);
  }
  return h;
}

CompactLabels compact_labels(const std::vector<std::int32_t>& labels) {
  CompactLabels out;
  out.classes = labels;
  std::sort(out.classes.begin(), out.classes.end());
  out.classes.erase(std::unique(out.classes.begin(), out.classes.end()), out.classes.end());
  out.index.resize(labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i)
    out.index[i] =
        std::lower_bound(out.classes.begin(), out.classes.end(), labels[i]) - out.classes.begin();
  return out;
}

KnownRows known_rows(const std::vector<std::int32_t>& labels,
                     const std::vector<std::int32_t>& classes) {
  KnownRows out;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    auto it = std::lower_bound(classes.begin(), classes.end(), labels[i]);
    if (it == classes.end() || *it != labels[i]) continue;
    out.rows.push_back(i);
    out.index.push_back(it - classes.begin());
  }
  return out;
}

}  // namespace deferbench::dense
