#include "models/torch/dense_inference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/util/error.h"
#include "models/torch/torch_util.h"

namespace deferbench::torch_util {

namespace {

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
