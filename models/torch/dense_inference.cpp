#include "models/torch/dense_inference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/util/error.h"
#include "core/util/simd.h"
#include "models/torch/torch_util.h"

namespace deferbench::torch_util {

Activation parse_activation(const std::string& name) {
  if (name == "relu") return Activation::kRelu;
  if (name == "tanh") return Activation::kTanh;
  if (name == "logistic") return Activation::kLogistic;
  DB_THROW("unknown activation '{}'; valid: logistic, relu, tanh", name);
}

std::string activation_name(Activation a) {
  switch (a) {
    case Activation::kRelu:
      return "relu";
    case Activation::kTanh:
      return "tanh";
    case Activation::kLogistic:
      return "logistic";
  }
  return "relu";
}

namespace {

using simd::load8;
using simd::store8;
using simd::v8;
constexpr std::size_t kTile = 16;  // the padding of every layer's columns (two v8, one v16)
constexpr std::size_t kRows = 4;   // rows per register tile

// Columns [o, o + kVecs · lanes(V)) of kRows rows: accumulators start at the bias and take one
// multiply-add per k, in increasing k.
template <class V, std::size_t kVecs>
DB_SIMD_BODY void affine_tile(const float* const* xr, std::size_t rows_left, const float* wt,
                              const float* b, std::size_t in, std::size_t out_pad, std::size_t o,
                              float* y, std::size_t ldy) {
  constexpr std::size_t kLanes = sizeof(V) / sizeof(float);
  V acc[kRows][kVecs];
  for (std::size_t v = 0; v < kVecs; ++v) {
    const V bias = simd::load<V>(b + o + v * kLanes);
    for (std::size_t r = 0; r < kRows; ++r) acc[r][v] = bias;
  }
  const float* w = wt + o;
  for (std::size_t k = 0; k < in; ++k, w += out_pad) {
    V wk[kVecs];
    for (std::size_t v = 0; v < kVecs; ++v) wk[v] = simd::load<V>(w + v * kLanes);
    for (std::size_t r = 0; r < kRows; ++r) {
      const float xk = xr[r][k];
      for (std::size_t v = 0; v < kVecs; ++v) acc[r][v] += xk * wk[v];
    }
  }
  for (std::size_t r = 0; r < kRows && r < rows_left; ++r)
    for (std::size_t v = 0; v < kVecs; ++v) simd::store(y + r * ldy + o + v * kLanes, acc[r][v]);
}

// y[r][o] = b[o] + Σ_k x[r][k] · wt[k][o] for the rows of x (ldx apart) into y (ldy apart),
// o < out_pad (a multiple of kTile; wt is in × out_pad with zero padding), in tiles of kRows
// rows × two vectors of V (and a last tile of one vector when out_pad is an odd multiple of it).
// Each output is accumulated over k in increasing order in its own lane, so its value does not
// depend on the number of rows, on which rows share a tile, on threads, or on V: the same query
// gets the same probabilities in a batch of 1 or of a million, and the AVX-512 build equals the
// AVX2 + FMA build bit for bit (this file is compiled with -ffp-contract=fast).
template <class V>
DB_SIMD_BODY void affine_rows_of(const float* x, std::size_t ldx, std::size_t rows, const float* wt,
                                 const float* b, std::size_t in, std::size_t out_pad, float* y,
                                 std::size_t ldy) {
  constexpr std::size_t kLanes = sizeof(V) / sizeof(float);
  for (std::size_t r0 = 0; r0 < rows; r0 += kRows) {
    const float* xr[kRows];
    for (std::size_t r = 0; r < kRows; ++r) xr[r] = x + std::min(r0 + r, rows - 1) * ldx;
    float* yr = y + r0 * ldy;
    std::size_t o = 0;
    for (; o + 2 * kLanes <= out_pad; o += 2 * kLanes)
      affine_tile<V, 2>(xr, rows - r0, wt, b, in, out_pad, o, yr, ldy);
    if (o < out_pad) affine_tile<V, 1>(xr, rows - r0, wt, b, in, out_pad, o, yr, ldy);
  }
}

// v8: AVX2 + FMA or the baseline, dispatched by CPU features (core/util/simd.h).
DB_SIMD_BODY void affine_rows_ymm_body(const float* x, std::size_t ldx, std::size_t rows,
                                       const float* wt, const float* b, std::size_t in,
                                       std::size_t out_pad, float* y, std::size_t ldy) {
  affine_rows_of<v8>(x, ldx, rows, wt, b, in, out_pad, y, ldy);
}
DB_SIMD_DISPATCH(void, affine_rows_ymm,
                 (const float* x, std::size_t ldx, std::size_t rows, const float* wt,
                  const float* b, std::size_t in, std::size_t out_pad, float* y, std::size_t ldy),
                 (x, ldx, rows, wt, b, in, out_pad, y, ldy))

#if defined(__x86_64__)
__attribute__((target("avx512f,fma"))) void affine_rows_avx512(const float* x, std::size_t ldx,
                                                               std::size_t rows, const float* wt,
                                                               const float* b, std::size_t in,
                                                               std::size_t out_pad, float* y,
                                                               std::size_t ldy) {
  affine_rows_of<simd::v16>(x, ldx, rows, wt, b, in, out_pad, y, ldy);
}
#endif

// AVX-512 when the CPU has it (same results as AVX2 + FMA, twice the width), else AVX2 + FMA,
// else the baseline.
void affine_rows(const float* x, std::size_t ldx, std::size_t rows, const float* wt, const float* b,
                 std::size_t in, std::size_t out_pad, float* y, std::size_t ldy) {
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f") && cpu_has_avx2_fma();
  if (avx512) return affine_rows_avx512(x, ldx, rows, wt, b, in, out_pad, y, ldy);
#endif
  affine_rows_ymm(x, ldx, rows, wt, b, in, out_pad, y, ldy);
}

// In place: z[0 … k) → softmax(z), eight entries at a time (the last group padded).
DB_SIMD_BODY void softmax_inplace_body(float* z, std::size_t k) {
  float top = z[0];
  for (std::size_t c = 1; c < k; ++c) top = std::max(top, z[c]);
  v8 sum = simd::splat(0.0f);
  for (std::size_t c = 0; c < k; c += 8) {
    if (c + 8 <= k) {
      const v8 e = simd::exp_nonpositive8(load8(z + c) - top);
      store8(z + c, e);
      sum += e;
    } else {
      float tail[8];
      std::fill(tail, tail + 8, -std::numeric_limits<float>::infinity());
      std::memcpy(tail, z + c, (k - c) * sizeof(float));
      const v8 e = simd::exp_nonpositive8(load8(tail) - top);  // padding: e^−∞ → 0
      store8(tail, e);
      sum += e;
      std::memcpy(z + c, tail, (k - c) * sizeof(float));
    }
  }
  const float inv = 1.0f / simd::hsum(sum);
  for (std::size_t c = 0; c < k; ++c) z[c] *= inv;
}
DB_SIMD_DISPATCH(void, softmax_inplace, (float* z, std::size_t k), (z, k))

void activate(Activation a, float* v, std::size_t n) {
  switch (a) {
    case Activation::kRelu:
      for (std::size_t i = 0; i < n; ++i) v[i] = std::max(v[i], 0.0f);
      break;
    case Activation::kTanh:
      for (std::size_t i = 0; i < n; ++i) v[i] = std::tanh(v[i]);
      break;
    case Activation::kLogistic:
      for (std::size_t i = 0; i < n; ++i) v[i] = 1.0f / (1.0f + std::exp(-v[i]));
      break;
  }
}

void activate_(Activation a, torch::Tensor& t) {
  switch (a) {
    case Activation::kRelu:
      t.relu_();
      break;
    case Activation::kTanh:
      t.tanh_();
      break;
    case Activation::kLogistic:
      t.sigmoid_();
      break;
  }
}

}  // namespace

struct DenseInference::DeviceWeights {
  std::vector<torch::Tensor> weights_t;  // in × out (transposed views of out × in)
  std::vector<torch::Tensor> biases;
};

DenseInference::DenseInference(const std::vector<Matrix>& weights,
                               const std::vector<std::vector<float>>& biases, Activation activation,
                               const std::vector<float>& mean, const std::vector<float>& scale,
                               std::vector<std::int32_t> classes, std::size_t n_classes)
    : weights_(weights),
      biases_(biases),
      activation_(activation),
      classes_(std::move(classes)),
      n_classes_(n_classes) {
  DB_ASSERT(!weights_.empty() && weights_.size() == biases_.size());
  inputs_ = weights_.front().cols();
  DB_ASSERT(mean.size() == inputs_ && scale.size() == inputs_);
  DB_ASSERT(weights_.back().rows() == classes_.size());
  // Fold (x − mean) ⊙ scale into the first layer.
  Matrix& w0 = weights_.front();
  std::vector<float>& b0 = biases_.front();
  for (std::size_t o = 0; o < w0.rows(); ++o) {
    float* r = w0.row(o);
    double shift = 0.0;
    for (std::size_t j = 0; j < inputs_; ++j) {
      r[j] *= scale[j];
      shift += static_cast<double>(r[j]) * mean[j];
    }
    b0[o] = static_cast<float>(static_cast<double>(b0[o]) - shift);
  }
  // The CPU layout: each layer transposed (in × out), columns padded with zeros to kTile.
  for (std::size_t l = 0; l < weights_.size(); ++l) {
    const Matrix& w = weights_[l];
    const std::size_t pad = (w.rows() + kTile - 1) / kTile * kTile;
    std::vector<float> wt(w.cols() * pad, 0.0f), b(pad, 0.0f);
    for (std::size_t o = 0; o < w.rows(); ++o) {
      for (std::size_t j = 0; j < w.cols(); ++j) wt[j * pad + o] = w(o, j);
      b[o] = biases_[l][o];
    }
    wt_.push_back(std::move(wt));
    bias_pad_.push_back(std::move(b));
    out_pad_.push_back(pad);
  }
  identity_ = classes_.size() == n_classes_;
  for (std::size_t c = 0; identity_ && c < classes_.size(); ++c)
    identity_ = classes_[c] == static_cast<std::int32_t>(c);
}

DenseInference::~DenseInference() = default;

const DenseInference::DeviceWeights& DenseInference::on_device(int device_index) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [index, weights] : devices_)
    if (index == device_index) return *weights;
  auto dw = std::make_unique<DeviceWeights>();
  for (std::size_t l = 0; l < weights_.size(); ++l) {
    torch::Tensor w = view_of(weights_[l]), b = view_of(biases_[l]);
    if (device_index >= 0) {
      const torch::Device device(torch::kCUDA, static_cast<c10::DeviceIndex>(device_index));
      w = w.to(device);
      b = b.to(device);
    }
    dw->weights_t.push_back(w.t());
    dw->biases.push_back(b);
  }
  devices_.emplace_back(device_index, std::move(dw));
  return *devices_.back().second;
}

