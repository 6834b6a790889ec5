#include "core/routing/acceptor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/config/fields.h"
#include "core/util/error.h"
#include "core/util/simd.h"

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

namespace {

constexpr std::size_t kQueryBlock = 8;

// out[q · n + t] = norms[t] − 2 ⟨query q, train row t⟩ for the kQueryBlock queries of `q`
// (kQueryBlock pointers, repeats allowed) against the n training rows. Built for AVX2 + FMA and
// for the baseline, dispatched by CPU features (core/util/simd.h); the result is the same on
// every run of one machine.
DB_SIMD_BODY void block_distances_body(const float* const* q, const float* train,
                                       const float* norms, std::size_t n, std::size_t d,
                                       float* out) {
  const float *q0 = q[0], *q1 = q[1], *q2 = q[2], *q3 = q[3], *q4 = q[4], *q5 = q[5], *q6 = q[6],
              *q7 = q[7];
  for (std::size_t t = 0; t < n; ++t) {
    const float* r = train + t * d;
    float a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
#pragma omp simd reduction(+ : a0, a1, a2, a3, a4, a5, a6, a7)
    for (std::size_t j = 0; j < d; ++j) {
      const float v = r[j];
      a0 += q0[j] * v;
      a1 += q1[j] * v;
      a2 += q2[j] * v;
      a3 += q3[j] * v;
      a4 += q4[j] * v;
      a5 += q5[j] * v;
      a6 += q6[j] * v;
      a7 += q7[j] * v;
    }
    const float nt = norms[t];
    out[t] = nt - 2.0f * a0;
    out[n + t] = nt - 2.0f * a1;
    out[2 * n + t] = nt - 2.0f * a2;
    out[3 * n + t] = nt - 2.0f * a3;
    out[4 * n + t] = nt - 2.0f * a4;
    out[5 * n + t] = nt - 2.0f * a5;
    out[6 * n + t] = nt - 2.0f * a6;
    out[7 * n + t] = nt - 2.0f * a7;
  }
}
DB_SIMD_DISPATCH(void, block_distances,
                 (const float* const* q, const float* train, const float* norms, std::size_t n,
                  std::size_t d, float* out),
                 (q, train, norms, n, d, out))

// Two independent 64-bit hashes of a matrix's bytes (a fingerprint for the memo).
std::pair<std::uint64_t, std::uint64_t> fingerprint(MatrixView x) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(x.data());
  const std::size_t len = x.size() * sizeof(float);
  std::uint64_t h1 = 0x9e3779b97f4a7c15ULL ^ len, h2 = 0xc2b2ae3d27d4eb4fULL + len;
  std::size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, bytes + i, 8);
    h1 = (h1 ^ w) * 0xff51afd7ed558ccdULL;
    h1 ^= h1 >> 32;
    h2 = (h2 + w) * 0x9fb21c651e98df25ULL;
    h2 ^= h2 >> 29;
  }
  for (; i < len; ++i) {
    h1 = (h1 ^ bytes[i]) * 0xff51afd7ed558ccdULL;
    h2 = (h2 + bytes[i]) * 0x9fb21c651e98df25ULL;
  }
  return {h1, h2};
}

}  // namespace

std::size_t NeighbourIndex::searches() const {
  std::lock_guard<std::mutex> lock(mu_);
  return searches_;
}

NeighbourIndex::Table NeighbourIndex::search(MatrixView x, std::size_t k, int threads) const {
  const std::size_t n_train = train_.rows(), d = train_.cols(), n = x.rows();
  Table table;
  table.k = k;
  table.rows.resize(n * k);
  table.dist.resize(n * k);
  const std::size_t blocks = (n + kQueryBlock - 1) / kQueryBlock;
  // No more threads than query blocks: a single query wakes no idle worker.
#pragma omp parallel num_threads(static_cast <int>( \
    std::max <std::size_t>(1, std::min <std::size_t>(std::max(1, threads), blocks))))
  {
    std::vector<float> dist(kQueryBlock * n_train);
    std::vector<std::pair<float, std::size_t>> heap;
    heap.reserve(k + 1);
#pragma omp for schedule(dynamic, 1)
    for (std::ptrdiff_t bb = 0; bb < static_cast<std::ptrdiff_t>(blocks); ++bb) {
      const std::size_t b = static_cast<std::size_t>(bb) * kQueryBlock;
      const std::size_t e = std::min(b + kQueryBlock, n);
      const float* q[kQueryBlock];
      for (std::size_t i = 0; i < kQueryBlock; ++i) q[i] = x.row(std::min(b + i, e - 1));
      block_distances(q, train_.data(), norms_.data(), n_train, d, dist.data());
      for (std::size_t i = b; i < e; ++i) {
        // Max-heap of (distance, row) holding the k best so far; rows are scanned in order and
        // only a strictly smaller distance displaces, so ties keep the lower row index.
        const float* di = dist.data() + (i - b) * n_train;
        heap.clear();
        for (std::size_t t = 0; t < n_train; ++t) {
          if (heap.size() < k) {
            heap.emplace_back(di[t], t);
            std::push_heap(heap.begin(), heap.end());
          } else if (di[t] < heap.front().first) {
            std::pop_heap(heap.begin(), heap.end());
            heap.back() = {di[t], t};
            std::push_heap(heap.begin(), heap.end());
          }
        }
        std::sort_heap(heap.begin(), heap.end());  // ascending (distance, row)
        for (std::size_t j = 0; j < k; ++j) {
          table.rows[i * k + j] = static_cast<std::uint32_t>(heap[j].second);
          table.dist[i * k + j] = heap[j].first;
        }
      }
    }
  }
  return table;
}

