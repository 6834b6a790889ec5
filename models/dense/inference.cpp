#include "models/dense/inference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/util/error.h"
#include "models/torch/dense_device.h"

namespace deferbench::dense {

void check_dense_shapes(const BinaryReader& r, const std::string& model,
                        const std::vector<float>& mean, const std::vector<float>& scale,
                        const std::vector<Matrix>& weights,
                        const std::vector<std::vector<float>>& biases,
                        const std::vector<int>& hidden, std::size_t n_classes_predicted,
                        const std::string& weights_field, const std::string& bias_field) {
  DB_ASSERT(weights.size() == hidden.size() + 1 && biases.size() == weights.size());
  const std::size_t inputs = mean.size();
  if (scale.size() != inputs)
    fail({r.source(), 0, "scale"},
         fmt::format("{} model: expected {} values (one per input, as 'mean' has), got {}", model,
                     inputs, scale.size()));
  std::size_t in = inputs;
  for (std::size_t l = 0; l < weights.size(); ++l) {
    const bool last = l + 1 == weights.size();
    const std::size_t out = last ? n_classes_predicted : static_cast<std::size_t>(hidden[l]);
    const std::string layer = weights.size() > 1 ? fmt::format("[{}]", l) : std::string();
    const std::string what =
        last ? fmt::format("{} classes", out) : fmt::format("hidden layer {}'s width", l + 1);
    const std::string from = l == 0 ? "inputs ('mean')" : fmt::format("layer {}'s outputs", l);
    if (weights[l].rows() != out || weights[l].cols() != in)
      fail({r.source(), 0, weights_field + layer},
           fmt::format("{} model: expected a {} × {} matrix ({} × {}), got {} × {}", model, out, in,
                       what, from, weights[l].rows(), weights[l].cols()));
    if (biases[l].size() != out)
      fail({r.source(), 0, bias_field + layer},
           fmt::format("{} model: expected {} values ({}), got {}", model, out, what,
                       biases[l].size()));
    in = out;
  }
}

DenseInference::DenseInference(const std::vector<Matrix>& weights,
                               const std::vector<std::vector<float>>& biases, Activation activation,
                               const std::vector<float>& mean, const std::vector<float>& scale,
                               std::vector<std::int32_t> classes, std::size_t n_classes,
                               Precision precision)
    : weights_(weights),
      biases_(biases),
      activation_(activation),
      classes_(std::move(classes)),
      n_classes_(n_classes),
      precision_(precision) {
  DB_ASSERT(!weights_.empty() && weights_.size() == biases_.size());
  inputs_ = weights_.front().cols();
  DB_ASSERT(mean.size() == inputs_ && scale.size() == inputs_);
  DB_ASSERT(weights_.back().rows() == classes_.size());
  for (std::size_t l = 0; l < weights_.size(); ++l)
    DB_ASSERT(biases_[l].size() == weights_[l].rows() &&
              (l == 0 || weights_[l].cols() == weights_[l - 1].rows()));
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
  // bf16: the (folded) layers as bfloat16 values, on every device alike.
  if (precision_ == Precision::kBFloat16) {
    for (std::size_t l = 0; l < weights_.size(); ++l) {
      round_bf16(weights_[l].data(), weights_[l].size());
      round_bf16(biases_[l].data(), biases_[l].size());
    }
  }
  // The CPU layout: each layer transposed (in × out), columns padded with zeros to kColumnTile.
  for (std::size_t l = 0; l < weights_.size(); ++l) {
    const Matrix& w = weights_[l];
    const std::size_t pad = padded_columns(w.rows());
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

void DenseInference::predict_cpu(MatrixView x, Matrix& out, int threads) const {
  constexpr std::size_t kBlock = 64;  // rows per block: its activations stay in L2
  const std::size_t n = x.rows(), k = classes_.size(), layers = wt_.size();
  const std::size_t blocks = (n + kBlock - 1) / kBlock;
  const bool bf16 = precision_ == Precision::kBFloat16;
  std::size_t widest_pad = 0;
  for (std::size_t p : out_pad_) widest_pad = std::max(widest_pad, p);
  const std::size_t block_rows = std::min(n, kBlock);
  // a, b: a block's activations; r: its input rows rounded to bf16 (bf16 only).
  auto run_block = [&](std::size_t bb, std::vector<float>& a, std::vector<float>& b,
                       std::vector<float>& r) {
    const std::size_t r0 = bb * kBlock, rows = std::min(kBlock, n - r0);
    const float* in = x.row(r0);
    std::size_t ld_in = x.cols();
    if (bf16) {
      std::copy_n(in, rows * ld_in, r.data());
      round_bf16(r.data(), rows * ld_in);
      in = r.data();
    }
    for (std::size_t l = 0; l < layers; ++l) {
      affine_rows(in, ld_in, rows, wt_[l].data(), bias_pad_[l].data(), weights_[l].cols(),
                  out_pad_[l], a.data(), out_pad_[l]);
      for (std::size_t i = 0; i < rows; ++i) {
        float* o = a.data() + i * out_pad_[l];
        const std::size_t width = weights_[l].rows();
        if (bf16) round_bf16(o, width);
        if (l + 1 < layers) {
          activate(activation_, o, width);
          if (bf16) round_bf16(o, width);
        }
      }
      if (l + 1 < layers) {
        std::swap(a, b);
        in = b.data();
        ld_in = out_pad_[l];
      }
    }
    for (std::size_t i = 0; i < rows; ++i) {
      float* z = a.data() + i * out_pad_.back();
      softmax_inplace(z, k);
      float* dst = out.row(r0 + i);
      if (identity_) {
        std::memcpy(dst, z, k * sizeof(float));
      } else {
        for (std::size_t c = 0; c < k; ++c) dst[static_cast<std::size_t>(classes_[c])] = z[c];
      }
    }
  };
  const std::size_t rounded = bf16 ? block_rows * x.cols() : 0;
  if (blocks <= 1 || threads <= 1) {
    std::vector<float> a(block_rows * widest_pad), b(block_rows * widest_pad), r(rounded);
    for (std::size_t bb = 0; bb < blocks; ++bb) run_block(bb, a, b, r);
    return;
  }
#pragma omp parallel num_threads(static_cast <int>(std::min <std::size_t>(blocks, threads)))
  {
    std::vector<float> a(block_rows * widest_pad), b(block_rows * widest_pad), r(rounded);
#pragma omp for schedule(static)
    for (std::ptrdiff_t bb = 0; bb < static_cast<std::ptrdiff_t>(blocks); ++bb)
      run_block(static_cast<std::size_t>(bb), a, b, r);
  }
}

Matrix DenseInference::predict_proba(MatrixView x, const Context& ctx,
                                     std::int64_t chunk_rows) const {
  DB_ASSERT(x.cols() == inputs_ && chunk_rows > 0);
  return ctx.dispatch(
      [&] {
        Matrix out(x.rows(), n_classes_, 0.0f);
        if (x.rows() > 0) predict_cpu(x, out, std::max(1, ctx.threads));
        return out;
      },
      [&] { return torch_util::dense_predict_on_device(*this, x, ctx, chunk_rows); });
}

}  // namespace deferbench::dense
