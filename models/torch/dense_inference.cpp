#include "models/torch/dense_inference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/util/error.h"
#include "models/torch/device_model_impl.h"
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
  torch::Dtype dtype = torch::kFloat32;  // the layers' arithmetic
};

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
    if (precision_ == Precision::kBFloat16) {  // exact: the values are bf16 already
      w = w.to(torch::kBFloat16);
      b = b.to(torch::kBFloat16);
    }
    dw->weights_t.push_back(w.t());
    dw->biases.push_back(b);
  }
  dw->dtype = precision_ == Precision::kBFloat16 ? torch::kBFloat16 : torch::kFloat32;
  devices_.emplace_back(device_index, std::move(dw));
  return *devices_.back().second;
}

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

namespace {

// The network on x (rows × inputs, float, on dw's device): rows × k float probabilities over the
// network's classes. bf16 weights: x is rounded to bf16 and every layer runs in bf16 (float
// accumulation), the softmax in float.
torch::Tensor forward(const DenseInference::DeviceWeights& dw, Activation activation,
                      const torch::Tensor& x) {
  torch::Tensor in = x.scalar_type() == dw.dtype ? x : x.to(dw.dtype);
  for (std::size_t l = 0; l < dw.weights_t.size(); ++l) {
    in = torch::addmm(dw.biases[l], in, dw.weights_t[l]);
    if (l + 1 < dw.weights_t.size()) activate_(activation, in);
  }
  return torch::softmax(in.scalar_type() == torch::kFloat32 ? in : in.to(torch::kFloat32), 1);
}

class DenseDeviceModel final : public TorchDeviceModel {
 public:
  explicit DenseDeviceModel(std::shared_ptr<const DenseInference> inference,
                            std::vector<std::int32_t> classes, Activation activation)
      : inference_(std::move(inference)), classes_(std::move(classes)), activation_(activation) {}
  std::size_t inputs() const override { return inference_->inputs(); }
  std::size_t n_classes() const override { return inference_->n_classes(); }
  torch::Tensor proba(const torch::Tensor& x) const override {
    DB_ASSERT(x.dim() == 2 && static_cast<std::size_t>(x.size(1)) == inputs());
    torch::NoGradGuard no_grad;
    const DenseInference::DeviceWeights& dw = inference_->on_device(cache_index(x));
    return to_global_columns(forward(dw, activation_, x), classes_, n_classes());
  }

 private:
  std::shared_ptr<const DenseInference> inference_;
  std::vector<std::int32_t> classes_;
  Activation activation_;
};

}  // namespace

std::shared_ptr<const DeviceModel> dense_device_model(
    std::shared_ptr<const DenseInference> inference) {
  DB_ASSERT(inference);
  std::vector<std::int32_t> classes = inference->classes();
  const Activation activation = inference->activation();
  return std::make_shared<DenseDeviceModel>(std::move(inference), std::move(classes), activation);
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
  // CUDA: chunks of chunk_rows rows through pinned memory into one staging buffer.
  if (torch::get_num_threads() != ctx.threads) torch::set_num_threads(ctx.threads);
  torch::NoGradGuard no_grad;
  const DeviceWeights& dw = on_device(device.index() < 0 ? 0 : device.index());
  const std::int64_t chunk = std::min<std::int64_t>(chunk_rows, static_cast<std::int64_t>(n));
  torch::Tensor staged = torch::empty({chunk, static_cast<std::int64_t>(inputs_)},
                                      torch::TensorOptions().dtype(torch::kFloat32).device(device));
  for (std::size_t b = 0; b < n; b += static_cast<std::size_t>(chunk)) {
    const std::size_t e = std::min(b + static_cast<std::size_t>(chunk), n);
    const auto rows = static_cast<std::int64_t>(e - b);
    torch::Tensor in = staged.narrow(0, 0, rows);
    copy_to(in, view_of(x.slice_rows(b, e)), ctx.threads);
    const torch::Tensor host = forward(dw, activation_, in).to(torch::kCPU);
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
