#include "models/torch/torch_util.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <optional>

#include "core/util/error.h"
#include "core/util/random.h"
#include "models/torch/device.h"
#include "models/torch/device_model_impl.h"

namespace deferbench::torch_util {

torch::Device device_of(const Context& ctx) {
  if (!ctx.is_cuda()) return torch::kCPU;
  check_cuda_device(ctx.device_index);  // a context made by hand may name a GPU that is not there
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(ctx.device_index));
}

void apply(const Context& ctx) {
  if (torch::get_num_threads() != ctx.threads) torch::set_num_threads(ctx.threads);
  torch::manual_seed(ctx.seed);
}

torch::Tensor to_global_columns(const torch::Tensor& p, const std::vector<std::int32_t>& classes,
                                std::size_t n_classes) {
  DB_ASSERT(p.dim() == 2 && static_cast<std::size_t>(p.size(1)) == classes.size());
  bool identity = classes.size() == n_classes;
  for (std::size_t c = 0; identity && c < classes.size(); ++c)
    identity = classes[c] == static_cast<std::int32_t>(c);
  if (identity) return p;
  const torch::Tensor index =
      torch::tensor(std::vector<std::int64_t>(classes.begin(), classes.end()), torch::kInt64)
          .to(p.device());
  return torch::zeros({p.size(0), static_cast<std::int64_t>(n_classes)}, p.options())
      .index_copy_(1, index, p);
}

torch::Tensor view_of(MatrixView m) {
  return torch::from_blob(const_cast<float*>(m.data()),
                          {static_cast<int64_t>(m.rows()), static_cast<int64_t>(m.cols())},
                          torch::TensorOptions().dtype(torch::kFloat32));
}

torch::Tensor view_of(const std::vector<float>& v) {
  return torch::from_blob(const_cast<float*>(v.data()), {static_cast<int64_t>(v.size())},
                          torch::TensorOptions().dtype(torch::kFloat32));
}

Matrix to_matrix(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kCPU, torch::kFloat32).contiguous();
  DB_ASSERT(c.dim() == 2);
  Matrix out(static_cast<std::size_t>(c.size(0)), static_cast<std::size_t>(c.size(1)));
  std::memcpy(out.data(), c.data_ptr<float>(), out.size() * sizeof(float));
  return out;
}

std::vector<float> to_vector(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kCPU, torch::kFloat32).contiguous();
  DB_ASSERT(c.dim() == 1);
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

void copy_to(torch::Tensor dst, const torch::Tensor& src, int threads) {
  if (!dst.is_cuda()) {
    dst.copy_(src);
    return;
  }
  torch::Tensor pinned = torch::empty(
      src.sizes(), torch::TensorOptions().dtype(src.scalar_type()).pinned_memory(true));
  const torch::Tensor from = src.contiguous();
  // Into pinned memory in parallel (one core's memcpy is several times slower than the bus).
  const auto* s = static_cast<const char*>(from.data_ptr());
  auto* d = static_cast<char*>(pinned.data_ptr());
  const std::size_t bytes = static_cast<std::size_t>(from.numel()) * from.element_size();
  const std::size_t parts =
      bytes < (std::size_t{8} << 20) ? 1 : static_cast<std::size_t>(std::max(1, threads));
  const std::size_t step = (bytes + parts - 1) / parts;
#pragma omp parallel for num_threads(static_cast <int>(parts)) schedule(static) if (parts > 1)
  for (std::ptrdiff_t p = 0; p < static_cast<std::ptrdiff_t>(parts); ++p) {
    const std::size_t b = static_cast<std::size_t>(p) * step, e = std::min(bytes, b + step);
    if (b < e) std::memcpy(d + b, s + b, e - b);
  }
  dst.copy_(pinned, /*non_blocking=*/true);
}

ScopedThreads::ScopedThreads(int threads) : saved_(torch::get_num_threads()) {
  if (threads != saved_) torch::set_num_threads(threads);
}

