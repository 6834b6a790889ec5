// GbtClassifier's training (gbt.h): the boosting rounds, their histograms and trees, fit().
// Parameters, warm starts, prediction and the model file: gbt_model.cpp.
#include "models/trees/gbt.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <numeric>

#include <omp.h>

#include "core/util/error.h"
#include "core/util/random.h"
#include "models/trees/binning.h"

namespace deferbench {

namespace {

constexpr std::size_t kStride = FeatureBinner::kMaxBins;  // histogram cells per feature
constexpr double kProbFloor = 1e-15;                      // log-loss clips p here
constexpr float kHessFloor = 1e-16f;
constexpr float kTiny = 1e-15f;          // gradient sums below this count as zero in split gains
constexpr std::size_t kClassBlock = 16;  // root histograms transposed per block of classes
// Below this many elementary steps a parallel loop runs on one thread: on a busy machine a
// barrier can cost milliseconds.
constexpr std::size_t kParallelWork = 1 << 15;
constexpr std::size_t kHistSampleRows = 200000;  // rows the binner's quantiles look at

int threads_for(std::size_t work, int threads) {
  return work >= kParallelWork ? threads : 1;
}

// A histogram cell: gradient sum, hessian sum, row count (exact below 2^24) and padding, so
// that adding a row is one 16-byte vector add.
typedef float Cell __attribute__((vector_size(16)));
typedef float Vec4 __attribute__((vector_size(16)));
typedef std::int32_t Mask4 __attribute__((vector_size(16)));

// The leaf a row of bins falls in (training: "bin ≤ b" goes left).
inline float leaf_of_bins(const GbtNode* t, const std::uint8_t* row) {
  std::int32_t i = 0;
  while (t[i].feature >= 0) i = row[t[i].feature] <= t[i].bin ? t[i].left : t[i].right;
  return t[i].value;
}

// Softmax of each row of `score` (n × K) and the mean log-loss against `y` (compact class ids,
// −1 for a class that was not trained). With `gh`, also writes row i's gradients and hessians
// as [g_0 … g_{K−1}, h_0 … h_{K−1}] at gh + 2Ki.
double softmax_pass(const std::vector<double>& score, const std::vector<std::int32_t>& y,
                    std::size_t K, float* gh, double hess_scale, int threads) {
  const std::size_t n = y.size();
  std::vector<double> loss(n);
#pragma omp parallel num_threads(threads_for(n* K, threads))
  {
    std::vector<double> p(K);
#pragma omp for schedule(static)
    for (std::ptrdiff_t ii = 0; ii < static_cast<std::ptrdiff_t>(n); ++ii) {
      const std::size_t i = static_cast<std::size_t>(ii);
      const double* s = score.data() + i * K;
      const double top = *std::max_element(s, s + K);
      double sum = 0;
      for (std::size_t k = 0; k < K; ++k) sum += p[k] = std::exp(s[k] - top);
      for (std::size_t k = 0; k < K; ++k) p[k] /= sum;
      loss[i] = -std::log(y[i] >= 0 ? std::max(p[static_cast<std::size_t>(y[i])], kProbFloor)
                                    : kProbFloor);
      if (gh) {
        float* g = gh + 2 * K * i;
        float* h = g + K;
        for (std::size_t k = 0; k < K; ++k) {
          // Gradients below 1e-30 become zero: histogram sums then never reach the denormal
          // range, where float arithmetic is many times slower.
          const double grad = p[k] - (static_cast<std::int32_t>(k) == y[i] ? 1.0 : 0.0);
          g[k] = std::abs(grad) < 1e-30 ? 0.0f : static_cast<float>(grad);
          h[k] = std::max(static_cast<float>(hess_scale * p[k] * (1.0 - p[k])), kHessFloor);
        }
      }
    }
  }
  double total = 0;
  for (double l : loss) total += l;
  return n ? total / static_cast<double>(n) : 0.0;
}

struct Split {
  std::int32_t feature = -1;
  std::int32_t bin = 0;
  double g_left = 0, h_left = 0;
};

// Grows one regression tree (one class of one round) depth first. A node at depth d keeps its
// histogram in buffer d; its smaller child's histogram is built into buffer d + 1 and the larger
// child's is the parent's minus it, in place. The child in buffer d + 1 is grown first, so no
// buffer is overwritten while still needed. Everything here is sequential: one tree, one thread.
class TreeGrower {
 public:
  TreeGrower(const BinnedMatrix& x, const std::vector<int>& n_bins, const GbtParams& params,
             std::size_t n_rows)
      : x_(x),
        n_bins_(n_bins),
        p_(params),
        idx_(n_rows),
        tmp_(n_rows),
        prefix_(13 * kStride),
        zeros_(kStride, Cell{0, 0, 0, 0}) {
    hist_.resize(static_cast<std::size_t>(params.max_depth));
  }

