#include "models/torch/tree_tensors.h"

#include <utility>

#include "core/util/error.h"
#include "models/torch/device_model_impl.h"
#include "models/torch/torch_util.h"

namespace deferbench::torch_util {

struct TensorTrees::DeviceArrays {
  torch::Tensor feature, threshold, left, right, roots, leaves, init;
};

TensorTrees::TensorTrees(FlatTrees trees) : trees_(std::move(trees)) {
  const std::size_t n = trees_.feature.size();
  DB_ASSERT(trees_.threshold.size() == n && trees_.left.size() == n && trees_.right.size() == n);
  DB_ASSERT(!trees_.roots.empty() && trees_.k > 0 && trees_.leaves.size() % trees_.k == 0);
  if (trees_.init.empty()) trees_.init.assign(trees_.k, 0.0);
  DB_ASSERT(trees_.init.size() == trees_.k);
}

TensorTrees::~TensorTrees() = default;

const TensorTrees::DeviceArrays& TensorTrees::on_device(int device_index) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [index, arrays] : devices_)
    if (index == device_index) return *arrays;
  const torch::Device device =
      device_index < 0 ? torch::Device(torch::kCPU) : torch::Device(torch::kCUDA, device_index);
  auto ints = [&](const std::vector<std::int32_t>& v) {
    return torch::from_blob(const_cast<std::int32_t*>(v.data()),
                            {static_cast<std::int64_t>(v.size())}, torch::kInt32)
        .to(torch::kInt64)
        .to(device);
  };
  auto a = std::make_unique<DeviceArrays>();
  a->feature = ints(trees_.feature);
  a->left = ints(trees_.left);
  a->right = ints(trees_.right);
  a->roots = ints(trees_.roots);
  a->threshold = view_of(trees_.threshold).to(device).clone();
  const auto leaves = static_cast<std::int64_t>(trees_.leaves.size() / trees_.k);
  a->leaves = torch::from_blob(const_cast<double*>(trees_.leaves.data()),
                               {leaves, static_cast<std::int64_t>(trees_.k)}, torch::kFloat64)
                  .to(trees_.double_sums ? torch::kFloat64 : torch::kFloat32)
                  .to(device)
                  .clone();
  a->init = torch::from_blob(const_cast<double*>(trees_.init.data()),
                             {1, static_cast<std::int64_t>(trees_.k)}, torch::kFloat64)
                .to(a->leaves.scalar_type())
                .to(device)
                .clone();
  devices_.emplace_back(device_index, std::move(a));
  return *devices_.back().second;
}