ScopedThreads::~ScopedThreads() {
  if (torch::get_num_threads() != saved_) torch::set_num_threads(saved_);
}

int threads_for_work(double work) {
  return work < kParallelWork ? 1 : torch::get_num_threads();
}

torch::Tensor standardized_on(MatrixView x, const std::vector<float>& mean,
                              const std::vector<float>& scale, torch::Device device,
                              std::int64_t chunk_rows) {
  DB_ASSERT(mean.size() == x.cols() && scale.size() == x.cols() && chunk_rows > 0);
  const auto n = static_cast<std::int64_t>(x.rows()), d = static_cast<std::int64_t>(x.cols());
  torch::Tensor out =
      torch::empty({n, d}, torch::TensorOptions().dtype(torch::kFloat32).device(device));
  torch::Tensor m = view_of(mean).to(device), s = view_of(scale).to(device);
  for (std::int64_t b = 0; b < n; b += chunk_rows) {
    const std::int64_t e = std::min(b + chunk_rows, n);
    torch::Tensor dst = out.slice(0, b, e);
    copy_to(dst, view_of(x.slice_rows(static_cast<std::size_t>(b), static_cast<std::size_t>(e))));
    dst.sub_(m).mul_(s);
  }
  return out;
}

TrainingTensors training_tensors(const Dataset& train, bool standardize, torch::Device device,
                                 std::int64_t chunk_rows, std::string_view model) {
  DB_CHECK(train.size() > 0, "{}: cannot fit on an empty training set", model);
  DB_CHECK(train.features.rows() == train.size(), "{}: the training set has no features", model);
  TrainingTensors t;
  CompactLabels labels = compact_labels(train.teacher);
  t.classes = labels.classes;
  if (standardize) {
    standardization(train.features, t.mean, t.scale);
  } else {
    t.mean.assign(train.features.cols(), 0.0f);
    t.scale.assign(train.features.cols(), 1.0f);
  }
  // The whole training set goes to the device once; minibatches are gathered there.
  t.x = standardized_on(train.features, t.mean, t.scale, device, chunk_rows);
  t.y = torch::from_blob(labels.index.data(), {static_cast<std::int64_t>(train.size())},
                         torch::kInt64)
            .to(device)
            .clone();
  return t;
}

DenseNetImpl::DenseNetImpl(std::int64_t in, const std::vector<std::int64_t>& hidden,
                           std::int64_t out, Activation act)
    : activation(act) {
  std::int64_t prev = in;
  for (std::size_t i = 0; i <= hidden.size(); ++i) {
    const std::int64_t next = i < hidden.size() ? hidden[i] : out;
    layers.push_back(register_module("fc" + std::to_string(i),
                                     torch::nn::Linear(torch::nn::LinearOptions(prev, next))));
    prev = next;
  }
}

torch::Tensor DenseNetImpl::forward(torch::Tensor x) {
  for (std::size_t i = 0; i < layers.size(); ++i) {
    x = layers[i]->forward(x);
    if (i + 1 == layers.size()) break;
    switch (activation) {
      case Activation::kRelu:
        x = torch::relu(x);
        break;
      case Activation::kTanh:
        x = torch::tanh(x);
        break;
      case Activation::kLogistic:
        x = torch::sigmoid(x);
        break;
    }
  }
  return x;
}

torch::Tensor DenseNetImpl::weight_sq_norm() const {
  torch::Tensor total = layers.front()->weight.pow(2).sum();
  for (std::size_t i = 1; i < layers.size(); ++i) total = total + layers[i]->weight.pow(2).sum();
  return total;
}