  // Buffer d (allocated on first use): n_features × kStride cells.
  Cell* buffer(std::size_t d) {
    if (hist_[d].empty()) hist_[d].resize(x_.cols * kStride);
    return hist_[d].data();
  }

  // Grows the tree of class k over `rows` (gh: gradient rows of 2K floats); `root` holds the
  // root's histogram and is overwritten.
  std::vector<GbtNode> grow(const std::vector<std::uint32_t>& rows, const float* gh, std::size_t K,
                            std::size_t k, Cell* root) {
    gh_ = gh;
    K_ = K;
    k_ = k;
    nodes_.clear();
    std::copy(rows.begin(), rows.end(), idx_.begin());
    double g = 0, h = 0;
    const int nb = x_.cols ? n_bins_[0] : 0;
    for (int b = 0; b < nb; ++b) {
      g += root[b][0];
      h += root[b][1];
    }
    grow_node(0, rows.size(), 0, root, g, h);
    return std::move(nodes_);
  }

 private:
  void build_hist(Cell* out, std::size_t begin, std::size_t end) {
    const std::size_t F = x_.cols;
    std::fill(out, out + F * kStride, Cell{0, 0, 0, 0});
    for (std::size_t r = begin; r < end; ++r) {
      const std::size_t i = idx_[r];
      const float* g = gh_ + 2 * K_ * i;
      const Cell v = {g[k_], g[K_ + k_], 1.0f, 0.0f};
      const std::uint8_t* b = x_.row(i);
      Cell* o = out;
      for (std::size_t f = 0; f < F; ++f, o += kStride) o[b[f]] += v;
    }
  }

