// GbtClassifier's model-level functions (gbt.h): parameters, warm starts, prediction and the
// model file. The training itself: gbt.cpp.
#include "models/trees/gbt.h"

#include <algorithm>
#include <memory>

#include "core/data/binary_io.h"
#include "core/model/model_file.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"
#include "models/trees/binning.h"

namespace deferbench {

const ParamTable<GbtParams>& GbtParams::table() {
  using P = GbtParams;
  static const ParamTable<P> t =
      ParamTable<P>()
          .integer("n_rounds", &P::n_rounds, 1, 100000, "boosting rounds (K trees each)")
          .real("learning_rate", &P::learning_rate, 1e-6, 10.0, "shrinks every leaf")
          .integer("max_depth", &P::max_depth, 1, 16, "a depth-d tree has at most 2^d leaves")
          .real("subsample", &P::subsample, 1e-6, 1.0, "rows drawn per round, seeded")
          .integer("min_samples_leaf", &P::min_samples_leaf, 1, 1000000000,
                   "rows a child must keep")
          .real("l2", &P::l2, 0.0, 1e9, "L2 penalty on the leaf weights")
          .real("min_child_weight", &P::min_child_weight, 0.0, 1e9, "hessian sum a child must keep")
          .integer("max_bins", &P::max_bins, 2, FeatureBinner::kMaxBins,
                   "quantile bins per feature")
          .integer("early_stopping_rounds", &P::early_stopping_rounds, 0, 100000,
                   "0: off; else stop when the val log-loss has not improved for that many "
                   "rounds")
          .integer("warm_rounds", &P::warm_rounds, 1, 100000,
                   "rounds a warm refit adds to the previous model (warm_start_from)")
          .optional_in_files_from_here()
          .integer("warm_max_rounds", &P::warm_max_rounds, 0, 1000000,
                   "most rounds a warm refit may leave in the model (0: 2 × n_rounds); past it "
                   "the refit is cold");
  return t;
}

GbtParams GbtParams::from_yaml(const YAML::Node& node, const std::string& path) {
  return read_params(table(), node, path);
}

GbtClassifier::GbtClassifier(GbtParams params) : params_(params) {}

std::size_t GbtClassifier::n_rounds() const {
  return classes_.empty() ? 0 : trees_.size() / classes_.size();
}

bool GbtClassifier::warm_start_from(const Classifier& previous) {
  const auto* prev = dynamic_cast<const GbtClassifier*>(&previous);
  if (prev == nullptr || prev->classes_.size() < 2 ||
      !same_params(GbtParams::table(), params_, prev->params_))
    return false;
  if (!classes_.empty() && (n_features_ != prev->n_features_ || n_classes_ != prev->n_classes_))
    return false;
  const std::size_t cap = static_cast<std::size_t>(
      params_.warm_max_rounds > 0 ? params_.warm_max_rounds : 2 * params_.n_rounds);
  if (prev->n_rounds() + static_cast<std::size_t>(params_.warm_rounds) > cap) return false;
  auto start = std::make_shared<WarmStart>();
  start->n_classes = prev->n_classes_;
  start->n_features = prev->n_features_;
  start->classes = prev->classes_;
  start->init = prev->init_;
  start->trees = prev->trees_;
  start->scorer = prev->scorer_;
  warm_ = std::move(start);
  return true;
}

std::shared_ptr<const GbtClassifier::WarmStart> GbtClassifier::take_warm_start() {
  std::shared_ptr<const WarmStart> start = std::move(warm_);
  warm_.reset();
  if (start && (start->n_features != n_features_ || start->n_classes != n_classes_ ||
                start->classes != classes_))
    start.reset();
  warm_started_ = start != nullptr;
  return start;
}

std::vector<double> GbtClassifier::WarmStart::scores(MatrixView x, int threads) const {
  const std::size_t n = x.rows(), K = classes.size();
  constexpr std::size_t kRows = 64;  // TreeScorer::add_scores takes at most 64 rows
  std::vector<double> s(n * K);
  for (std::size_t i = 0; i < n; ++i) std::copy(init.begin(), init.end(), &s[i * K]);
  const auto blocks = static_cast<std::ptrdiff_t>((n + kRows - 1) / kRows);
#pragma omp parallel for num_threads(std::max(1, threads)) schedule(static)
  for (std::ptrdiff_t bb = 0; bb < blocks; ++bb) {
    const std::size_t b = static_cast<std::size_t>(bb) * kRows, e = std::min(b + kRows, n);
    scorer.add_scores(x.row(b), x.cols(), e - b, s.data() + b * K);
  }
  return s;
}

void GbtClassifier::flatten() {
  const std::size_t K = classes_.size();
  std::vector<std::uint32_t> columns(trees_.size());
  for (std::size_t t = 0; t < trees_.size(); ++t) columns[t] = static_cast<std::uint32_t>(t % K);
  scorer_ = TreeScorer(trees_, std::move(columns), K);
}

Matrix GbtClassifier::predict_proba(MatrixView x, const Context& ctx) const {
  DB_CHECK(!classes_.empty(), "gbt: predict_proba called before fit or load");
  DB_CHECK(x.cols() == n_features_, "gbt: expected {} feature columns, got {}", n_features_,
           x.cols());
  if (ctx.is_cuda())
    return scorer_.predict_proba_tensors(x, init_, classes_, n_classes_, ctx, kTensorChunkRows);
  return scorer_.predict_proba(x, init_, classes_, n_classes_, std::max(1, ctx.threads));
}

Matrix GbtClassifier::predict_proba_tensors(MatrixView x, const Context& ctx,
                                            std::int64_t chunk_rows) const {
  DB_CHECK(!classes_.empty(), "gbt: predict_proba called before fit or load");
  DB_CHECK(x.cols() == n_features_, "gbt: expected {} feature columns, got {}", n_features_,
           x.cols());
  return scorer_.predict_proba_tensors(x, init_, classes_, n_classes_, ctx, chunk_rows);
}

std::shared_ptr<const DeviceModel> GbtClassifier::device_model() const {
  DB_CHECK(!classes_.empty(), "gbt: device_model called before fit or load");
  return torch_util::tree_device_model(scorer_.tensor_trees(init_), TreeLink::kSoftmax, classes_,
                                       n_classes_, n_features_);
}

void GbtClassifier::save(const std::filesystem::path& path) const {
  save_model_file(*this, path);
}

void GbtClassifier::save_state(BinaryWriter& w) const {
  w.pod<std::uint64_t>(n_classes_);
  w.pod<std::uint64_t>(n_features_);
  w.vector(classes_);
  w.vector(init_);
  w.pod<std::uint64_t>(trees_.size());
  for (const auto& t : trees_) w.vector(t);
}

void GbtClassifier::load_state(BinaryReader& r) {
  n_classes_ = r.pod<std::uint64_t>();
  n_features_ = r.pod<std::uint64_t>();
  classes_ = r.vector<std::int32_t>();
  init_ = r.vector<double>();
  const auto n_trees = r.pod<std::uint64_t>();
  const std::size_t K = classes_.size();
  auto corrupt = [&] { fail({r.source(), 0, ""}, "gbt model file is inconsistent (corrupt?)"); };
  check_model_classes(r, "gbt", n_classes_, classes_);
  if (init_.size() != K || n_trees % K != 0) corrupt();
  for (std::uint64_t t = 0; t < n_trees; ++t) {
    trees_.push_back(r.vector<GbtNode>());
    const auto& nodes = trees_.back();
    if (nodes.empty()) corrupt();
    const auto size = static_cast<std::int32_t>(nodes.size());
    for (std::int32_t i = 0; i < size; ++i) {
      const GbtNode& node = nodes[static_cast<std::size_t>(i)];
      if (node.feature < 0) continue;
      // Children after their parent: the walk from the root always ends at a leaf.
      if (static_cast<std::size_t>(node.feature) >= n_features_ || node.left <= i ||
          node.right <= i || node.left >= size || node.right >= size)
        corrupt();
    }
  }
  flatten();
}

}  // namespace deferbench