void DenseInference::predict_cpu(MatrixView x, Matrix& out, int threads) const {
  constexpr std::size_t kBlock = 64;  // rows per block: its activations stay in L2
  const std::size_t n = x.rows(), k = classes_.size(), layers = wt_.size();
  const std::size_t blocks = (n + kBlock - 1) / kBlock;
  std::size_t widest_pad = 0;
  for (std::size_t p : out_pad_) widest_pad = std::max(widest_pad, p);
  const std::size_t block_rows = std::min(n, kBlock);
  auto run_block = [&](std::size_t bb, std::vector<float>& a, std::vector<float>& b) {
    const std::size_t r0 = bb * kBlock, rows = std::min(kBlock, n - r0);
    const float* in = x.row(r0);
    std::size_t ld_in = x.cols();
    for (std::size_t l = 0; l < layers; ++l) {
      affine_rows(in, ld_in, rows, wt_[l].data(), bias_pad_[l].data(), weights_[l].cols(),
                  out_pad_[l], a.data(), out_pad_[l]);
      if (l + 1 < layers) {
        for (std::size_t r = 0; r < rows; ++r)
          activate(activation_, a.data() + r * out_pad_[l], weights_[l].rows());
        std::swap(a, b);
        in = b.data();
        ld_in = out_pad_[l];
      }
    }
    for (std::size_t r = 0; r < rows; ++r) {
      float* z = a.data() + r * out_pad_.back();
      softmax_inplace(z, k);
      float* dst = out.row(r0 + r);
      if (identity_) {
        std::memcpy(dst, z, k * sizeof(float));
      } else {
        for (std::size_t c = 0; c < k; ++c) dst[static_cast<std::size_t>(classes_[c])] = z[c];
      }
    }
  };
  if (blocks <= 1 || threads <= 1) {
    std::vector<float> a(block_rows * widest_pad), b(block_rows * widest_pad);
    for (std::size_t bb = 0; bb < blocks; ++bb) run_block(bb, a, b);
    return;
  }
#pragma omp parallel num_threads(static_cast <int>(std::min <std::size_t>(blocks, threads)))
  {
    std::vector<float> a(block_rows * widest_pad), b(block_rows * widest_pad);
#pragma omp for schedule(static)
    for (std::ptrdiff_t bb = 0; bb < static_cast<std::ptrdiff_t>(blocks); ++bb)
      run_block(static_cast<std::size_t>(bb), a, b);
  }
}