  // The best split of a node (gain over the parent, computed in float: prefix sums per feature,
  // then every bin's gain in one vectorizable pass, then the first maximum).
  Split best_split(const Cell* hist, double G, double H, std::size_t count) {
    const float lambda = static_cast<float>(p_.l2), mcw = static_cast<float>(p_.min_child_weight);
    const float msl = static_cast<float>(p_.min_samples_leaf);
    const float g_all = static_cast<float>(G), h_all = static_cast<float>(H);
    const float c_all = static_cast<float>(count);
    float best_gain = static_cast<float>(G * G / (H + p_.l2));  // a split must beat the parent
    Split best;
    const std::size_t F = x_.cols;
    // Four features at a time: their prefix sums are four independent dependency chains.
    for (std::size_t f0 = 0; f0 < F; f0 += 4) {
      const std::size_t nf = std::min<std::size_t>(4, F - f0);
      const Cell* c[4];
      int max_cuts = 0;
      for (std::size_t j = 0; j < 4; ++j) {
        // Cells past a feature's last bin are zero; a missing feature reads a zero histogram.
        c[j] = j < nf ? hist + (f0 + j) * kStride : zeros_.data();
        if (j < nf) max_cuts = std::max(max_cuts, n_bins_[f0 + j] - 1);
      }
      Cell a0 = {0, 0, 0, 0}, a1 = a0, a2 = a0, a3 = a0;
      float* pre = prefix_.data();  // [feature][g, h, c][bin]
      for (int b = 0; b < max_cuts; ++b) {
        a0 += c[0][b];
        a1 += c[1][b];
        a2 += c[2][b];
        a3 += c[3][b];
        pre[0 * kStride + b] = a0[0];
        pre[1 * kStride + b] = a0[1];
        pre[2 * kStride + b] = a0[2];
        pre[3 * kStride + b] = a1[0];
        pre[4 * kStride + b] = a1[1];
        pre[5 * kStride + b] = a1[2];
        pre[6 * kStride + b] = a2[0];
        pre[7 * kStride + b] = a2[1];
        pre[8 * kStride + b] = a2[2];
        pre[9 * kStride + b] = a3[0];
        pre[10 * kStride + b] = a3[1];
        pre[11 * kStride + b] = a3[2];
      }
      for (std::size_t j = 0; j < nf; ++j) {
        const float* pg = pre + 3 * j * kStride;
        const float* ph = pg + kStride;
        const float* pc = ph + kStride;
        float* gain = prefix_.data() + 12 * kStride;
        const int cuts = n_bins_[f0 + j] - 1;  // split after bins 0 … nb − 2
        Vec4 top = {-1.0f, -1.0f, -1.0f, -1.0f};
        for (int b = 0; b < cuts; b += 4) {  // four bins at a time (the scratch is padded)
          Vec4 gl, hl, cl;
          std::memcpy(&gl, pg + b, sizeof(Vec4));
          std::memcpy(&hl, ph + b, sizeof(Vec4));
          std::memcpy(&cl, pc + b, sizeof(Vec4));
          Vec4 gr = g_all - gl;
          const Vec4 hr = h_all - hl, cr = c_all - cl;
          // Negligible sums become zero, so that their squares stay out of the denormal range.
          const Vec4 zero = {0.0f, 0.0f, 0.0f, 0.0f};
          gl = (gl > kTiny) | (gl < -kTiny) ? gl : zero;
          gr = (gr > kTiny) | (gr < -kTiny) ? gr : zero;
          const Mask4 lane = {b, b + 1, b + 2, b + 3};
          const Mask4 ok = (lane < cuts) & (cl >= msl) & (cr >= msl) & (hl >= mcw) & (hr >= mcw) &
                           (hl > 0.0f) & (hr > 0.0f);
          const Vec4 score = gl * gl / (hl + lambda) + gr * gr / (hr + lambda);
          const Vec4 none = {-1.0f, -1.0f, -1.0f, -1.0f};
          const Vec4 g = ok ? score : none;
          std::memcpy(gain + b, &g, sizeof(Vec4));
          top = g > top ? g : top;
        }
        if (std::max(std::max(top[0], top[1]), std::max(top[2], top[3])) <= best_gain) continue;
        for (int b = 0; b < cuts; ++b) {
          if (gain[b] > best_gain) {
            best_gain = gain[b];
            best.feature = static_cast<std::int32_t>(f0 + j);
            best.bin = b;
            best.g_left = pg[b];
            best.h_left = ph[b];
          }
        }
      }
    }
    return best;
  }

  // Stable partition of idx_[begin, end) by the split; returns the first right position.
  std::size_t partition(std::size_t begin, std::size_t end, std::size_t f, int bin) {
    std::size_t l = begin, r = 0;
    for (std::size_t p = begin; p < end; ++p) {
      const std::uint32_t i = idx_[p];
      if (x_(i, f) <= bin)
        idx_[l++] = i;
      else
        tmp_[r++] = i;
    }
    std::copy(tmp_.begin(), tmp_.begin() + static_cast<std::ptrdiff_t>(r), idx_.begin() + l);
    return l;
  }

  double leaf_value(double G, double H) const {
    return -p_.learning_rate * G / std::max(H + p_.l2, 1e-16);
  }

