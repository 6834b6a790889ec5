#include "models/torch/tree_tensors.h"

#include <atomic>
#include <string>
#include <type_traits>
#include <utility>

#include <spdlog/spdlog.h>

#include "core/util/error.h"
#include "models/torch/device_model_impl.h"
#include "models/torch/torch_util.h"
#include "models/trees/tree_walk.h"

#if DEFERBENCH_TREE_KERNEL
#include "models/cuda/tree_kernel.h"
#if DEFERBENCH_CUDA_ENABLED
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif
#endif

namespace deferbench::torch_util {

struct TensorTrees::DeviceArrays {
  torch::Tensor feature, threshold, left, right, roots, leaves, init;
  // The tree kernel's arrays (CUDA builds with the kernel, on a CUDA device): int32 nodes and
  // the sparse leaves.
  torch::Tensor feature32, left32, right32, roots32, leaf_begin, leaf_column, leaf_value;
  // Cleared when a launch fails (no kernel image for this GPU, say): the gathers take over.
  mutable std::atomic<bool> kernel_ok{true};
};

bool TensorTrees::has_kernel() {
  return DEFERBENCH_TREE_KERNEL != 0;
}

TensorTrees::TensorTrees(FlatTrees trees) : trees_(std::move(trees)) {
  const std::size_t n = trees_.feature.size();
  DB_ASSERT(trees_.threshold.size() == n && trees_.left.size() == n && trees_.right.size() == n);
  DB_ASSERT(!trees_.roots.empty() && trees_.k > 0 && trees_.leaves.size() % trees_.k == 0);
  if (trees_.init.empty()) trees_.init.assign(trees_.k, 0.0);
  DB_ASSERT(trees_.init.size() == trees_.k);
  // The leaves as compressed rows of their non-zero contributions (adding a zero changes no sum).
  const std::size_t k = trees_.k, leaves = trees_.leaves.size() / k;
  sparse_.begin.push_back(0);
  for (std::size_t l = 0; l < leaves; ++l) {
    for (std::size_t c = 0; c < k; ++c) {
      const double v = trees_.leaves[l * k + c];
      if (v == 0.0) continue;
      sparse_.column.push_back(static_cast<std::int32_t>(c));
      if (trees_.double_sums)
        sparse_.value_d.push_back(v);
      else
        sparse_.value_f.push_back(static_cast<float>(v));
    }
    DB_CHECK(sparse_.column.size() < (std::size_t{1} << 31),
             "tree tensors: more than 2^31 non-zero leaf entries");
    sparse_.begin.push_back(static_cast<std::int32_t>(sparse_.column.size()));
  }
  for (double v : trees_.init) init_f_.push_back(static_cast<float>(v));
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
  if (has_kernel() && device.is_cuda()) {
    auto ints32 = [&](const std::vector<std::int32_t>& v) {
      return torch::from_blob(const_cast<std::int32_t*>(v.data()),
                              {static_cast<std::int64_t>(v.size())}, torch::kInt32)
          .to(device);
    };
    a->feature32 = ints32(trees_.feature);
    a->left32 = ints32(trees_.left);
    a->right32 = ints32(trees_.right);
    a->roots32 = ints32(trees_.roots);
    a->leaf_begin = ints32(sparse_.begin);
    a->leaf_column =
        sparse_.column.empty()
            ? torch::zeros({1}, torch::TensorOptions().dtype(torch::kInt32).device(device))
            : ints32(sparse_.column);
    a->leaf_value =
        trees_.double_sums
            ? torch::tensor(sparse_.value_d.empty() ? std::vector<double>{0.0} : sparse_.value_d,
                            torch::kFloat64)
                  .to(device)
            : torch::tensor(sparse_.value_f.empty() ? std::vector<float>{0.0f} : sparse_.value_f,
                            torch::kFloat32)
                  .to(device);
  }
  devices_.emplace_back(device_index, std::move(a));
  return *devices_.back().second;
}

namespace {

// The walk arrays over host vectors or device tensors.
template <class Acc>
TreeWalkArrays<Acc> walk_arrays(const FlatTrees& t, const TensorTrees::SparseLeaves& s,
                                const Acc* value, const Acc* init) {
  TreeWalkArrays<Acc> a;
  a.feature = t.feature.data();
  a.threshold = t.threshold.data();
  a.left = t.left.data();
  a.right = t.right.data();
  a.roots = t.roots.data();
  a.leaf_begin = s.begin.data();
  a.leaf_column = s.column.data();
  a.leaf_value = value;
  a.init = init;
  a.trees = static_cast<std::int32_t>(t.roots.size());
  a.k = static_cast<std::int32_t>(t.k);
  return a;
}

}  // namespace

std::vector<double> TensorTrees::sum_leaves_walk(MatrixView x) const {
  const std::size_t k = trees_.k;
  std::vector<double> out(x.rows() * k);
  if (trees_.double_sums) {
    const auto a = walk_arrays<double>(trees_, sparse_, sparse_.value_d.data(), trees_.init.data());
    for (std::size_t i = 0; i < x.rows(); ++i) tree_walk_row(a, x.row(i), out.data() + i * k);
  } else {
    const auto a = walk_arrays<float>(trees_, sparse_, sparse_.value_f.data(), init_f_.data());
    std::vector<float> row(k);
    for (std::size_t i = 0; i < x.rows(); ++i) {
      tree_walk_row(a, x.row(i), row.data());
      std::copy(row.begin(), row.end(), out.begin() + static_cast<std::ptrdiff_t>(i * k));
    }
  }
  return out;
}

namespace {

// init + Σ over trees of each row's leaf contributions for xs (m × d float on a's device):
// m × k in the sums' precision, on that device.
torch::Tensor leaf_sums(const FlatTrees& trees, const TensorTrees::DeviceArrays& a,
                        const torch::Tensor& xs) {
  const std::int64_t m = xs.size(0), T = static_cast<std::int64_t>(trees.roots.size()),
                     K = static_cast<std::int64_t>(trees.k);
#if DEFERBENCH_TREE_KERNEL
  if (xs.is_cuda() && a.feature32.defined() && a.kernel_ok.load()) {
    // One thread per row walks every tree (tree_kernel.cu), on LibTorch's current stream of the
    // rows' device.
    void* stream = nullptr;
#if DEFERBENCH_CUDA_ENABLED
    const c10::cuda::CUDAGuard guard(xs.device());
    stream = c10::cuda::getCurrentCUDAStream(xs.device().index()).stream();
#endif
    const torch::Tensor x = xs.contiguous();
    torch::Tensor out = torch::empty({m, K}, a.init.options());
    auto arrays = [&](auto* value, auto* init) {
      using Acc = std::remove_const_t<std::remove_pointer_t<decltype(value)>>;
      TreeWalkArrays<Acc> w;
      w.feature = a.feature32.data_ptr<std::int32_t>();
      w.threshold = a.threshold.data_ptr<float>();
      w.left = a.left32.data_ptr<std::int32_t>();
      w.right = a.right32.data_ptr<std::int32_t>();
      w.roots = a.roots32.data_ptr<std::int32_t>();
      w.leaf_begin = a.leaf_begin.data_ptr<std::int32_t>();
      w.leaf_column = a.leaf_column.data_ptr<std::int32_t>();
      w.leaf_value = value;
      w.init = init;
      w.trees = static_cast<std::int32_t>(T);
      w.k = static_cast<std::int32_t>(K);
      return w;
    };
    const std::string err =
        trees.double_sums ? cuda::launch_tree_walk(
                                arrays(a.leaf_value.data_ptr<double>(), a.init.data_ptr<double>()),
                                x.data_ptr<float>(), m, x.size(1), out.data_ptr<double>(), stream)
                          : cuda::launch_tree_walk(
                                arrays(a.leaf_value.data_ptr<float>(), a.init.data_ptr<float>()),
                                x.data_ptr<float>(), m, x.size(1), out.data_ptr<float>(), stream);
    if (err.empty()) return out;
    a.kernel_ok.store(false);
    spdlog::warn("tree kernel: {}; trees on this device go through LibTorch gathers instead", err);
  }
#endif
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
    copy_to(xs, view_of(x.slice_rows(static_cast<std::size_t>(b), static_cast<std::size_t>(e))),
            ctx.threads);
    const torch::Tensor host =
        leaf_sums(trees_, a, xs).to(torch::kCPU).to(torch::kFloat64).contiguous();
    std::copy(host.data_ptr<double>(), host.data_ptr<double>() + m * K, out.begin() + b * K);
  }
  return out;
}

}  // namespace deferbench::torch_util
