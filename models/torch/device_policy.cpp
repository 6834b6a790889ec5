#include "models/torch/device_policy.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>
#include <torch/cuda.h>

#include "core/util/error.h"
#include "models/torch/device_model_impl.h"
#include "models/torch/torch_util.h"

namespace deferbench {

using torch_util::TorchDeviceModel;

namespace {

std::shared_ptr<const TorchDeviceModel> torch_form(const Classifier& model) {
  return std::dynamic_pointer_cast<const TorchDeviceModel>(model.device_model());
}

// The smallest float ≥ t: for a float s, s ≥ t ⟺ s ≥ round_up(t).
float round_up(double t) {
  float f = static_cast<float>(t);
  if (static_cast<double>(f) < t) f = std::nextafter(f, std::numeric_limits<float>::infinity());
  return f;
}

// The largest float ≤ t: for a float s, s > t ⟺ s > round_down(t).
float round_down(double t) {
  float f = static_cast<float>(t);
  if (static_cast<double>(f) > t) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
  return f;
}

// A NeighbourIndex's training rows on the device.
struct DeviceNeighbours {
  torch::Tensor train;    // N × d float
  torch::Tensor norms;    // N float: ‖t‖² as the CPU computed them
  torch::Tensor teacher;  // N int64
};

// One stage on the device.
struct StageForm {
  std::shared_ptr<const TorchDeviceModel> surrogate, acceptor;
  bool has_acceptor = false;
  float constant = -1.0f;  // a constant acceptor's score; < 0: the acceptor model
  int knn = 0;             // > 0: the kNN agreement feature
  bool use_embedding = false;
  int ood_k = 0;  // > 0: the out-of-distribution guard
  float ood_max = 0.0f;
  std::shared_ptr<const DeviceNeighbours> neighbours;
  torch::Tensor thresholds;  // float, rounded up: one, or one per class
  bool per_class = false;
  std::size_t n_classes = 0;
  float inv_log_k = 0.0f;
};

}  // namespace

struct DevicePolicy::Compiled {
  std::vector<StageForm> stages;
  torch::Device device{torch::kCPU};
};

class DevicePolicy::Batch {
 public:
  torch::Tensor x;  // on the policy's device
};

std::string DevicePolicy::unsupported(const std::vector<Stage>& stages) {
  for (std::size_t s = 0; s < stages.size(); ++s) {
    const Stage& st = stages[s];
    if (!st.surrogate) return fmt::format("stage {}: no surrogate", s + 1);
    if (!torch_form(*st.surrogate))
      return fmt::format("stage {}: the surrogate '{}' has no device form", s + 1,
                         st.surrogate->name());
    if (st.thresholds.empty()) return fmt::format("stage {}: no threshold", s + 1);
    if (st.thresholds.size() != 1 && st.thresholds.size() != st.surrogate->n_classes())
      return fmt::format("stage {}: {} thresholds for {} classes", s + 1, st.thresholds.size(),
                         st.surrogate->n_classes());
    if (st.acceptor && st.acceptor->constant() < 0 && !torch_form(*st.acceptor->model()))
      return fmt::format("stage {}: the acceptor model '{}' has no device form", s + 1,
                         st.acceptor->model()->name());
  }
  return "";
}

DevicePolicy::DevicePolicy(const std::vector<Stage>& stages, const Context& ctx,
                           DevicePolicyOptions options)
    : compiled_(std::make_unique<Compiled>()), options_(options) {
  const std::string why = unsupported(stages);
  DB_CHECK(why.empty(), "device policy: {}", why);
  DB_CHECK(options_.chunk_rows > 0 && options_.knn_block_floats > 0,
           "device policy: chunk_rows and knn_block_floats must be positive");
  const torch::Device device = torch_util::device_of(ctx);
  compiled_->device = device;
  device_ = device.is_cuda() ? Device::kCuda : Device::kCpu;
  device_index_ = device.is_cuda() ? std::max<int>(0, device.index()) : -1;
  threads_ = std::max(1, ctx.threads);
  std::vector<std::pair<const NeighbourIndex*, std::shared_ptr<const DeviceNeighbours>>> shared;
  for (const Stage& st : stages) {
    StageForm f;
    f.surrogate = torch_form(*st.surrogate);
    f.n_classes = st.surrogate->n_classes();
    f.inv_log_k =
        f.n_classes > 1 ? static_cast<float>(1.0 / std::log(static_cast<double>(f.n_classes))) : 0;
    if (st.acceptor) {
      f.has_acceptor = true;
      if (st.acceptor->constant() >= 0)
        f.constant = static_cast<float>(st.acceptor->constant());
      else
        f.acceptor = torch_form(*st.acceptor->model());
    }
    f.use_embedding = st.use_embedding;
    if (st.neighbours) {
      f.knn = st.knn > 0 ? st.knn : 0;
      f.ood_k = st.ood_k > 0 ? st.ood_k : 0;
      f.ood_max = round_down(st.ood_max_distance);
      for (const auto& [index, dn] : shared)
        if (index == st.neighbours.get()) f.neighbours = dn;
      if (!f.neighbours && (f.knn > 0 || f.ood_k > 0)) {
        auto dn = std::make_shared<DeviceNeighbours>();
        const Matrix& train = st.neighbours->train();
        dn->train = torch_util::view_of(train.view()).to(device).clone();
        // ‖t‖² summed in double and rounded to float, as NeighbourIndex does.
        std::vector<float> norms(train.rows(), 0.0f);
        for (std::size_t t = 0; t < train.rows(); ++t) {
          double sq = 0.0;
          for (std::size_t j = 0; j < train.cols(); ++j)
            sq += static_cast<double>(train(t, j)) * train(t, j);
          norms[t] = static_cast<float>(sq);
        }
        dn->norms = torch_util::view_of(norms).to(device).clone();
        const std::vector<LabelId>& teacher = st.neighbours->teacher();
        dn->teacher =
            torch::tensor(std::vector<std::int64_t>(teacher.begin(), teacher.end()), torch::kInt64)
                .to(device);
        f.neighbours = dn;
        shared.emplace_back(st.neighbours.get(), dn);
      }
    }
    std::vector<float> thr;
    for (double t : st.thresholds) thr.push_back(round_up(t));
    f.per_class = thr.size() > 1;
    f.thresholds = torch_util::view_of(thr).to(device).clone();
    compiled_->stages.push_back(std::move(f));
  }
}

DevicePolicy::~DevicePolicy() = default;

std::size_t DevicePolicy::stages() const {
  return compiled_->stages.size();
}

namespace {

// For xs (m × d on the device): the agreement of each row's `knn` nearest training rows with
// pred (m int64), and the distance to its ood_k-th nearest; either left undefined when its k is 0.
void neighbour_features(const DeviceNeighbours& dn, const torch::Tensor& xs,
                        const torch::Tensor& pred, int knn, int ood_k, std::int64_t block_floats,
                        torch::Tensor& agreement, torch::Tensor& kth) {
  const std::int64_t m = xs.size(0), n_train = dn.train.size(0);
  if (n_train == 0) {  // as NeighbourIndex: zeros
    if (knn > 0) agreement = torch::zeros({m}, xs.options());
    if (ood_k > 0) kth = torch::zeros({m}, xs.options());
    return;
  }
  const std::int64_t k_knn = std::min<std::int64_t>(knn, n_train),
                     k_ood = std::min<std::int64_t>(ood_k, n_train), k = std::max(k_knn, k_ood);
  if (k == 0) return;
  const std::int64_t block = std::max<std::int64_t>(1, block_floats / n_train);
  std::vector<torch::Tensor> agree_parts, kth_parts;
  for (std::int64_t b = 0; b < m; b += block) {
    const std::int64_t rows = std::min(block, m - b);
    const torch::Tensor q = xs.narrow(0, b, rows);
    // ‖t‖² − 2 q·t per training row t (the query's own ‖q‖² does not change the order).
    const torch::Tensor dist = q.mm(dn.train.t()).mul_(-2.0f).add_(dn.norms);
    const torch::Tensor values = std::get<0>(dist.topk(k, 1, /*largest=*/false, /*sorted=*/true));
    if (k_knn > 0) {
      // The k_knn nearest as NeighbourIndex picks them: every row closer than the k-th distance
      // v, then rows at exactly v in index order (the lower training row wins a tie).
      const torch::Tensor v = values.select(1, k_knn - 1).unsqueeze(1);
      const torch::Tensor closer = dist < v, at = dist == v;
      const torch::Tensor need = k_knn - closer.sum(1, /*keepdim=*/true);
      const torch::Tensor taken = closer.logical_or(at.logical_and(at.cumsum(1).le(need)));
      const torch::Tensor same =
          taken.logical_and(dn.teacher.unsqueeze(0).eq(pred.narrow(0, b, rows).unsqueeze(1)));
      agree_parts.push_back(same.sum(1).to(torch::kFloat32).div_(static_cast<float>(k_knn)));
    }
    if (k_ood > 0) {
      const torch::Tensor qq = (q * q).sum(1);
      kth_parts.push_back(values.select(1, k_ood - 1).add(qq).clamp_min_(0.0f).sqrt_());
    }
  }
  if (k_knn > 0) agreement = torch::cat(agree_parts);
  if (k_ood > 0) kth = torch::cat(kth_parts);
}

// A stage's acceptor score of each row of xs given the surrogate's probabilities p and argmax
// pred (the guard applied: −∞ where it fires).
torch::Tensor stage_scores(const StageForm& f, const torch::Tensor& xs, const torch::Tensor& p,
                           const torch::Tensor& pred, std::int64_t block_floats) {
  const std::int64_t m = xs.size(0);
  torch::Tensor agreement, kth;
  if (f.neighbours)
    neighbour_features(*f.neighbours, xs, pred, f.acceptor ? f.knn : 0, f.ood_k, block_floats,
                       agreement, kth);
  torch::Tensor score;
  if (!f.has_acceptor) {
    score = torch::ones({m}, xs.options());
  } else if (f.constant >= 0.0f) {
    score = torch::full({m}, f.constant, xs.options());
  } else {
    // [top1, top2, top1 − top2, H(p) / ln K, (kNN agreement), (embedding)], as
    // acceptor_features().
    std::vector<torch::Tensor> cols;
    if (p.size(1) >= 2) {
      const torch::Tensor top = std::get<0>(p.topk(2, 1));
      cols.push_back(top.select(1, 0));
      cols.push_back(top.select(1, 1));
    } else {
      cols.push_back(p.select(1, 0).clamp_min(0.0f));
      cols.push_back(torch::zeros({m}, p.options()));
    }
    cols.push_back(cols[0] - cols[1]);
    if (f.n_classes > 1) {
      // −Σ p ln p (one kernel: entr is −x ln x, 0 at 0; the CPU leaves out denormal entries,
      // whose terms are below 1e-36).
      cols.push_back(torch::special::entr(p).sum(1).mul_(f.inv_log_k));
    } else {
      cols.push_back(torch::zeros({m}, p.options()));
    }
    if (agreement.defined()) cols.push_back(agreement);
    torch::Tensor features = torch::stack(cols, 1);
    if (f.use_embedding) features = torch::cat({features, xs}, 1);
    score = f.acceptor->proba(features).select(1, 1).contiguous();
  }
  if (kth.defined())
    score = torch::where(kth > f.ood_max,
                         torch::full_like(score, -std::numeric_limits<float>::infinity()), score);
  return score;
}

// route() of the rows of x (m × d on the device): m × 4 int32 on the device, per row the label
// (kNoLabel: deferred), the 0-based stage (−1: deferred), stage 1's prediction and the score's
// bits.
torch::Tensor route_chunk(const std::vector<StageForm>& stages, const torch::Tensor& x,
                          std::int64_t block_floats) {
  const std::int64_t m = x.size(0);
  const auto ints = x.options().dtype(torch::kInt32);
  torch::Tensor label = torch::full({m}, kNoLabel, ints), stage = torch::full({m}, -1, ints),
                first = torch::full({m}, kNoLabel, ints), score = torch::zeros({m}, x.options());
  torch::Tensor rows;  // the rows still in the policy (undefined: all)
  for (std::size_t s = 0; s < stages.size(); ++s) {
    if (rows.defined() && rows.size(0) == 0) break;
    const StageForm& f = stages[s];
    const torch::Tensor xs = rows.defined() ? x.index_select(0, rows) : x;
    const torch::Tensor p = f.surrogate->proba(xs);
    const torch::Tensor pred = p.argmax(1);  // the first maximum, as argmax_rows
    const torch::Tensor sc = stage_scores(f, xs, p, pred, block_floats);
    const torch::Tensor thr = f.per_class ? f.thresholds.index_select(0, pred) : f.thresholds;
    const torch::Tensor out = sc == -std::numeric_limits<float>::infinity();
    const torch::Tensor accept = sc.ge(thr).logical_and_(out.logical_not());
    const torch::Tensor pred32 = pred.to(torch::kInt32);
    const auto stage_id = static_cast<std::int32_t>(s);
    const bool last = s + 1 == stages.size();
    torch::Tensor still;
    if (!last) {
      still = accept.logical_not();
      if (s == 0) still.logical_and_(out.logical_not());  // guarded rows leave at stage 1
    }
    if (!rows.defined()) {
      if (s == 0) first = pred32;
      score = sc;
      label = torch::where(accept, pred32, label);
      stage = torch::where(accept, torch::full_like(stage, stage_id), stage);
      // (The rows left for the next stage: the one synchronization of a stage, skipped after
      // the last.)
      if (!last) rows = torch::nonzero(still).squeeze(1);
    } else {
      score.index_copy_(0, rows, sc);
      const torch::Tensor taken = rows.masked_select(accept);
      label.index_copy_(0, taken, pred32.masked_select(accept));
      stage.index_fill_(0, taken, stage_id);
      if (!last) rows = rows.masked_select(still);
    }
  }
  return torch::stack({label, stage, first, score.view(torch::kInt32)}, 1);
}

// Unpacks route_chunk's output (on the host) into rows [b, b + m) of r.
void unpack(const torch::Tensor& packed, std::size_t b, Routed& r) {
  const std::int32_t* v = packed.data_ptr<std::int32_t>();
  for (std::int64_t i = 0; i < packed.size(0); ++i, v += 4) {
    const std::size_t row = b + static_cast<std::size_t>(i);
    r.label[row] = v[0];
    r.stage[row] = v[1];
    r.first_prediction[row] = v[2];
    std::memcpy(&r.score[row], &v[3], sizeof(float));
  }
}

Routed empty_routed(std::size_t n) {
  Routed r;
  r.label.assign(n, kNoLabel);
  r.stage.assign(n, -1);
  r.score.assign(n, 0.0f);
  r.first_prediction.assign(n, kNoLabel);
  return r;
}

}  // namespace

Routed DevicePolicy::route(MatrixView x) const {
  const std::size_t n = x.rows();
  Routed r = empty_routed(n);
  if (n == 0) return r;
  if (torch::get_num_threads() != threads_) torch::set_num_threads(threads_);
  torch::NoGradGuard no_grad;
  const torch::Device device = compiled_->device;
  const std::int64_t chunk =
      std::min<std::int64_t>(options_.chunk_rows, static_cast<std::int64_t>(n));
  torch::Tensor staged;
  if (device.is_cuda())
    staged = torch::empty({chunk, static_cast<std::int64_t>(x.cols())},
                          torch::TensorOptions().dtype(torch::kFloat32).device(device));
  for (std::size_t b = 0; b < n; b += static_cast<std::size_t>(chunk)) {
    const std::size_t e = std::min(b + static_cast<std::size_t>(chunk), n);
    torch::Tensor xs = torch_util::view_of(x.slice_rows(b, e));
    if (device.is_cuda()) {
      torch::Tensor dst = staged.narrow(0, 0, static_cast<std::int64_t>(e - b));
      torch_util::copy_to(dst, xs, threads_);
      xs = dst;
    }
    unpack(route_chunk(compiled_->stages, xs, options_.knn_block_floats).to(torch::kCPU), b, r);
  }
  return r;
}

std::shared_ptr<const DevicePolicy::Batch> DevicePolicy::upload(MatrixView x) const {
  auto batch = std::make_shared<Batch>();
  batch->x = torch_util::view_of(x).to(compiled_->device).clone();
  return batch;
}

Routed DevicePolicy::route(const Batch& batch) const {
  const std::int64_t n = batch.x.size(0);
  Routed r = empty_routed(static_cast<std::size_t>(n));
  if (torch::get_num_threads() != threads_) torch::set_num_threads(threads_);
  torch::NoGradGuard no_grad;
  for (std::int64_t b = 0; b < n; b += options_.chunk_rows) {
    const std::int64_t rows = std::min(options_.chunk_rows, n - b);
    unpack(route_chunk(compiled_->stages, batch.x.narrow(0, b, rows), options_.knn_block_floats)
               .to(torch::kCPU),
           static_cast<std::size_t>(b), r);
  }
  return r;
}

double device_copy_read_bandwidth(const Context& ctx, std::size_t bytes, int reps) {
  const torch::Device device = torch_util::device_of(ctx);
  torch_util::ScopedThreads threads(std::max(1, ctx.threads));
  const auto n = static_cast<std::int64_t>(bytes / sizeof(float));
  const auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  const torch::Tensor src = torch::ones({n}, opts);
  torch::Tensor dst = torch::empty({n}, opts);
  auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize(device.index());
  };
  double best = 0.0;
  for (int r = -1; r < std::max(1, reps); ++r) {
    sync();
    const auto t0 = std::chrono::steady_clock::now();
    dst.copy_(src);
    sync();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r >= 0 && s > 0) best = std::max(best, static_cast<double>(n) * sizeof(float) / s);
  }
  return best;
}

Matrix device_predict_proba(const DeviceModel& model, MatrixView x, const Context& ctx) {
  const auto* form = dynamic_cast<const TorchDeviceModel*>(&model);
  DB_ASSERT(form);
  DB_CHECK(x.cols() == model.inputs(), "device model: expected {} feature columns, got {}",
           model.inputs(), x.cols());
  torch_util::ScopedThreads threads(std::max(1, ctx.threads));
  torch::NoGradGuard no_grad;
  const torch::Tensor xs = torch_util::view_of(x).to(torch_util::device_of(ctx));
  return torch_util::to_matrix(form->proba(xs));
}

}  // namespace deferbench