std::shared_ptr<const NeighbourIndex::Table> NeighbourIndex::nearest(MatrixView x, int k,
                                                                     int threads) const {
  DB_CHECK(x.cols() == train_.cols(), "knn: expected {} feature columns, got {}", train_.cols(),
           x.cols());
  const std::size_t kk =
      std::min<std::size_t>(static_cast<std::size_t>(std::max(k, 1)), train_.rows());
  const auto [h1, h2] = fingerprint(x);
  const MemoKey key{h1, h2, x.rows(), x.cols(), kk};
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = memo_.begin(); it != memo_.end(); ++it)
      if (it->first == key) {
        auto found = *it;
        memo_.erase(it);
        memo_.push_back(found);  // most recently used last
        return found.second;
      }
  }
  auto table = std::make_shared<const Table>(search(x, kk, threads));
  std::lock_guard<std::mutex> lock(mu_);
  ++searches_;
  memo_.emplace_back(key, table);
  if (memo_.size() > kMemoEntries) memo_.erase(memo_.begin());
  return table;
}

std::vector<float> NeighbourIndex::agreement(MatrixView x, const std::vector<LabelId>& pred, int k,
                                             int threads) const {
  DB_ASSERT(pred.size() == x.rows());
  std::vector<float> out(x.rows(), 0.0f);
  if (train_.rows() == 0) return out;
  const auto table = nearest(x, k, threads);
  const std::size_t kk = table->k;
  for (std::size_t i = 0; i < x.rows(); ++i) {
    std::size_t same = 0;
    for (std::size_t j = 0; j < kk; ++j) same += teacher_[table->rows[i * kk + j]] == pred[i];
    out[i] = static_cast<float>(same) / static_cast<float>(kk);
  }
  return out;
}

std::vector<float> NeighbourIndex::kth_distance(MatrixView x, int k, int threads) const {
  std::vector<float> out(x.rows(), 0.0f);
  if (train_.rows() == 0) return out;
  const auto table = nearest(x, k, threads);
  const std::size_t kk = table->k;
  for (std::size_t i = 0; i < x.rows(); ++i) {
    const float* q = x.row(i);
    float qq = 0.0f;
    for (std::size_t j = 0; j < x.cols(); ++j) qq += q[j] * q[j];
    out[i] = std::sqrt(std::max(0.0f, table->dist[i * kk + kk - 1] + qq));
  }
  return out;
}

namespace {

// −Σ v ln v over the positive entries of p[0 … k), eight entries at a time (the last group
// padded with zeros). Zeros (and denormals, whose terms are below 1e-36) add nothing.
DB_SIMD_BODY float entropy_body(const float* p, std::size_t k) {
  using simd::v8;
  const float min_normal = std::numeric_limits<float>::min();
  v8 acc = simd::splat(0.0f);
  for (std::size_t j = 0; j < k; j += 8) {
    v8 v;
    if (j + 8 <= k) {
      v = simd::load8(p + j);
    } else {
      float tail[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      std::memcpy(tail, p + j, (k - j) * sizeof(float));
      v = simd::load8(tail);
    }
    const auto normal = v >= min_normal;
    const v8 safe = normal ? v : simd::splat(1.0f);  // ln 1 = 0 keeps unused lanes finite
    acc -= normal ? v * simd::log8(safe) : simd::splat(0.0f);
  }
  return simd::hsum(acc);
}
DB_SIMD_DISPATCH(float, entropy, (const float* p, std::size_t k), (p, k))

}  // namespace

float entropy_of(const float* p, std::size_t k) {
  return entropy(p, k);
}

Matrix acceptor_features(MatrixView proba, const std::vector<float>& knn_agreement,
                         MatrixView embedding) {
  const std::size_t n = proba.rows(), k = proba.cols();
  const bool knn = !knn_agreement.empty(), emb = !embedding.empty();
  DB_ASSERT(!knn || knn_agreement.size() == n);
  DB_ASSERT(!emb || embedding.rows() == n);
  const std::size_t cols = 4 + (knn ? 1 : 0) + (emb ? embedding.cols() : 0);
  Matrix out(n, cols);
  const float inv_log_k = k > 1 ? static_cast<float>(1.0 / std::log(static_cast<double>(k))) : 0;
  for (std::size_t i = 0; i < n; ++i) {
    const float* p = proba.row(i);
    float top1 = 0.0f, top2 = 0.0f;
    for (std::size_t j = 0; j < k; ++j) {
      const float v = p[j];
      if (v > top1) {
        top2 = top1;
        top1 = v;
      } else if (v > top2) {
        top2 = v;
      }
    }
    float* o = out.row(i);
    o[0] = top1;
    o[1] = top2;
    o[2] = top1 - top2;
    o[3] = k > 1 ? entropy(p, k) * inv_log_k : 0.0f;
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
