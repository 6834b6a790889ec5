#include "models/trees/forest.h"

#include <algorithm>
#include <mutex>

#include "core/data/binary_io.h"
#include "core/model/model_file.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"
#include "core/util/random.h"
#include "models/torch/tree_tensors.h"
#include "models/trees/tree_scorer.h"

namespace deferbench {

namespace {

// Rows sampled to place the bin cuts (all rows below this).
constexpr std::size_t kBinSample = 200000;
// Mixed into the seeds of a warm fit's new trees (TreeEnsemble::warm_start_from).
constexpr std::uint64_t kWarmTreeTag = 0x3A53'7AE1;

bool is_tree_model(std::string_view model) {
  return model == "dt" || model == "rf" || model == "et";
}

}  // namespace

ForestParams ForestParams::defaults(std::string_view model) {
  DB_ASSERT_MSG(is_tree_model(model), "unknown tree model '{}'", model);
  ForestParams p;
  if (model == "dt") {
    p.tree.max_depth = 16;
    p.tree.max_features.kind = MaxFeatures::Kind::kAll;
    return p;
  }
  p.n_trees = 200;
  p.tree.max_depth = 0;
  p.tree.max_features.kind = MaxFeatures::Kind::kSqrt;
  p.bootstrap = model == "rf";
  p.tree.split = model == "rf" ? SplitPolicy::kBest : SplitPolicy::kRandom;
  return p;
}

namespace {

ParamTable<ForestParams> tree_table() {
  using P = ForestParams;
  using T = ParamTable<P>;
  return T()
      .enumeration("criterion", T::nested(&P::tree, &TreeParams::criterion),
                   {{"gini", Criterion::kGini}, {"entropy", Criterion::kEntropy}},
                   "split quality, as scikit-learn's")
      .integer("max_depth", T::nested(&P::tree, &TreeParams::max_depth), 0, 1000, "0: unlimited")
      .integer("min_samples_split", T::nested(&P::tree, &TreeParams::min_samples_split), 2, 1 << 30,
               "a node with fewer (distinct) rows is a leaf")
      .integer("min_samples_leaf", T::nested(&P::tree, &TreeParams::min_samples_leaf), 1, 1 << 30,
               "each child keeps at least this many (distinct) rows")
      .text(
          "max_features", T::nested(&P::tree, &TreeParams::max_features), "choice or number",
          "all | sqrt | log2 | a fraction in (0, 1] | an integer",
          [](const std::string& text, const std::string& where) {
            return MaxFeatures::parse(text, where);
          },
          [](const MaxFeatures& m) { return m.to_string(); }, "features drawn per node")
      .integer("max_bins", &P::max_bins, 2, FeatureBinner::kMaxBins, "quantile bins per feature");
}

}  // namespace

const ParamTable<ForestParams>& ForestParams::table(std::string_view model) {
  DB_ASSERT_MSG(is_tree_model(model), "unknown tree model '{}'", model);
  static const ParamTable<ForestParams> single = tree_table();
  static const ParamTable<ForestParams> ensemble =
      tree_table()
          .integer("n_trees", &ForestParams::n_trees, 1, 100000, "trees in the ensemble")
          .boolean("bootstrap", &ForestParams::bootstrap, "a bootstrap sample per tree")
          .integer("warm_trees", &ForestParams::warm_trees, 1, 100000,
                   "trees a warm refit grows, replacing as many of the oldest (warm_start_from)");
  return model == "dt" ? single : ensemble;
}

ForestParams ForestParams::from_yaml(std::string_view model, const YAML::Node& node,
                                     const std::string& path) {
  return read_params(table(model), node, path, defaults(model));
}

struct TreeEnsemble::Tensors {
  std::mutex mu;
  std::shared_ptr<const torch_util::TensorTrees> trees;
};

TreeEnsemble::~TreeEnsemble() = default;

TreeEnsemble::TreeEnsemble(std::string model, ForestParams params)
    : model_(std::move(model)), params_(params), tensors_(std::make_shared<Tensors>()) {
  DB_ASSERT_MSG(is_tree_model(model_), "unknown tree model '{}'", model_);
}

bool TreeEnsemble::warm_start_from(const Classifier& previous) {
  const auto* prev = dynamic_cast<const TreeEnsemble*>(&previous);
  if (prev == nullptr || model_ == "dt" || prev->model_ != model_ || prev->trees_.empty() ||
      !same_params(ForestParams::table(model_), params_, prev->params_) ||
      params_.warm_trees >= params_.n_trees ||
      prev->trees_.size() != static_cast<std::size_t>(params_.n_trees))
    return false;
  if (!trees_.empty() && (n_features_ != prev->n_features_ || n_classes_ != prev->n_classes_))
    return false;
  auto start = std::make_shared<WarmStart>();
  start->n_classes = prev->n_classes_;
  start->n_features = prev->n_features_;
  start->classes = prev->classes_;
  start->trees.assign(prev->trees_.begin() + params_.warm_trees, prev->trees_.end());
  warm_ = std::move(start);
  return true;
}

void TreeEnsemble::fit(const Dataset& train, const Dataset* /*val*/, const Context& ctx) {
  DB_CHECK(train.size() > 0, "{}: cannot fit on an empty training set", model_);
  DB_CHECK(train.features.rows() == train.size(), "{}: the training set has no features", model_);
  DB_CHECK(train.size() < (std::size_t{1} << 32), "{}: more than 2^32 training rows", model_);
  const std::size_t n = train.size(), d = train.features.cols();
  DB_CHECK(d > 0, "{}: the training set has no feature columns", model_);
  const int threads = std::max(1, ctx.threads);
  params_.tree.max_features.resolve(d);  // throws now (not inside a parallel loop) if too many
  n_classes_ = train.n_classes();
  n_features_ = d;
  tensors_ = std::make_shared<Tensors>();  // a tensor form of earlier trees is stale
  // The pending warm start, used when it suits the training set and consumed either way.
  std::shared_ptr<WarmStart> warm = std::move(warm_);
  warm_.reset();
  if (warm && (warm->n_features != d || warm->n_classes != n_classes_)) warm.reset();
  warm_started_ = warm != nullptr;

  // Train over the classes present only (and, warm, those the kept trees predict); the others
  // get probability zero at prediction.
  classes_ = train.teacher;
  if (warm) classes_.insert(classes_.end(), warm->classes.begin(), warm->classes.end());
  std::sort(classes_.begin(), classes_.end());
  classes_.erase(std::unique(classes_.begin(), classes_.end()), classes_.end());
  DB_CHECK(classes_.size() <= 65536, "{}: more than 65536 classes", model_);
  std::vector<std::uint16_t> compact(n);
  for (std::size_t i = 0; i < n; ++i)
    compact[i] = static_cast<std::uint16_t>(
        std::lower_bound(classes_.begin(), classes_.end(), train.teacher[i]) - classes_.begin());

  FeatureBinner binner;
  binner.fit(train.features, params_.max_bins, kBinSample, ctx);
  const TreeTrainingSet data(binner.transform(train.features, threads), std::move(compact),
                             static_cast<int>(classes_.size()), binner, threads);

  // Warm: the kept trees first (their leaves over classes_), then warm_trees new ones.
  const int n_trees = warm ? params_.warm_trees : params_.n_trees;
  trees_.clear();
  if (warm) {
    std::vector<std::uint16_t> to(warm->classes.size());
    for (std::size_t c = 0; c < to.size(); ++c)
      to[c] = static_cast<std::uint16_t>(
          std::lower_bound(classes_.begin(), classes_.end(), warm->classes[c]) - classes_.begin());
    trees_ = std::move(warm->trees);
    for (DecisionTree& tree : trees_) tree.remap_classes(to);
    warm.reset();
  }
  const std::size_t first = trees_.size();
  trees_.resize(first + static_cast<std::size_t>(n_trees));
  const int outer = n_trees > 1 ? std::min(threads, n_trees) : 1;
  const int inner = n_trees > 1 ? 1 : threads;
#pragma omp parallel for num_threads(outer) schedule(dynamic, 1)
  for (int t = 0; t < n_trees; ++t) {
    const std::uint64_t derived = ctx.derive(static_cast<std::uint64_t>(t)).seed;
    const std::uint64_t seed = warm_started_ ? mix_seed(derived, kWarmTreeTag) : derived;
    std::vector<std::uint32_t> weights(n, params_.bootstrap ? 0u : 1u);
    if (params_.bootstrap) {
      Rng rng(mix_seed(seed, 0xB0075));
      for (std::size_t i = 0; i < n; ++i) ++weights[static_cast<std::size_t>(rng.below(n))];
    }
    trees_[first + static_cast<std::size_t>(t)].fit(data, weights, params_.tree, seed, inner);
  }
}

std::shared_ptr<const torch_util::TensorTrees> TreeEnsemble::tensor_trees() const {
  DB_CHECK(!trees_.empty(), "{}: used before fit or load", model_);
  std::lock_guard<std::mutex> lock(tensors_->mu);
  if (!tensors_->trees) {
    // Every tree's nodes with global ids; a leaf's row is its class distribution.
    const std::size_t k = classes_.size();
    FlatTrees f;
    f.k = k;
    std::int32_t leaves = 0;
    for (const DecisionTree& tree : trees_) {
      const auto base = static_cast<std::int32_t>(f.feature.size());
      f.roots.push_back(base);
      f.depth = std::max(f.depth, tree.depth());
      const std::int32_t first_leaf = leaves;
      for (const DecisionTree::Node& node : tree.nodes()) {
        f.feature.push_back(node.feature);
        f.threshold.push_back(node.threshold);
        f.left.push_back(node.feature < 0 ? first_leaf + node.left : base + node.left);
        f.right.push_back(node.feature < 0 ? 0 : base + node.right);
      }
      for (std::size_t l = 0; l < tree.n_leaves(); ++l) {
        std::vector<double> row(k, 0.0);
        for (const auto& [cls, p] : tree.leaf_distribution(static_cast<std::int32_t>(l)))
          row[static_cast<std::size_t>(cls)] = p;
        f.leaves.insert(f.leaves.end(), row.begin(), row.end());
        ++leaves;
      }
    }
    tensors_->trees = std::make_shared<const torch_util::TensorTrees>(std::move(f));
  }
  return tensors_->trees;
}

std::shared_ptr<const DeviceModel> TreeEnsemble::device_model() const {
  return torch_util::tree_device_model(tensor_trees(), TreeLink::kMean, classes_, n_classes_,
                                       n_features_);
}

Matrix TreeEnsemble::predict_proba_tensors(MatrixView x, const Context& ctx,
                                           std::int64_t chunk_rows) const {
  DB_CHECK(!trees_.empty(), "{}: predict_proba called before fit or load", model_);
  DB_CHECK(x.cols() == n_features_, "{}: expected {} feature columns, got {}", model_, n_features_,
           x.cols());
  const std::size_t k = classes_.size();
  const std::shared_ptr<const torch_util::TensorTrees> tt = tensor_trees();
  const std::vector<double> sums = tt->sum_leaves(x, ctx, chunk_rows);
  // As the CPU path: the float sums times 1/trees, into the global label space.
  const float scale = 1.0f / static_cast<float>(trees_.size());
  Matrix out(x.rows(), n_classes_, 0.0f);
  for (std::size_t i = 0; i < x.rows(); ++i)
    for (std::size_t c = 0; c < k; ++c)
      out(i, static_cast<std::size_t>(classes_[c])) = static_cast<float>(sums[i * k + c]) * scale;
  return out;
}

Matrix TreeEnsemble::predict_proba(MatrixView x, const Context& ctx) const {
  DB_CHECK(!trees_.empty(), "{}: predict_proba called before fit or load", model_);
  DB_CHECK(x.cols() == n_features_, "{}: expected {} feature columns, got {}", model_, n_features_,
           x.cols());
  if (ctx.is_cuda()) return predict_proba_tensors(x, ctx, kTensorChunkRows);
  const std::size_t n = x.rows(), k = classes_.size();
  Matrix out(n, n_classes_, 0.0f);
  const float scale = 1.0f / static_cast<float>(trees_.size());
  // Rows go through the trees in blocks, tree by tree: a tree's nodes stay in cache across a
  // block. Big blocks amortize that best; every thread gets at least one.
  const std::size_t threads = static_cast<std::size_t>(std::max(1, ctx.threads));
  const std::size_t block =
      std::clamp<std::size_t>((n + threads - 1) / threads, 64, DecisionTree::kBlock);
  const std::ptrdiff_t n_blocks = static_cast<std::ptrdiff_t>((n + block - 1) / block);
  // No more threads than blocks: a small batch (a single query) wakes no idle worker.
#pragma omp parallel num_threads(static_cast <int>(std::max <std::size_t>( \
    1, std::min <std::size_t>(threads, static_cast <std::size_t>(n_blocks)))))
  {
    std::vector<float> acc(block * k);
#pragma omp for schedule(dynamic, 1)
    for (std::ptrdiff_t bb = 0; bb < n_blocks; ++bb) {
      const std::size_t r0 = static_cast<std::size_t>(bb) * block;
      const std::size_t r1 = std::min(n, r0 + block);
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (const DecisionTree& tree : trees_)
        tree.accumulate_block(x.row(r0), r1 - r0, x.cols(), acc.data(), k);
      for (std::size_t i = r0; i < r1; ++i) {
        const float* a = acc.data() + (i - r0) * k;
        float* o = out.row(i);
        for (std::size_t c = 0; c < k; ++c) o[classes_[c]] = a[c] * scale;
      }
    }
  }
  return out;
}

