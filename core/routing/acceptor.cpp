#include "core/routing/acceptor.h"

#include <algorithm>
#include <cmath>
#include <queue>

#include "core/config/fields.h"
#include "core/util/error.h"

namespace deferbench {

AcceptorOptions AcceptorOptions::from_yaml(const YAML::Node& node, const std::string& path) {
  AcceptorOptions o;
  FieldReader r(node, path);
  YAML::Node model = r.get_map("model");
  o.model = model.size() > 0 ? YAML::Clone(model) : YAML::Load("{name: logreg}");
  o.knn = static_cast<int>(r.get_int("knn", o.knn, 0, 1000));
  o.use_embedding = r.get_bool("use_embedding", o.use_embedding);
  r.finish();
  return o;
}

NeighbourIndex::NeighbourIndex(MatrixView train_x, std::vector<LabelId> train_teacher)
    : train_(Matrix::copy_of(train_x)), teacher_(std::move(train_teacher)) {
  DB_ASSERT(train_.rows() == teacher_.size());
  norms_.resize(train_.rows());
  for (std::size_t i = 0; i < train_.rows(); ++i) {
    const float* r = train_.row(i);
    double s = 0;
    for (std::size_t j = 0; j < train_.cols(); ++j) s += static_cast<double>(r[j]) * r[j];
    norms_[i] = static_cast<float>(s);
  }
}

std::vector<std::pair<float, std::size_t>> NeighbourIndex::nearest(const float* q,
                                                                   std::size_t k) const {
  const std::size_t n_train = train_.rows(), d = train_.cols();
  // Max-heap of (distance, row) holding the k best so far; ties → lower row index wins.
  std::priority_queue<std::pair<float, std::size_t>> heap;
  for (std::size_t t = 0; t < n_train; ++t) {
    const float* r = train_.row(t);
    float dot = 0.0f;
    for (std::size_t j = 0; j < d; ++j) dot += q[j] * r[j];
    const float dist = norms_[t] - 2.0f * dot;  // ‖q‖² is common to every t: left out
    if (heap.size() < k) {
      heap.emplace(dist, t);
    } else if (dist < heap.top().first) {
      heap.pop();
      heap.emplace(dist, t);
    }
  }
  Neighbours out(heap.size());
  for (std::size_t i = out.size(); i-- > 0;) {
    out[i] = heap.top();
    heap.pop();
  }
  return out;
}

template <class PerRow>
std::vector<float> NeighbourIndex::per_row(MatrixView x, int k, int threads, PerRow f) const {
  DB_CHECK(x.cols() == train_.cols(), "knn: expected {} feature columns, got {}", train_.cols(),
           x.cols());
  const std::size_t kk =
      std::min<std::size_t>(static_cast<std::size_t>(std::max(k, 1)), train_.rows());
  std::vector<float> out(x.rows(), 0.0f);
  if (kk == 0) return out;
#pragma omp parallel for num_threads(std::max(1, threads)) schedule(dynamic, 16)
  for (std::ptrdiff_t ii = 0; ii < static_cast<std::ptrdiff_t>(x.rows()); ++ii) {
    const std::size_t i = static_cast<std::size_t>(ii);
    out[i] = f(i, nearest(x.row(i), kk));
  }
  return out;
}

std::vector<float> NeighbourIndex::agreement(MatrixView x, const std::vector<LabelId>& pred, int k,
                                             int threads) const {
  DB_ASSERT(pred.size() == x.rows());
  return per_row(x, k, threads, [&](std::size_t i, const Neighbours& nn) {
    std::size_t same = 0;
    for (const auto& [dist, t] : nn) same += teacher_[t] == pred[i];
    return static_cast<float>(same) / static_cast<float>(nn.size());
  });
}

std::vector<float> NeighbourIndex::kth_distance(MatrixView x, int k, int threads) const {
  return per_row(x, k, threads, [&](std::size_t i, const Neighbours& nn) {
    const float* q = x.row(i);
    float qq = 0.0f;
    for (std::size_t j = 0; j < x.cols(); ++j) qq += q[j] * q[j];
    return std::sqrt(std::max(0.0f, nn.back().first + qq));
  });
}

Matrix acceptor_features(MatrixView proba, const std::vector<float>& knn_agreement,
                         MatrixView embedding) {
  const std::size_t n = proba.rows(), k = proba.cols();
  const bool knn = !knn_agreement.empty(), emb = !embedding.empty();
  DB_ASSERT(!knn || knn_agreement.size() == n);
  DB_ASSERT(!emb || embedding.rows() == n);
  const std::size_t cols = 4 + (knn ? 1 : 0) + (emb ? embedding.cols() : 0);
  Matrix out(n, cols);
  const double log_k = k > 1 ? std::log(static_cast<double>(k)) : 1.0;
  for (std::size_t i = 0; i < n; ++i) {
    const float* p = proba.row(i);
    float top1 = 0.0f, top2 = 0.0f;
    double entropy = 0.0;
    for (std::size_t j = 0; j < k; ++j) {
      const float v = p[j];
      if (v > top1) {
        top2 = top1;
        top1 = v;
      } else if (v > top2) {
        top2 = v;
      }
      if (v > 0.0f) entropy -= static_cast<double>(v) * std::log(static_cast<double>(v));
    }
    float* o = out.row(i);
    o[0] = top1;
    o[1] = top2;
    o[2] = top1 - top2;
    o[3] = k > 1 ? static_cast<float>(entropy / log_k) : 0.0f;
    std::size_t c = 4;
    if (knn) o[c++] = knn_agreement[i];
    if (emb) std::copy_n(embedding.row(i), embedding.cols(), o + c);
  }
  return out;
}

void Acceptor::fit(const Matrix& features, const std::vector<std::uint8_t>& agrees,
                   const Context& ctx) {
  DB_CHECK(features.rows() == agrees.size() && !agrees.empty(),
           "acceptor: {} feature rows but {} agreement flags", features.rows(), agrees.size());
  const std::size_t yes = static_cast<std::size_t>(std::count(agrees.begin(), agrees.end(), 1));
  if (yes == 0 || yes == agrees.size()) {
    constant_ = yes == 0 ? 0 : 1;
    return;
  }
  constant_ = -1;
  Dataset d;
  d.labels = std::make_shared<LabelSpace>(std::vector<std::string>{"0", "1"});
  d.features = features;
  d.teacher.assign(agrees.begin(), agrees.end());
  model_->fit(d, nullptr, ctx);
}

std::vector<float> Acceptor::score(MatrixView features, const Context& ctx) const {
  if (constant_ >= 0) return std::vector<float>(features.rows(), static_cast<float>(constant_));
  Matrix p = model_->predict_proba(features, ctx);
  std::vector<float> out(p.rows());
  for (std::size_t i = 0; i < p.rows(); ++i) out[i] = p(i, 1);
  return out;
}

}  // namespace deferbench
