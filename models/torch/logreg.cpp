#include "models/torch/logreg.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "core/config/fields.h"
#include "core/util/atomic_file.h"
#include "core/util/binary_io.h"
#include "core/util/error.h"
#include "models/registry.h"
#include "models/torch/torch_util.h"

namespace deferbench {

LogRegParams LogRegParams::from_yaml(const YAML::Node& node, const std::string& path) {
  LogRegParams p;
  FieldReader r(node, path);
  r.allow("name");
  p.C = r.get_double("C", p.C, 1e-6, 1e6);
  p.max_iter = static_cast<int>(r.get_int("max_iter", p.max_iter, 1, 100000));
  p.tol = r.get_double("tol", p.tol, 0.0, 1.0);
  p.standardize = r.get_bool("standardize", p.standardize);
  p.batch_rows = static_cast<int>(r.get_int("batch_rows", p.batch_rows, 1, 1 << 24));
  r.finish();
  return p;
}

TorchLogReg::TorchLogReg(LogRegParams params) : params_(params) {}
TorchLogReg::~TorchLogReg() = default;

namespace {

// Column means and 1/std over the rows of x (std 0 → scale 1), in double for stability.
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

torch::Tensor as_tensor(const std::vector<float>& v) {
  return torch::from_blob(const_cast<float*>(v.data()), {static_cast<int64_t>(v.size())},
                          torch::kFloat32);
}

}  // namespace

void TorchLogReg::fit(const Dataset& train, const Dataset* /*val*/, const Context& ctx) {
  DB_CHECK(train.size() > 0, "logreg: cannot fit on an empty training set");
  DB_CHECK(train.features.rows() == train.size(), "logreg: the training set has no features");
  torch_util::apply(ctx);
  const torch::Device device = torch_util::device_of(ctx);
  n_classes_ = train.n_classes();
  const std::size_t n = train.size(), d = train.features.cols();

  // Train over the classes present only; the others get probability zero at prediction.
  classes_ = train.teacher;
  std::sort(classes_.begin(), classes_.end());
  classes_.erase(std::unique(classes_.begin(), classes_.end()), classes_.end());
  std::vector<int64_t> compact(n);
  for (std::size_t i = 0; i < n; ++i)
    compact[i] =
        std::lower_bound(classes_.begin(), classes_.end(), train.teacher[i]) - classes_.begin();
  const int64_t k = static_cast<int64_t>(classes_.size());

  if (params_.standardize) {
    standardization(train.features, mean_, scale_);
  } else {
    mean_.assign(d, 0.0f);
    scale_.assign(d, 1.0f);
  }

  torch::Tensor x =
      ((torch_util::view_of(train.features) - as_tensor(mean_)) * as_tensor(scale_)).to(device);
  torch::Tensor y =
      torch::from_blob(compact.data(), {static_cast<int64_t>(n)}, torch::kInt64).to(device);

  auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  torch::Tensor w = torch::zeros({k, static_cast<int64_t>(d)}, opts).requires_grad_(true);
  torch::Tensor b = torch::zeros({k}, opts).requires_grad_(true);

  if (k > 1) {
    // Objective scaled by 1/(C n): mean cross-entropy + ‖W‖² / (2 C n). Same minimizer.
    const double reg = 1.0 / (2.0 * params_.C * static_cast<double>(n));
    const int64_t chunk = params_.batch_rows;
    torch::optim::LBFGS opt(std::vector<torch::Tensor>{w, b},
                            torch::optim::LBFGSOptions(1.0)
                                .max_iter(params_.max_iter)
                                .max_eval(params_.max_iter * 5 / 4 + 1)
                                .tolerance_grad(params_.tol)
                                .tolerance_change(1e-10)
                                .history_size(10)
                                .line_search_fn("strong_wolfe"));
    auto closure = [&]() -> torch::Tensor {
      opt.zero_grad();
      double total = 0.0;
      for (int64_t s = 0; s < static_cast<int64_t>(n); s += chunk) {
        int64_t e = std::min<int64_t>(s + chunk, static_cast<int64_t>(n));
        torch::Tensor logits = torch::addmm(b, x.slice(0, s, e), w.t());
        torch::Tensor loss =
            torch::nn::functional::cross_entropy(
                logits, y.slice(0, s, e),
                torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)) /
            static_cast<double>(n);
        loss.backward();
        total += loss.item<double>();
      }
      torch::Tensor penalty = reg * w.pow(2).sum();
      penalty.backward();
      total += penalty.item<double>();
      return torch::tensor(total, torch::kFloat64);
    };
    opt.step(closure);
  }
  weight_ = torch_util::to_matrix(w.detach());
  torch::Tensor bc = b.detach().to(torch::kCPU).contiguous();
  bias_.assign(bc.data_ptr<float>(), bc.data_ptr<float>() + k);
}