  std::int32_t grow_node(std::size_t begin, std::size_t end, std::size_t depth, Cell* hist,
                         double G, double H) {
    const auto id = static_cast<std::int32_t>(nodes_.size());
    nodes_.emplace_back();
    Split s;
    if (hist) s = best_split(hist, G, H, end - begin);
    if (s.feature < 0) {
      nodes_[id].value = static_cast<float>(leaf_value(G, H));
      return id;
    }
    const std::size_t mid = partition(begin, end, static_cast<std::size_t>(s.feature), s.bin);
    const std::size_t n_left = mid - begin, n_right = end - mid;
    const auto msl = static_cast<std::size_t>(p_.min_samples_leaf);
    const bool deeper = depth + 1 < static_cast<std::size_t>(p_.max_depth);
    const bool need_left = deeper && n_left >= 2 * msl;
    const bool need_right = deeper && n_right >= 2 * msl;
    const bool left_small = n_left <= n_right;
    Cell* small_hist = nullptr;
    Cell* large_hist = nullptr;
    if (need_left || need_right) {
      Cell* child = buffer(depth + 1);
      if (left_small)
        build_hist(child, begin, mid);
      else
        build_hist(child, mid, end);
      if (left_small ? need_right : need_left) {
        const std::size_t cells = x_.cols * kStride;
        for (std::size_t c = 0; c < cells; ++c) hist[c] -= child[c];
        large_hist = hist;
      }
      if (left_small ? need_left : need_right) small_hist = child;
    }
    nodes_[id].feature = s.feature;
    nodes_[id].bin = s.bin;
    const double gl = s.g_left, hl = s.h_left, gr = G - gl, hr = H - hl;
    // The child holding buffer depth + 1 first: its subtree never touches buffer `depth`.
    std::int32_t left, right;
    if (left_small) {
      left = grow_node(begin, mid, depth + 1, small_hist, gl, hl);
      right = grow_node(mid, end, depth + 1, large_hist, gr, hr);
    } else {
      right = grow_node(mid, end, depth + 1, small_hist, gr, hr);
      left = grow_node(begin, mid, depth + 1, large_hist, gl, hl);
    }
    nodes_[id].left = left;
    nodes_[id].right = right;
    return id;
  }