void initialize(DenseNet& net, Init init, std::uint64_t seed) {
  torch::NoGradGuard no_grad;
  std::vector<std::size_t> hidden;
  for (std::size_t l = 0; l + 1 < net->layers.size(); ++l)
    hidden.push_back(static_cast<std::size_t>(net->layers[l]->weight.size(0)));
  const DenseWeights w = initial_weights(
      static_cast<std::size_t>(net->layers.front()->weight.size(1)), hidden,
      static_cast<std::size_t>(net->layers.back()->weight.size(0)), net->activation, init, seed);
  for (std::size_t l = 0; l < net->layers.size(); ++l) {
    net->layers[l]->weight.copy_(view_of(w.weights[l]));
    net->layers[l]->bias.copy_(view_of(w.biases[l]));
  }
}

DenseWeights weights_of(const DenseNet& net) {
  DenseWeights w;
  for (const auto& layer : net->layers) {
    w.weights.push_back(to_matrix(layer->weight.detach()));
    w.biases.push_back(to_vector(layer->bias.detach()));
  }
  return w;
}

torch::Tensor summed_cross_entropy(const torch::Tensor& logits, const torch::Tensor& targets) {
  if (targets.dim() == 1)
    return torch::nn::functional::cross_entropy(
        logits, targets, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
  DB_ASSERT(targets.dim() == 2 && targets.sizes() == logits.sizes());
  return -(targets * torch::log_softmax(logits, 1)).sum();
}

double mean_cross_entropy(DenseNet& net, const torch::Tensor& x, const torch::Tensor& y,
                          std::int64_t chunk_rows) {
  torch::NoGradGuard no_grad;
  const std::int64_t n = x.size(0);
  if (n == 0) return 0.0;
  torch::Tensor total =
      torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(x.device()));
  for (std::int64_t b = 0; b < n; b += chunk_rows) {
    const std::int64_t e = std::min(b + chunk_rows, n);
    total +=
        summed_cross_entropy(net->forward(x.slice(0, b, e)), y.slice(0, b, e)).to(torch::kFloat64);
  }
  return total.item<double>() / static_cast<double>(n);
}

AdamReport train_adam(DenseNet& net, const torch::Tensor& x, const torch::Tensor& y,
                      const torch::Tensor& x_val, const torch::Tensor& y_val,
                      const AdamOptions& o) {
  AdamReport report;
  const std::int64_t n = x.size(0);
  DB_ASSERT(n > 0 && y.size(0) == n);
  const std::int64_t batch = std::max<std::int64_t>(1, std::min(o.batch_size, n));
  const bool has_val = x_val.defined() && x_val.size(0) > 0;
  const torch::Device device = x.device();
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(o.lr));
  Rng rng(o.shuffle_seed);
  std::vector<std::int64_t> perm(static_cast<std::size_t>(n));
  std::iota(perm.begin(), perm.end(), std::int64_t{0});
  std::vector<torch::Tensor> best_params;
  EpochMonitor monitor(o);

  // A minibatch step is many small kernels (see threads_for_work); the validation loss, over
  // large chunks, may still use every thread.
  std::int64_t widest = 0;
  for (const auto& layer : net->layers)
    widest = std::max(widest, layer->weight.size(0) * layer->weight.size(1));
  const int step_threads =
      threads_for_work(static_cast<double>(batch) * static_cast<double>(widest));
  for (int epoch = 1; epoch <= o.max_epochs; ++epoch) {
    std::optional<ScopedThreads> step_guard;
    step_guard.emplace(step_threads);
    net->train();
    rng.shuffle(perm.data(), perm.size());
    torch::Tensor order = torch::from_blob(perm.data(), {n}, torch::kInt64).to(device).clone();
    torch::Tensor total =
        torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
    for (std::int64_t b = 0; b < n; b += batch) {
      const std::int64_t e = std::min(b + batch, n);
      torch::Tensor idx = order.slice(0, b, e);
      torch::Tensor logits = net->forward(x.index_select(0, idx));
      // Class indices: PyTorch's mean cross-entropy; target weights: the mean row loss.
      torch::Tensor targets = y.index_select(0, idx);
      torch::Tensor loss = y.dim() == 1
                               ? torch::nn::functional::cross_entropy(logits, targets)
                               : summed_cross_entropy(logits, targets) / static_cast<double>(e - b);
      if (o.l2 > 0) {
        const double coef = o.l2_per_batch ? o.l2 / static_cast<double>(e - b) : o.l2;
        loss = loss + coef * net->weight_sq_norm();
      }
      opt.zero_grad();
      loss.backward();
      opt.step();
      total += loss.detach().to(torch::kFloat64) * static_cast<double>(e - b);
    }
    const double train_loss = total.item<double>() / static_cast<double>(n);
    DB_CHECK(std::isfinite(train_loss),
             "training diverged at epoch {} (loss is not finite); lower the learning rate 'lr'",
             epoch);
    report.train_loss.push_back(train_loss);
    report.epochs = epoch;
    step_guard.reset();
    double monitored = train_loss;
    if (has_val) {
      net->eval();
      monitored = mean_cross_entropy(net, x_val, y_val, o.eval_chunk);
      report.val_loss.push_back(monitored);
    }
    if (monitor.record(monitored)) {
      report.best_epoch = epoch;
      if (has_val) {
        best_params.clear();
        for (const auto& p : net->parameters()) best_params.push_back(p.detach().clone());
      }
    }
    if (monitor.stop()) {
      report.stopped_early = epoch < o.max_epochs;
      break;
    }
  }
  if (has_val && !best_params.empty()) {
    torch::NoGradGuard no_grad;
    auto params = net->parameters();
    for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(best_params[i]);
  } else {
    report.best_epoch = report.epochs;
  }
  net->eval();
  return report;
}