Matrix TorchLogReg::predict_proba(MatrixView x, const Context& ctx) const {
  DB_CHECK(!classes_.empty(), "logreg: predict_proba called before fit or load");
  DB_CHECK(x.cols() == mean_.size(), "logreg: expected {} feature columns, got {}", mean_.size(),
           x.cols());
  torch_util::apply(ctx);
  torch::NoGradGuard no_grad;
  const torch::Device device = torch_util::device_of(ctx);
  const std::size_t n = x.rows(), k = classes_.size();
  Matrix out(n, n_classes_, 0.0f);
  torch::Tensor mean = as_tensor(mean_).to(device), scale = as_tensor(scale_).to(device);
  torch::Tensor w = torch_util::view_of(weight_).to(device);
  torch::Tensor b = as_tensor(bias_).to(device);
  const std::size_t chunk = static_cast<std::size_t>(params_.batch_rows);
  for (std::size_t s = 0; s < n; s += chunk) {
    std::size_t e = std::min(s + chunk, n);
    torch::Tensor xs = (torch_util::view_of(x.slice_rows(s, e)).to(device) - mean) * scale;
    torch::Tensor p = torch::softmax(torch::addmm(b, xs, w.t()), 1).to(torch::kCPU).contiguous();
    const float* src = p.data_ptr<float>();
    for (std::size_t i = s; i < e; ++i)
      for (std::size_t c = 0; c < k; ++c)
        out(i, static_cast<std::size_t>(classes_[c])) = src[(i - s) * k + c];
  }
  return out;
}

void TorchLogReg::save(const std::filesystem::path& path) const {
  AtomicFile file(path);
  BinaryWriter w(file.stream());
  w.header(kModelFileMagic, 1);
  w.string("logreg");
  w.pod(params_.C);
  w.pod(params_.max_iter);
  w.pod(params_.tol);
  w.pod(static_cast<std::uint8_t>(params_.standardize));
  w.pod(params_.batch_rows);
  w.pod<std::uint64_t>(n_classes_);
  w.vector(classes_);
  w.vector(mean_);
  w.vector(scale_);
  w.matrix(weight_);
  w.vector(bias_);
  file.commit();
}

std::unique_ptr<TorchLogReg> TorchLogReg::load(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail({path.string(), 0, ""}, "cannot open model file");
  BinaryReader r(in, path.string());
  r.header(kModelFileMagic, 1);
  std::string name = r.string();
  if (name != "logreg") fail({path.string(), 0, "model"}, "expected logreg, got " + name);
  LogRegParams p;
  p.C = r.pod<double>();
  p.max_iter = r.pod<int>();
  p.tol = r.pod<double>();
  p.standardize = r.pod<std::uint8_t>() != 0;
  p.batch_rows = r.pod<int>();
  auto model = std::make_unique<TorchLogReg>(p);
  model->n_classes_ = r.pod<std::uint64_t>();
  model->classes_ = r.vector<std::int32_t>();
  model->mean_ = r.vector<float>();
  model->scale_ = r.vector<float>();
  model->weight_ = r.matrix();
  model->bias_ = r.vector<float>();
  if (model->weight_.rows() != model->classes_.size() ||
      model->weight_.cols() != model->mean_.size() || model->bias_.size() != model->classes_.size())
    fail({path.string(), 0, ""}, "logreg model file is inconsistent (corrupt?)");
  return model;
}

}  // namespace deferbench
