#include "models/torch/dense_device.h"

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

// The layers of a DenseInference on one device.
struct DenseDeviceWeights {
  std::vector<torch::Tensor> weights_t;  // in × out (transposed views of out × in)
  std::vector<torch::Tensor> biases;
  torch::Dtype dtype = torch::kFloat32;  // the layers' arithmetic
};

namespace {

const DenseDeviceWeights& on_device(const DenseInference& inference, int device_index) {
  return inference.device_cache().get<DenseDeviceWeights>(device_index, [&] {
    const std::vector<Matrix>& weights_ = inference.layer_weights();
    const std::vector<std::vector<float>>& biases_ = inference.layer_biases();
    const Precision precision_ = inference.precision();
    auto dw = std::make_shared<DenseDeviceWeights>();
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
    return dw;
  });
}

}  // namespace

namespace {

// The network on x (rows × inputs, float, on dw's device): rows × k float probabilities over the
// network's classes. bf16 weights: x is rounded to bf16 and every layer runs in bf16 (float
// accumulation), the softmax in float.
torch::Tensor forward(const DenseDeviceWeights& dw, Activation activation, const torch::Tensor& x) {
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
    const DenseDeviceWeights& dw = on_device(*inference_, cache_index(x));
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

Matrix dense_predict_on_device(const DenseInference& inference, MatrixView x, const Context& ctx,
                               std::int64_t chunk_rows) {
  const std::size_t inputs_ = inference.inputs(), n_classes_ = inference.n_classes();
  const std::vector<std::int32_t>& classes_ = inference.classes();
  const bool identity_ = inference.identity_classes();
  const Activation activation_ = inference.activation();
  DB_ASSERT(x.cols() == inputs_ && chunk_rows > 0);
  const std::size_t n = x.rows(), k = classes_.size();
  Matrix out(n, n_classes_, 0.0f);
  if (n == 0) return out;
  const torch::Device device = device_of(ctx);
  // CUDA: chunks of chunk_rows rows through pinned memory into one staging buffer.
  if (torch::get_num_threads() != ctx.threads) torch::set_num_threads(ctx.threads);
  torch::NoGradGuard no_grad;
  const DenseDeviceWeights& dw = on_device(inference, device.index() < 0 ? 0 : device.index());
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

namespace {

// Full-batch L-BFGS on (1/n) Σ_i CE(w x_i + b, targets_i) + ‖w‖² / (2 C n) from the values in w
// (k × d) and b (k), on their device; targets: class indices or target weights
// (summed_cross_entropy). The gradient is accumulated over chunks of `chunk` rows. Returns the
// iterations run.
int minimize_linear(torch::Tensor& w, torch::Tensor& b, const torch::Tensor& x,
                    const torch::Tensor& targets, double C, std::int64_t chunk,
                    const LbfgsOptions& lo) {
  const std::int64_t n = x.size(0);
  const double reg = 1.0 / (2.0 * C * static_cast<double>(n));
  w.requires_grad_(true);
  b.requires_grad_(true);
  torch::optim::LBFGS opt(std::vector<torch::Tensor>{w, b},
                          torch::optim::LBFGSOptions(lo.lr)
                              .max_iter(lo.max_iter)
                              .max_eval(lo.max_eval)
                              .tolerance_grad(lo.tolerance_grad)
                              .tolerance_change(lo.tolerance_change)
                              .history_size(lo.history)
                              .line_search_fn("strong_wolfe"));
  auto closure = [&]() -> torch::Tensor {
    opt.zero_grad();
    double total = 0.0;
    for (std::int64_t s = 0; s < n; s += chunk) {
      const std::int64_t e = std::min<std::int64_t>(s + chunk, n);
      torch::Tensor logits = torch::addmm(b, x.slice(0, s, e), w.t());
      torch::Tensor loss =
          summed_cross_entropy(logits, targets.slice(0, s, e)) / static_cast<double>(n);
      loss.backward();
      total += loss.item<double>();
    }
    torch::Tensor penalty = reg * w.pow(2).sum();
    penalty.backward();
    total += penalty.item<double>();
    return torch::tensor(total, torch::kFloat64);
  };
  opt.step(closure);
  // LBFGS keeps its one state under its first parameter (the key's type varies by version).
  int iterations = 0;
  for (const auto& entry : opt.state())
    iterations =
        static_cast<int>(static_cast<const torch::optim::LBFGSParamState&>(*entry.second).n_iter());
  return iterations;
}

}  // namespace

LogRegFit fit_logreg_lbfgs(const Dataset& train, bool standardize, double C,
                           std::int64_t batch_rows, const LbfgsOptions& lo, const Context& ctx,
                           const WarmStart* start) {
  const torch::Device device = device_of(ctx);
  apply(ctx);
  TrainingTensors data = training_tensors(train, standardize, device, batch_rows, "logreg");
  LogRegFit fit;
  fit.classes = data.classes;
  fit.mean = data.mean;
  fit.scale = data.scale;
  const std::size_t d = train.features.cols();
  const auto k = static_cast<std::int64_t>(fit.classes.size());
  auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  torch::Tensor w = torch::zeros({k, static_cast<std::int64_t>(d)}, opts);
  torch::Tensor b = torch::zeros({k}, opts);
  if (start != nullptr) {
    const DenseWeights init = warm_weights(*start, fit.classes, fit.mean, fit.scale);
    copy_to(w, view_of(init.weights.front().view()));
    copy_to(b, view_of(init.biases.front()));
  }
  if (k > 1) fit.iterations = minimize_linear(w, b, data.x, data.y, C, batch_rows, lo);
  fit.weight = to_matrix(w.detach());
  fit.bias = to_vector(b.detach());
  return fit;
}

LogRegFit fit_logreg_lbfgs_weighted(MatrixView x, MatrixView weights, double C,
                                    std::int64_t batch_rows, const LbfgsOptions& lo,
                                    const Context& ctx) {
  DB_ASSERT(x.rows() > 0 && weights.rows() == x.rows() && weights.cols() > 0 && batch_rows > 0);
  const torch::Device device = device_of(ctx);
  apply(ctx);
  const auto n = static_cast<std::int64_t>(x.rows()), d = static_cast<std::int64_t>(x.cols()),
             k = static_cast<std::int64_t>(weights.cols());
  auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  torch::Tensor w = torch::zeros({k, d}, opts), b = torch::zeros({k}, opts);
  LogRegFit fit;
  if (k > 1) {
    // The features and the weights go to the device once, in chunks (on the CPU: copies).
    torch::Tensor xt = torch::empty({n, d}, opts), wt = torch::empty({n, k}, opts);
    for (std::int64_t s = 0; s < n; s += batch_rows) {
      const std::int64_t e = std::min(s + batch_rows, n);
      const auto s_ = static_cast<std::size_t>(s), e_ = static_cast<std::size_t>(e);
      copy_to(xt.slice(0, s, e), view_of(x.slice_rows(s_, e_)), ctx.threads);
      copy_to(wt.slice(0, s, e), view_of(weights.slice_rows(s_, e_)), ctx.threads);
    }
    fit.iterations = minimize_linear(w, b, xt, wt, C, batch_rows, lo);
  }
  fit.weight = to_matrix(w.detach());
  fit.bias = to_vector(b.detach());
  return fit;
}

}  // namespace deferbench::torch_util