Matrix DenseInference::predict_proba(MatrixView x, const Context& ctx,
                                     std::int64_t chunk_rows) const {
  DB_ASSERT(x.cols() == inputs_ && chunk_rows > 0);
  const std::size_t n = x.rows(), k = classes_.size();
  Matrix out(n, n_classes_, 0.0f);
  if (n == 0) return out;
  const torch::Device device = device_of(ctx);
  if (!device.is_cuda()) {
    predict_cpu(x, out, std::max(1, ctx.threads));
    return out;
  }
  // CUDA: chunks of chunk_rows rows through pinned memory, each layer written into buffers
  // reused across chunks.
  if (torch::get_num_threads() != ctx.threads) torch::set_num_threads(ctx.threads);
  torch::NoGradGuard no_grad;
  const DeviceWeights& dw = on_device(device.index() < 0 ? 0 : device.index());
  const std::int64_t chunk = std::min<std::int64_t>(chunk_rows, static_cast<std::int64_t>(n));
  const auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  std::vector<torch::Tensor> act;
  for (const Matrix& w : weights_)
    act.push_back(torch::empty({chunk, static_cast<std::int64_t>(w.rows())}, opts));
  torch::Tensor proba = torch::empty({chunk, static_cast<std::int64_t>(k)}, opts);
  torch::Tensor staged = torch::empty({chunk, static_cast<std::int64_t>(inputs_)}, opts);
  for (std::size_t b = 0; b < n; b += static_cast<std::size_t>(chunk)) {
    const std::size_t e = std::min(b + static_cast<std::size_t>(chunk), n);
    const auto rows = static_cast<std::int64_t>(e - b);
    torch::Tensor in = staged.narrow(0, 0, rows);
    copy_to(in, view_of(x.slice_rows(b, e)));
    for (std::size_t l = 0; l < weights_.size(); ++l) {
      torch::Tensor o = act[l].narrow(0, 0, rows);
      at::addmm_out(o, dw.biases[l], in, dw.weights_t[l]);
      if (l + 1 < weights_.size()) activate_(activation_, o);
      in = o;
    }
    torch::Tensor p = proba.narrow(0, 0, rows);
    at::softmax_out(p, in, 1);
    const torch::Tensor host = p.to(torch::kCPU);
    const float* src = host.data_ptr<float>();
    if (identity_) {
      std::memcpy(out.row(b), src, static_cast<std::size_t>(rows) * k * sizeof(float));
      continue;
    }
    for (std::size_t i = b; i < e; ++i) {
      float* dst = out.row(i);
      const float* row = src + (i - b) * k;
      for (std::size_t c = 0; c < k; ++c) dst[static_cast<std::size_t>(classes_[c])] = row[c];
    }
  }
  return out;
}

}  // namespace deferbench::torch_util
