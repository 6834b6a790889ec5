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

namespace {

// x standardized in place with h's mean and scale.
void standardize_rows(const HostTrainingData& h, Matrix& x) {
  const std::size_t d = x.cols();
  for (std::size_t i = 0; i < x.rows(); ++i) {
    float* r = x.row(i);
    for (std::size_t j = 0; j < d; ++j) r[j] = (r[j] - h.mean[j]) * h.scale[j];
  }
}

// h.x, h.mean and h.scale from the training features: standardized into h.x_owned, or as they are.
void set_features(HostTrainingData& h, MatrixView x, bool standardize) {
  if (standardize) {
    standardization(x, h.mean, h.scale);
    h.x_owned = Matrix::copy_of(x);
    standardize_rows(h, h.x_owned);
    h.x = h.x_owned.view();
  } else {
    h.mean.assign(x.cols(), 0.0f);
    h.scale.assign(x.cols(), 1.0f);
    h.x = x;
  }
}

}  // namespace

HostTrainingData host_training_data(const Dataset& train, const Dataset* val, bool standardize,
                                    std::string_view model) {
  DB_CHECK(train.size() > 0, "{}: cannot fit on an empty training set", model);
  DB_CHECK(train.features.rows() == train.size(), "{}: the training set has no features", model);
  const std::size_t d = train.features.cols();
  HostTrainingData h;
  CompactLabels labels = compact_labels(train.teacher);
  h.classes = std::move(labels.classes);
  h.y = std::move(labels.index);
  set_features(h, train.features, standardize);
  h.x_val = Matrix(0, d);
  if (val != nullptr && val->size() > 0) {
    DB_CHECK(val->features.cols() == d, "{}: validation features have {} columns, not {}", model,
             val->features.cols(), d);
    KnownRows known = known_rows(val->teacher, h.classes);
    h.x_val = gather_rows(val->features, known.rows);
    if (standardize) standardize_rows(h, h.x_val);
    h.y_val = std::move(known.index);
  }
  return h;
}

HostTrainingData host_weighted_data(MatrixView x, MatrixView weights, bool standardize,
                                    std::string_view model) {
  const std::size_t n = x.rows(), k = weights.cols();
  DB_CHECK(n > 0, "{}: cannot fit cost weights on an empty training set", model);
  DB_CHECK(k > 0, "{}: the cost weights have no columns (choices)", model);
  DB_CHECK(weights.rows() == n, "{}: {} rows of features but {} rows of cost weights", model, n,
           weights.rows());
  for (std::size_t i = 0; i < n; ++i) {
    const float* w = weights.row(i);
    double sum = 0.0;
    for (std::size_t j = 0; j < k; ++j) {
      DB_CHECK(std::isfinite(w[j]) && w[j] >= 0.0f,
               "{}: cost weight of row {}, choice {} is {}; weights must be finite and >= 0", model,
               i, j, w[j]);
      sum += w[j];
    }
    DB_CHECK(sum > 0.0, "{}: the cost weights of row {} sum to 0; each row needs one > 0", model,
             i);
  }
  HostTrainingData h;
  h.classes.resize(k);
  for (std::size_t j = 0; j < k; ++j) h.classes[j] = static_cast<std::int32_t>(j);
  set_features(h, x, standardize);
  h.x_val = Matrix(0, x.cols());
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