namespace {

// init + Σ over trees of each row's leaf contributions for xs (m × d float on a's device):
// m × k in the sums' precision, on that device.
torch::Tensor leaf_sums(const FlatTrees& trees, const TensorTrees::DeviceArrays& a,
                        const torch::Tensor& xs) {
  const std::int64_t m = xs.size(0), T = static_cast<std::int64_t>(trees.roots.size()),
                     K = static_cast<std::int64_t>(trees.k);
  // Every (row, tree) pair descends one level per step; pairs on a leaf stay.
  // (A copy: for one row, contiguous() of the expanded arrays would be the arrays themselves.)
  torch::Tensor node = a.roots.unsqueeze(0).expand({m, T}).clone();
  for (int level = 0; level < trees.depth; ++level) {
    const torch::Tensor f = a.feature.take(node);
    const torch::Tensor value = xs.gather(1, f.clamp_min(0));
    const torch::Tensor next =
        torch::where(value <= a.threshold.take(node), a.left.take(node), a.right.take(node));
    node = torch::where(f < 0, node, next);
  }
  const torch::Tensor leaf = a.left.take(node);       // m × T leaf ids
  torch::Tensor sum = a.init.expand({m, K}).clone();  // summed into in place
  for (std::int64_t t = 0; t < T; ++t) sum.add_(a.leaves.index_select(0, leaf.select(1, t)));
  return sum;
}

class TreeDeviceModel final : public TorchDeviceModel {
 public:
  TreeDeviceModel(std::shared_ptr<const TensorTrees> trees, TreeLink link,
                  std::vector<std::int32_t> classes, std::size_t n_classes, std::size_t inputs)
      : trees_(std::move(trees)),
        link_(link),
        classes_(std::move(classes)),
        n_classes_(n_classes),
        inputs_(inputs) {
    DB_ASSERT(trees_ && classes_.size() == trees_->trees().k);
    DB_ASSERT(link_ != TreeLink::kSoftmax || trees_->trees().double_sums);
    DB_ASSERT(link_ != TreeLink::kMean || !trees_->trees().double_sums);
  }
  std::size_t inputs() const override { return inputs_; }
  std::size_t n_classes() const override { return n_classes_; }
  torch::Tensor proba(const torch::Tensor& x) const override {
    DB_ASSERT(x.dim() == 2 && static_cast<std::size_t>(x.size(1)) == inputs_);
    torch::NoGradGuard no_grad;
    const TensorTrees::DeviceArrays& a = trees_->on_device(cache_index(x));
    torch::Tensor s = leaf_sums(trees_->trees(), a, x.contiguous());
    torch::Tensor p;
    if (link_ == TreeLink::kMean) {
      // As the CPU walkers: the float sum times the float 1 / trees.
      p = s.mul_(1.0f / static_cast<float>(trees_->trees().roots.size()));
    } else {
      // As TreeScorer: e^{s − max} / Σ in double, then float.
      s.sub_(std::get<0>(s.max(1, /*keepdim=*/true))).exp_();
      p = s.div_(s.sum(1, /*keepdim=*/true)).to(torch::kFloat32);
    }
    return to_global_columns(p, classes_, n_classes_);
  }

 private:
  std::shared_ptr<const TensorTrees> trees_;
  TreeLink link_;
  std::vector<std::int32_t> classes_;
  std::size_t n_classes_, inputs_;
};

}  // namespace

std::shared_ptr<const DeviceModel> tree_device_model(std::shared_ptr<const TensorTrees> trees,
                                                     TreeLink link,
                                                     std::vector<std::int32_t> classes,
                                                     std::size_t n_classes, std::size_t inputs) {
  return std::make_shared<TreeDeviceModel>(std::move(trees), link, std::move(classes), n_classes,
                                           inputs);
}

std::vector<double> TensorTrees::sum_leaves(MatrixView x, const Context& ctx,
                                            std::int64_t chunk_rows) const {
  DB_ASSERT(chunk_rows > 0);
  const torch::Device device = device_of(ctx);
  if (torch::get_num_threads() != ctx.threads) torch::set_num_threads(ctx.threads);
  torch::NoGradGuard no_grad;
  const DeviceArrays& a = on_device(device.is_cuda() ? std::max<int>(0, device.index()) : -1);
  const std::int64_t n = static_cast<std::int64_t>(x.rows()),
                     K = static_cast<std::int64_t>(trees_.k);
  std::vector<double> out(x.rows() * trees_.k);
  const auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  torch::Tensor staged = torch::empty(
      {std::min(chunk_rows, std::max<std::int64_t>(n, 1)), static_cast<std::int64_t>(x.cols())},
      opts);
  for (std::int64_t b = 0; b < n; b += chunk_rows) {
    const std::int64_t e = std::min(b + chunk_rows, n), m = e - b;
    torch::Tensor xs = staged.narrow(0, 0, m);
    copy_to(xs, view_of(x.slice_rows(static_cast<std::size_t>(b), static_cast<std::size_t>(e))));
    const torch::Tensor host =
        leaf_sums(trees_, a, xs).to(torch::kCPU).to(torch::kFloat64).contiguous();
    std::copy(host.data_ptr<double>(), host.data_ptr<double>() + m * K, out.begin() + b * K);
  }
  return out;
}

}  // namespace deferbench::torch_util