void TreeEnsemble::save(const std::filesystem::path& path) const {
  DB_CHECK(!trees_.empty(), "{}: save called before fit", model_);
  save_model_file(*this, path);
}

void TreeEnsemble::save_state(BinaryWriter& w) const {
  w.pod<std::uint64_t>(n_classes_);
  w.pod<std::uint64_t>(n_features_);
  w.vector(classes_);
  w.pod<std::uint64_t>(trees_.size());
  for (const DecisionTree& tree : trees_) tree.save(w);
}

void TreeEnsemble::load_state(BinaryReader& r) {
  auto corrupt = [&]() {
    fail({r.source(), 0, ""}, model_ + " model file is inconsistent (corrupt?)");
  };
  n_classes_ = r.pod<std::uint64_t>();
  n_features_ = r.pod<std::uint64_t>();
  classes_ = r.vector<std::int32_t>();
  check_model_classes(r, model_, n_classes_, classes_);
  const auto& cls = classes_;
  if (cls.size() > 65536)  // as fit allows
    fail({r.source(), 0, "classes"},
         fmt::format("{} model: expected at most 65536 classes, got {}", model_, cls.size()));
  const auto n_trees = r.pod<std::uint64_t>();
  if (n_trees != static_cast<std::uint64_t>(params_.n_trees)) corrupt();
  trees_.resize(n_trees);
  for (DecisionTree& tree : trees_) tree.load(r, n_features_, static_cast<int>(cls.size()));
}

}  // namespace deferbench