  const BinnedMatrix& x_;
  const std::vector<int>& n_bins_;
  const GbtParams& p_;
  std::vector<std::uint32_t> idx_, tmp_;
  std::vector<float> prefix_;  // scratch of best_split
  std::vector<Cell> zeros_;    // an empty feature histogram
  std::vector<std::vector<Cell>> hist_;
  std::vector<GbtNode> nodes_;
  const float* gh_ = nullptr;
  std::size_t K_ = 0, k_ = 0;
};

// Root histograms of all K classes at once over `rows`: hist[(f · kStride + bin) · 2K + j] sums
// gh[·][j] (j < K: gradients, j ≥ K: hessians), counts[f · kStride + bin] counts rows. One
// thread per feature: the sums do not depend on the thread count.
void build_root_histograms(const BinnedMatrix& x, const std::vector<std::uint32_t>& rows,
                           const float* gh, std::size_t K, std::vector<float>& hist,
                           std::vector<float>& counts, int threads) {
  const std::size_t F = x.cols, width = 2 * K;
#pragma omp parallel for num_threads(threads_for(rows.size() * F * K, threads)) schedule(dynamic, 1)
  for (std::ptrdiff_t ff = 0; ff < static_cast<std::ptrdiff_t>(F); ++ff) {
    const std::size_t f = static_cast<std::size_t>(ff);
    float* hf = hist.data() + f * kStride * width;
    float* cf = counts.data() + f * kStride;
    std::fill(hf, hf + kStride * width, 0.0f);
    std::fill(cf, cf + kStride, 0.0f);
    const std::uint8_t* col = x.bins.data() + f;
    for (const std::uint32_t i : rows) {
      const std::uint8_t b = col[i * F];
      float* __restrict dst = hf + b * width;
      const float* __restrict src = gh + i * width;
      for (std::size_t j = 0; j < width; ++j) dst[j] += src[j];
      cf[b] += 1.0f;
    }
  }
}

// Compact class ids of `labels` among the sorted `classes`, −1 for a class that was not trained.
std::vector<std::int32_t> compact_labels(const std::vector<std::int32_t>& classes,
                                         const std::vector<LabelId>& labels) {
  std::vector<std::int32_t> y(labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i) {
    auto it = std::lower_bound(classes.begin(), classes.end(), labels[i]);
    y[i] = it != classes.end() && *it == labels[i] ? static_cast<std::int32_t>(it - classes.begin())
                                                   : -1;
  }
  return y;
}

// The rows of one round: all of them, or a seeded draw of n_sample without replacement, sorted
// for locality.
void draw_round_rows(const std::vector<std::uint32_t>& all_rows, std::size_t n_sample,
                     std::uint64_t seed, std::size_t round, std::vector<std::uint32_t>& rows) {
  const std::size_t n = all_rows.size();
  rows = all_rows;
  if (n_sample >= n) return;
  Rng rng(mix_seed(mix_seed(seed, 0x6B7), round));
  for (std::size_t i = 0; i < n_sample; ++i) std::swap(rows[i], rows[i + rng.below(n - i)]);
  rows.resize(n_sample);
  std::sort(rows.begin(), rows.end());
}

// What the rounds of one fit share: the binned rows, the gradient buffer, the root histograms and
// one tree grower per thread.
struct RoundWorkspace {
  RoundWorkspace(const BinnedMatrix& x_, const FeatureBinner& binner_, std::vector<int> n_bins_,
                 const GbtParams& params, std::size_t K_, int threads_)
      : x(x_),
        binner(binner_),
        n_bins(std::move(n_bins_)),
        K(K_),
        F(x_.cols),
        threads(threads_),
        block(std::min(K_, kClassBlock)),
        gh(x_.rows * 2 * K_),
        root_hist(F * kStride * 2 * K_),
        root_counts(F * kStride),
        roots(block, std::vector<Cell>(F * kStride)) {
    for (int t = 0; t < threads; ++t) growers.emplace_back(x, n_bins, params, x.rows);
  }
  RoundWorkspace(const RoundWorkspace&) = delete;  // the growers point into n_bins
  RoundWorkspace& operator=(const RoundWorkspace&) = delete;
  const BinnedMatrix& x;
  const FeatureBinner& binner;
  const std::vector<int> n_bins;
  const std::size_t K, F;
  const int threads;
  const std::size_t block;  // classes whose root histograms are transposed at once
  std::vector<float> gh;    // per row: K gradients, then K hessians
  std::vector<float> root_hist, root_counts;
  std::vector<std::vector<Cell>> roots;
  std::vector<TreeGrower> growers;
};

// Grows the K trees of one round over `rows` (gradients in ws.gh) into round_trees, their splits
// given raw thresholds.
void grow_round(RoundWorkspace& ws, const std::vector<std::uint32_t>& rows,
                std::vector<std::vector<GbtNode>>& round_trees) {
  const std::size_t K = ws.K, F = ws.F;
  const int threads = ws.threads;
  build_root_histograms(ws.x, rows, ws.gh.data(), K, ws.root_hist, ws.root_counts, threads);
  for (std::size_t k0 = 0; k0 < K; k0 += ws.block) {
    const std::size_t k1 = std::min(K, k0 + ws.block);
    // Transpose the block's root histograms into one cell array per class.
#pragma omp parallel for num_threads(threads_for(F* kStride*(k1 - k0), threads)) schedule(static)
    for (std::ptrdiff_t ff = 0; ff < static_cast<std::ptrdiff_t>(F); ++ff) {
      const std::size_t f = static_cast<std::size_t>(ff);
      for (std::size_t b = 0; b < kStride; ++b) {
        const float* src = ws.root_hist.data() + (f * kStride + b) * 2 * K;
        const float c = ws.root_counts[f * kStride + b];
        for (std::size_t k = k0; k < k1; ++k)
          ws.roots[k - k0][f * kStride + b] = Cell{src[k], src[K + k], c, 0.0f};
      }
    }
#pragma omp parallel for num_threads(threads_for(rows.size() * F * (k1 - k0), threads)) \
    schedule(dynamic, 1)
    for (std::ptrdiff_t kk = static_cast<std::ptrdiff_t>(k0); kk < static_cast<std::ptrdiff_t>(k1);
         ++kk) {
      const std::size_t k = static_cast<std::size_t>(kk);
      TreeGrower& grower = ws.growers[static_cast<std::size_t>(omp_get_thread_num())];
      round_trees[k] = grower.grow(rows, ws.gh.data(), K, k, ws.roots[k - k0].data());
      for (GbtNode& node : round_trees[k])
        if (node.feature >= 0)
          node.threshold = ws.binner.threshold(static_cast<std::size_t>(node.feature), node.bin);
    }
  }
}

// Adds one round's leaves to the scores of every training row (also those the subsample left
// out; read by bins) and of every validation row (read by raw values).
void add_round_scores(const RoundWorkspace& ws, const std::vector<std::vector<GbtNode>>& trees,
                      std::size_t depth, std::vector<double>& score, const Dataset* val,
                      std::vector<double>& score_val) {
  const std::size_t K = ws.K, n = ws.x.rows, n_val = score_val.size() / K;
  const int threads = ws.threads;
#pragma omp parallel for num_threads(threads_for(n* K* depth, threads)) schedule(static)
  for (std::ptrdiff_t ii = 0; ii < static_cast<std::ptrdiff_t>(n); ++ii) {
    const std::size_t i = static_cast<std::size_t>(ii);
    for (std::size_t k = 0; k < K; ++k)
      score[i * K + k] += leaf_of_bins(trees[k].data(), ws.x.row(i));
  }
#pragma omp parallel for num_threads(threads_for(n_val* K* depth, threads)) schedule(static)
  for (std::ptrdiff_t ii = 0; ii < static_cast<std::ptrdiff_t>(n_val); ++ii) {
    const std::size_t i = static_cast<std::size_t>(ii);
    for (std::size_t k = 0; k < K; ++k)
      score_val[i * K + k] += leaf_of_values(trees[k].data(), val->features.row(i));
  }
}

// The trees of a fit (round-major) and the log-loss after each round.
struct Boosted {
  std::vector<std::vector<GbtNode>> trees;
  std::vector<double> train_loss, val_loss;
};

// Where the rounds of a fit start: a cold fit runs n_rounds rounds from the log priors; a warm
// one warm_rounds rounds from the previous model's scores, numbered on from its rounds (the
// subsample draws differ from the previous fit's), and the previous model is itself a candidate
// of early stopping (zero rounds kept: it is best on val as it is).
struct BoostStart {
  std::size_t rounds = 0;       // rounds to run
  std::size_t first_round = 0;  // the number of the first
  bool warm = false;
};

// The boosting rounds from the initial scores: gradients, the round's rows, K trees, new scores;
// with validation rows (val non-null) the val log-loss after each round, and early stopping.
Boosted boost(RoundWorkspace& ws, const GbtParams& params, const BoostStart& start,
              const std::vector<std::int32_t>& y, std::vector<double>& score, const Dataset* val,
              const std::vector<std::int32_t>& y_val, std::vector<double>& score_val,
              std::uint64_t seed) {
  const std::size_t K = ws.K, n = y.size();
  const int threads = ws.threads;
  const double hess_scale = static_cast<double>(K) / static_cast<double>(K - 1);
  std::vector<std::uint32_t> all_rows(n), rows;
  std::iota(all_rows.begin(), all_rows.end(), 0u);
  const std::size_t n_sample =
      params.subsample >= 1.0
          ? n
          : std::max<std::size_t>(1, static_cast<std::size_t>(params.subsample * n));
  Boosted out;
  // The best val log-loss so far and the rounds kept with it (warm: the previous model's).
  double best_val =
      val && start.warm ? softmax_pass(score_val, y_val, K, nullptr, hess_scale, threads) : 0.0;
  std::size_t best_kept = 0;
  std::vector<std::vector<GbtNode>> round_trees(K);
  for (std::size_t round = 0; round < start.rounds; ++round) {
    const double loss = softmax_pass(score, y, K, ws.gh.data(), hess_scale, threads);
    if (round > 0) out.train_loss.push_back(loss);
    draw_round_rows(all_rows, n_sample, seed, start.first_round + round, rows);
    grow_round(ws, rows, round_trees);
    add_round_scores(ws, round_trees, static_cast<std::size_t>(params.max_depth), score, val,
                     score_val);
    for (auto& t : round_trees) out.trees.push_back(std::move(t));
    if (val) {
      const double vl = softmax_pass(score_val, y_val, K, nullptr, hess_scale, threads);
      out.val_loss.push_back(vl);
      if ((round == 0 && !start.warm) || vl < best_val) {
        best_val = vl;
        best_kept = round + 1;
      }
      if (params.early_stopping_rounds > 0 &&
          round + 1 - best_kept >= static_cast<std::size_t>(params.early_stopping_rounds))
        break;
    }
  }
  out.train_loss.push_back(softmax_pass(score, y, K, nullptr, hess_scale, threads));
  if (val && params.early_stopping_rounds > 0) out.trees.resize(best_kept * K);
  return out;
}

}  // namespace

void GbtClassifier::fit(const Dataset& train, const Dataset* val, const Context& ctx) {
  DB_CHECK(train.size() > 0, "gbt: cannot fit on an empty training set");
  DB_CHECK(train.features.rows() == train.size(), "gbt: the training set has no features");
  DB_CHECK(train.size() < (std::size_t{1} << 24), "gbt: at most 2^24 training rows, got {}",
           train.size());
  const int threads = std::max(1, ctx.threads);
  const std::size_t n = train.size(), F = train.features.cols();
  n_classes_ = train.n_classes();
  n_features_ = F;
  trees_.clear();
  train_loss_.clear();
  val_loss_.clear();

  // Boost over the classes present only; the others get probability zero at prediction.
  classes_ = train.teacher;
  std::sort(classes_.begin(), classes_.end());
  classes_.erase(std::unique(classes_.begin(), classes_.end()), classes_.end());
  const std::shared_ptr<const WarmStart> warm = take_warm_start();
  const std::size_t K = classes_.size();
  const std::vector<std::int32_t> y = compact_labels(classes_, train.teacher);
  std::vector<double> count(K, 0.0);
  for (std::int32_t c : y) count[static_cast<std::size_t>(c)] += 1;
  init_.resize(K);
  for (std::size_t k = 0; k < K; ++k) init_[k] = std::log(count[k] / static_cast<double>(n));
  if (warm) init_ = warm->init;  // the previous model's scores continue
  if (K < 2) {                   // one class: probability 1, no trees
    flatten();
    return;
  }

  FeatureBinner binner;
  binner.fit(train.features, params_.max_bins, kHistSampleRows, ctx);
  const BinnedMatrix x = binner.transform(train.features, threads);
  std::vector<int> n_bins(F);
  for (std::size_t f = 0; f < F; ++f) n_bins[f] = binner.n_bins(f);

  const bool use_val = val != nullptr && val->size() > 0;
  if (use_val)
    DB_CHECK(val->features.cols() == F, "gbt: validation set has {} feature columns, expected {}",
             val->features.cols(), F);
  const std::vector<std::int32_t> y_val =
      use_val ? compact_labels(classes_, val->teacher) : std::vector<std::int32_t>{};
  std::vector<double> score, score_val;
  if (warm) {
    score = warm->scores(train.features, threads);
    if (use_val) score_val = warm->scores(val->features, threads);
  } else {
    score.resize(n * K);
    score_val.resize(y_val.size() * K);
    for (std::size_t i = 0; i < n; ++i) std::copy(init_.begin(), init_.end(), &score[i * K]);
    for (std::size_t i = 0; i < y_val.size(); ++i)
      std::copy(init_.begin(), init_.end(), &score_val[i * K]);
  }
  RoundWorkspace ws(x, binner, std::move(n_bins), params_, K, threads);
  const BoostStart start =
      warm ? BoostStart{static_cast<std::size_t>(params_.warm_rounds), warm->rounds(), true}
           : BoostStart{static_cast<std::size_t>(params_.n_rounds), 0, false};
  Boosted b =
      boost(ws, params_, start, y, score, use_val ? val : nullptr, y_val, score_val, ctx.seed);
  if (warm) {  // the previous model's trees, then the new rounds
    trees_ = warm->trees;
    trees_.insert(trees_.end(), std::make_move_iterator(b.trees.begin()),
                  std::make_move_iterator(b.trees.end()));
  } else {
    trees_ = std::move(b.trees);
  }
  train_loss_ = std::move(b.train_loss);
  val_loss_ = std::move(b.val_loss);
  flatten();
}

}  // namespace deferbench