AdamReport train_adam_libtorch(DenseWeights& w, Activation activation, MatrixView x,
                               const RowTargets& y, MatrixView x_val, const RowTargets& y_val,
                               const AdamOptions& options, const Context& ctx) {
  DB_ASSERT(x.rows() > 0 && y.rows() == x.rows() && y_val.rows() == x_val.rows());
  DB_ASSERT(x_val.rows() == 0 || x_val.cols() == x.cols());
  DB_ASSERT(!w.weights.empty() && y.fits(w.weights.back().rows()) &&
            y_val.fits(w.weights.back().rows()));
  apply(ctx);
  const torch::Device device = device_of(ctx);
  std::vector<std::int64_t> hidden;
  for (std::size_t l = 0; l + 1 < w.weights.size(); ++l)
    hidden.push_back(static_cast<std::int64_t>(w.weights[l].rows()));
  DenseNet net(static_cast<std::int64_t>(x.cols()), hidden,
               static_cast<std::int64_t>(w.weights.back().rows()), activation);
  {
    torch::NoGradGuard no_grad;
    for (std::size_t l = 0; l < w.weights.size(); ++l) {
      net->layers[l]->weight.copy_(view_of(w.weights[l]));
      net->layers[l]->bias.copy_(view_of(w.biases[l]));
    }
  }
  net->to(device);
  // Class indices as int64 (copied), target weights as float (n × k).
  auto targets = [&](const RowTargets& t) {
    if (const std::vector<std::int64_t>* v = t.indices())
      return torch::from_blob(const_cast<std::int64_t*>(v->data()),
                              {static_cast<std::int64_t>(v->size())}, torch::kInt64)
          .to(device)
          .clone();
    return view_of(t.weights()).to(device);
  };
  // The data go to the device once (on the CPU, train_adam reads the host buffers in place).
  torch::Tensor xv, yv;
  if (x_val.rows() > 0) {
    xv = view_of(x_val).to(device);
    yv = targets(y_val);
  }
  AdamReport report = train_adam(net, view_of(x).to(device), targets(y), xv, yv, options);
  w = weights_of(net);
  return report;
}

}  // namespace deferbench::torch_util
