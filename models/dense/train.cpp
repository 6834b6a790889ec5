#include "models/dense/train.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <thread>
#include <utility>

#include <omp.h>

#include "core/util/error.h"
#include "core/util/random.h"
#include "core/util/simd.h"

namespace deferbench::dense {

bool RowTargets::fits(std::size_t k) const {
  if (y_ == nullptr) return weights_.rows() == 0 || weights_.cols() == k;
  return std::all_of(y_->begin(), y_->end(),
                     [k](std::int64_t c) { return c >= 0 && static_cast<std::uint64_t>(c) < k; });
}

DenseWeights initial_weights(std::size_t in, const std::vector<std::size_t>& hidden,
                             std::size_t out, Activation activation, Init init,
                             std::uint64_t seed) {
  DenseWeights w;
  Rng rng(seed);
  std::size_t prev = in;
  for (std::size_t l = 0; l <= hidden.size(); ++l) {
    const std::size_t next = l < hidden.size() ? hidden[l] : out;
    Matrix weight(next, prev, 0.0f);
    std::vector<float> bias(next, 0.0f);
    if (init == Init::kGlorot) {
      const double factor = activation == Activation::kLogistic ? 2.0 : 6.0;
      const double bound = std::sqrt(factor / static_cast<double>(prev + next));
      auto draw = [&](float* v, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i)
          v[i] = static_cast<float>((2.0 * rng.uniform() - 1.0) * bound);
      };
      draw(weight.data(), weight.size());
      draw(bias.data(), bias.size());
    }
    w.weights.push_back(std::move(weight));
    w.biases.push_back(std::move(bias));
    prev = next;
  }
  return w;
}

namespace {

constexpr float kBeta1 = 0.9f, kBeta2 = 0.999f, kEps = 1e-8f;
constexpr std::size_t kRowTile = 4;       // rows per register tile of affine_rows
constexpr std::size_t kAdamChunk = 4096;  // parameters per Adam work unit
constexpr std::size_t kValBlock = 64;     // validation rows per work unit
constexpr std::size_t kChunkRows = 512;   // rows per chunk of the logistic objective's gradient
// Multiply-adds per minibatch step below which one thread trains: a step is then a few
// microseconds, less than waking a second thread for each of its phases.
constexpr double kParallelStepWork = 1 << 20;

// A barrier for the phases of one step (tens to hundreds of microseconds each): it spins
// briefly, then yields, so it neither sleeps through short waits nor starves a busy machine.
class SpinBarrier {
 public:
  explicit SpinBarrier(int n) : n_(n) {}
  void wait() {
    const unsigned gen = gen_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) + 1 == n_) {
      count_.store(0, std::memory_order_relaxed);
      gen_.fetch_add(1, std::memory_order_release);
      return;
    }
    for (int spin = 0; gen_.load(std::memory_order_acquire) == gen; ++spin) {
      if (spin < 2048) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      } else {
        std::this_thread::yield();
      }
    }
  }

 private:
  const int n_;
  std::atomic<int> count_{0};
  std::atomic<unsigned> gen_{0};
};

// Units [begin, end) of `units` for thread t of `threads`.
std::pair<std::size_t, std::size_t> share(std::size_t units, int t, int threads) {
  const auto T = static_cast<std::size_t>(threads), i = static_cast<std::size_t>(t);
  return {units * i / T, units * (i + 1) / T};
}

// Rows [begin, end) of `rows` for thread t, in whole register tiles.
std::pair<std::size_t, std::size_t> row_share(std::size_t rows, int t, int threads) {
  auto [a, b] = share((rows + kRowTile - 1) / kRowTile, t, threads);
  return {std::min(a * kRowTile, rows), std::min(b * kRowTile, rows)};
}

// d[i] *= σ'(pre-activation) expressed through the activation's output h[i].
void times_derivative(Activation a, const float* h, float* d, std::size_t n) {
  switch (a) {
    case Activation::kRelu:
      for (std::size_t i = 0; i < n; ++i) d[i] = h[i] > 0.0f ? d[i] : 0.0f;
      break;
    case Activation::kTanh:
      for (std::size_t i = 0; i < n; ++i) d[i] *= 1.0f - h[i] * h[i];
      break;
    case Activation::kLogistic:
      for (std::size_t i = 0; i < n; ++i) d[i] *= h[i] * (1.0f - h[i]);
      break;
  }
}

// Adam over p[0, n) with gradient g (+ l2_grad · p on the first `penalized` entries); returns
// Σ p² over those entries before the update (the L2 term of this step's objective).
struct AdamStep {
  float step_size, inv_sqrt_bc2, l2_grad;
};
template <bool kPenalized>
DB_SIMD_BODY void adam_range(float* p, const float* g, float* m, float* v, std::size_t n,
                             AdamStep s) {
  for (std::size_t i = 0; i < n; ++i) {
    const float w = p[i];
    const float grad = kPenalized ? g[i] + s.l2_grad * w : g[i];
    const float mi = kBeta1 * m[i] + (1.0f - kBeta1) * grad;
    const float vi = kBeta2 * v[i] + (1.0f - kBeta2) * grad * grad;
    m[i] = mi;
    v[i] = vi;
    p[i] = w - s.step_size * (mi / (std::sqrt(vi) * s.inv_sqrt_bc2 + kEps));
  }
}

DB_SIMD_BODY double adam_update_body(float* p, const float* g, float* m, float* v, std::size_t n,
                                     std::size_t penalized, AdamStep s) {
  // Σ p² in eight float lanes, then the lanes in a fixed order.
  simd::v8 acc = simd::splat(0.0f);
  std::size_t i = 0;
  for (; i + 8 <= penalized; i += 8) {
    const simd::v8 w = simd::load8(p + i);
    acc += w * w;
  }
  double sq = simd::hsum(acc);
  for (; i < penalized; ++i) sq += static_cast<double>(p[i]) * p[i];
  adam_range<true>(p, g, m, v, penalized, s);
  adam_range<false>(p + penalized, g + penalized, m + penalized, v + penalized, n - penalized, s);
  return sq;
}
DB_SIMD_DISPATCH(double, adam_update,
                 (float* p, const float* g, float* m, float* v, std::size_t n,
                  std::size_t penalized, AdamStep s),
                 (p, g, m, v, n, penalized, s))

struct Layer {
  std::size_t in = 0, out = 0, pad = 0;  // input width, output width, output width padded
  std::size_t in_ld = 0;                 // row stride of the layer's input activations
  std::vector<float> p;                  // (in + 1) × pad: Wᵀ, then the bias row
  std::vector<float> g, m, v;            // its gradient and Adam moments
  std::vector<float> w;                  // out × in_ld: W, for the input gradient (l > 0)
  std::vector<float> h;                  // batch × pad: outputs (activated; logits → softmax)
  std::vector<float> dz;                 // batch × pad: ∂loss/∂pre-activation
};

// A parameter range Adam updates as one unit.
struct AdamUnit {
  std::size_t layer, begin, end;
};

class CpuTrainer {
 public:
  CpuTrainer(DenseWeights& net, Activation activation, MatrixView x, const RowTargets& y,
             MatrixView x_val, const RowTargets& y_val, const AdamOptions& o, int threads)
      : net_(net), act_(activation), x_(x), y_(y), xv_(x_val), yv_(y_val), o_(o) {
    n_ = x.rows();
    batch_ = static_cast<std::size_t>(std::max<std::int64_t>(
        1, std::min<std::int64_t>(o.batch_size, static_cast<std::int64_t>(n_))));
    const std::size_t layers = net.weights.size();
    std::size_t in_ld = x.cols(), widest = 0;
    double work = 0;
    for (std::size_t l = 0; l < layers; ++l) {
      const Matrix& wm = net.weights[l];
      Layer L;
      L.in = wm.cols();
      L.out = wm.rows();
      L.pad = padded_columns(L.out);
      L.in_ld = in_ld;
      L.p.assign((L.in + 1) * L.pad, 0.0f);
      for (std::size_t o = 0; o < L.out; ++o) {
        for (std::size_t j = 0; j < L.in; ++j) L.p[j * L.pad + o] = wm(o, j);
        L.p[L.in * L.pad + o] = net.biases[l][o];
      }
      L.g.assign(L.p.size(), 0.0f);
      L.m.assign(L.p.size(), 0.0f);
      L.v.assign(L.p.size(), 0.0f);
      if (l > 0) L.w.assign(L.out * L.in_ld, 0.0f);
      L.h.assign(batch_ * L.pad, 0.0f);
      L.dz.assign(batch_ * L.pad, 0.0f);
      for (std::size_t begin = 0; begin < L.p.size(); begin += kAdamChunk)
        units_.push_back({l, begin, std::min(begin + kAdamChunk, L.p.size())});
      widest = std::max({widest, L.pad, L.in_ld});
      work += static_cast<double>(L.in + 1) * static_cast<double>(L.pad);
      in_ld = L.pad;
      layers_.push_back(std::move(L));
    }
    zeros_.assign(widest, 0.0f);
    widest_ = widest;
    xb_.assign(batch_ * x.cols(), 0.0f);
    rows_.assign(batch_, 0);
    ce_.assign(batch_, 0.0);
    sq_.assign(units_.size(), 0.0);
    ce_val_.assign(xv_.rows(), 0.0);
    perm_.resize(n_);
    std::iota(perm_.begin(), perm_.end(), std::size_t{0});
    // Forward and two backward products: about three times the forward's multiply-adds.
    threads_ =
        threads > 1 && 3.0 * work * static_cast<double>(batch_) >= kParallelStepWork ? threads : 1;
  }

  AdamReport run() {
    if (threads_ == 1) {
      barrier_ = std::make_unique<SpinBarrier>(1);
      body(0, 1);
    } else {
#pragma omp parallel num_threads(threads_)
      {
        // The team OpenMP actually gave (fewer threads when nested, for one).
#pragma omp single
        barrier_ = std::make_unique<SpinBarrier>(omp_get_num_threads());
        body(omp_get_thread_num(), omp_get_num_threads());
      }
    }
    DB_CHECK(!diverged_,
             "training diverged at epoch {} (loss is not finite); lower the learning rate 'lr'",
             report_.epochs);
    const bool has_val = xv_.rows() > 0;
    if (has_val && !best_.empty()) {
      for (std::size_t l = 0; l < layers_.size(); ++l) layers_[l].p = std::move(best_[l]);
    } else {
      report_.best_epoch = report_.epochs;
    }
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      const Layer& L = layers_[l];
      for (std::size_t o = 0; o < L.out; ++o) {
        for (std::size_t j = 0; j < L.in; ++j) net_.weights[l](o, j) = L.p[j * L.pad + o];
        net_.biases[l][o] = L.p[L.in * L.pad + o];
      }
    }
    return std::move(report_);
  }

 private:
  // The whole fit, run by each of `T` threads (t is this one); the threads meet at the
  // barrier between the phases of a step.
  void body(int t, int T) {
    SpinBarrier& bar = *barrier_;
    std::vector<float> va(kValBlock * widest_), vb(kValBlock * widest_);
    const std::size_t L = layers_.size();
    long step = 0;
    for (int epoch = 1; epoch <= o_.max_epochs; ++epoch) {
      if (t == 0) {
        rng_.shuffle(perm_.data(), perm_.size());
        total_ = 0.0;
      }
      bar.wait();
      for (std::size_t b = 0; b < n_; b += batch_) {
        const std::size_t rows = std::min(batch_, n_ - b);
        ++step;
        forward(t, T, b, rows);
        bar.wait();
        for (std::size_t l = L; l-- > 0;) {
          backward(l, t, T, rows);
          bar.wait();
        }
        adam(t, T, rows, step);
        bar.wait();
        if (t == 0) {
          const double coef = o_.l2_per_batch ? o_.l2 / static_cast<double>(rows) : o_.l2;
          double sq = 0.0;
          for (double s : sq_) sq += s;
          total_ += (ce_sum_ / static_cast<double>(rows) + coef * sq) * static_cast<double>(rows);
        }
      }
      validation(t, T, va, vb);
      bar.wait();
      if (t == 0) end_epoch(epoch);
      bar.wait();
      if (stop_) break;
    }
  }

  // Phase 1 of a step: this thread's rows of the minibatch through every layer, ending with
  // the output's softmax, cross-entropy and ∂loss/∂logits; plus its rows of each W (l > 0),
  // transposed from the parameters Adam just updated.
  void forward(int t, int T, std::size_t b, std::size_t rows) {
    for (std::size_t l = 1; l < layers_.size(); ++l) {
      Layer& Ly = layers_[l];
      auto [o0, o1] = share(Ly.out, t, T);
      for (std::size_t o = o0; o < o1; ++o)
        for (std::size_t j = 0; j < Ly.in; ++j) Ly.w[o * Ly.in_ld + j] = Ly.p[j * Ly.pad + o];
    }
    auto [r0, r1] = row_share(rows, t, T);
    if (r0 >= r1) return;
    const std::size_t d = x_.cols();
    for (std::size_t r = r0; r < r1; ++r) {
      const std::size_t src = perm_[b + r];
      std::memcpy(xb_.data() + r * d, x_.row(src), d * sizeof(float));
      rows_[r] = src;
    }
    const float* in = xb_.data();
    const float inv_rows = 1.0f / static_cast<float>(rows);
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      Layer& Ly = layers_[l];
      float* h = Ly.h.data();
      affine_rows(in + r0 * Ly.in_ld, Ly.in_ld, r1 - r0, Ly.p.data(), Ly.p.data() + Ly.in * Ly.pad,
                  Ly.in, Ly.pad, h + r0 * Ly.pad, Ly.pad);
      if (l + 1 < layers_.size()) {
        for (std::size_t r = r0; r < r1; ++r) activate(act_, h + r * Ly.pad, Ly.out);
        in = h;
        continue;
      }
      for (std::size_t r = r0; r < r1; ++r) {
        float* z = h + r * Ly.pad;
        const std::size_t src = rows_[r];
        const double target = y_.target_logit(src, z);
        ce_[r] = y_.mass(src) * static_cast<double>(softmax_inplace(z, Ly.out)) - target;
        float* dz = Ly.dz.data() + r * Ly.pad;
        y_.gradient(src, z, Ly.out, inv_rows, dz);  // ((Σ_j W_j) p − W) / rows
        std::fill(dz + Ly.out, dz + Ly.pad, 0.0f);
      }
    }
  }

  // Layer l's gradient — this thread's rows of Wᵀ's (xᵀ · dz) and its columns of b's (Σ_r dz[r],
  // rows in order) — and, for l > 0, its rows of the previous layer's dz = (dz · W) ⊙ σ'.
  void backward(std::size_t l, int t, int T, std::size_t rows) {
    Layer& Ly = layers_[l];
    const float* in = l == 0 ? xb_.data() : layers_[l - 1].h.data();
    auto [i0, i1] = row_share(Ly.in, t, T);
    if (i0 < i1)
      affine_columns(in + i0, Ly.in_ld, i1 - i0, Ly.dz.data(), zeros_.data(), rows, Ly.pad,
                     Ly.g.data() + i0 * Ly.pad, Ly.pad);
    auto [c0, c1] = share(Ly.pad / kColumnTile, t, T);
    float* db = Ly.g.data() + Ly.in * Ly.pad;
    std::fill(db + c0 * kColumnTile, db + c1 * kColumnTile, 0.0f);
    for (std::size_t r = 0; r < rows; ++r) {
      const float* dz = Ly.dz.data() + r * Ly.pad;
      for (std::size_t c = c0 * kColumnTile; c < c1 * kColumnTile; ++c) db[c] += dz[c];
    }
    if (l == 0) return;
    Layer& prev = layers_[l - 1];
    auto [r0, r1] = row_share(rows, t, T);
    if (r0 >= r1) return;
    affine_rows(Ly.dz.data() + r0 * Ly.pad, Ly.pad, r1 - r0, Ly.w.data(), zeros_.data(), Ly.out,
                Ly.in_ld, prev.dz.data() + r0 * prev.pad, prev.pad);
    for (std::size_t r = r0; r < r1; ++r)
      times_derivative(act_, prev.h.data() + r * prev.pad, prev.dz.data() + r * prev.pad, prev.out);
  }

  void adam(int t, int T, std::size_t rows, long step) {
    if (t == 0) {
      double s = 0.0;
      for (std::size_t r = 0; r < rows; ++r) s += ce_[r];
      ce_sum_ = s;
    }
    const double coef = o_.l2_per_batch ? o_.l2 / static_cast<double>(rows) : o_.l2;
    const double bc1 = 1.0 - std::pow(static_cast<double>(kBeta1), static_cast<double>(step));
    const double bc2 = 1.0 - std::pow(static_cast<double>(kBeta2), static_cast<double>(step));
    const AdamStep s{static_cast<float>(o_.lr / bc1), static_cast<float>(1.0 / std::sqrt(bc2)),
                     static_cast<float>(2.0 * coef)};
    auto [u0, u1] = share(units_.size(), t, T);
    for (std::size_t u = u0; u < u1; ++u) {
      const AdamUnit& unit = units_[u];
      Layer& Ly = layers_[unit.layer];
      const std::size_t weights = Ly.in * Ly.pad;
      const std::size_t penalized =
          unit.begin >= weights ? 0 : std::min(unit.end, weights) - unit.begin;
      sq_[u] =
          adam_update(Ly.p.data() + unit.begin, Ly.g.data() + unit.begin, Ly.m.data() + unit.begin,
                      Ly.v.data() + unit.begin, unit.end - unit.begin, penalized, s);
    }
  }

  // This thread's blocks of validation rows: cross-entropy per row.
  void validation(int t, int T, std::vector<float>& a, std::vector<float>& b) {
    const std::size_t nv = xv_.rows();
    auto [b0, b1] = share((nv + kValBlock - 1) / kValBlock, t, T);
    for (std::size_t blk = b0; blk < b1; ++blk) {
      const std::size_t r0 = blk * kValBlock, rows = std::min(kValBlock, nv - r0);
      const float* in = xv_.row(r0);
      std::size_t ld = xv_.cols();
      float* out = a.data();
      for (std::size_t l = 0; l < layers_.size(); ++l) {
        const Layer& Ly = layers_[l];
        affine_rows(in, ld, rows, Ly.p.data(), Ly.p.data() + Ly.in * Ly.pad, Ly.in, Ly.pad, out,
                    Ly.pad);
        if (l + 1 < layers_.size()) {
          for (std::size_t r = 0; r < rows; ++r) activate(act_, out + r * Ly.pad, Ly.out);
          in = out;
          ld = Ly.pad;
          out = out == a.data() ? b.data() : a.data();
          continue;
        }
        for (std::size_t r = 0; r < rows; ++r) {
          float* z = out + r * Ly.pad;
          const double target = yv_.target_logit(r0 + r, z);
          ce_val_[r0 + r] =
              yv_.mass(r0 + r) * static_cast<double>(softmax_inplace(z, Ly.out)) - target;
        }
      }
    }
  }

  // Thread 0, after every thread's validation: the epoch's losses and scikit-learn's
  // n_iter_no_change bookkeeping.
  void end_epoch(int epoch) {
    const double train_loss = total_ / static_cast<double>(n_);
    report_.epochs = epoch;
    if (!std::isfinite(train_loss)) {
      diverged_ = true;
      stop_ = true;
      return;
    }
    report_.train_loss.push_back(train_loss);
    double monitored = train_loss;
    const bool has_val = xv_.rows() > 0;
    if (has_val) {
      double s = 0.0;
      for (double c : ce_val_) s += c;
      monitored = s / static_cast<double>(xv_.rows());
      report_.val_loss.push_back(monitored);
    }
    if (monitor_.record(monitored)) {
      report_.best_epoch = epoch;
      if (has_val) {
        best_.resize(layers_.size());
        for (std::size_t l = 0; l < layers_.size(); ++l) best_[l] = layers_[l].p;
      }
    }
    if (monitor_.stop()) {
      report_.stopped_early = epoch < o_.max_epochs;
      stop_ = true;
    }
  }

  DenseWeights& net_;
  Activation act_;
  MatrixView x_;
  const RowTargets& y_;
  MatrixView xv_;
  const RowTargets& yv_;
  const AdamOptions& o_;
  std::size_t n_ = 0, batch_ = 0, widest_ = 0;
  int threads_ = 1;
  std::vector<Layer> layers_;
  std::vector<AdamUnit> units_;
  std::vector<float> zeros_, xb_;
  std::vector<std::size_t> rows_, perm_;  // the minibatch's rows of x, all rows shuffled
  std::vector<double> ce_, sq_, ce_val_;
  Rng rng_{o_.shuffle_seed};
  std::unique_ptr<SpinBarrier> barrier_;

  // Written by thread 0 between barriers.
  double ce_sum_ = 0.0, total_ = 0.0;
  EpochMonitor monitor_{o_};
  bool stop_ = false, diverged_ = false;
  std::vector<std::vector<float>> best_;
  AdamReport report_;
};

}  // namespace

SoftmaxRegressionObjective::SoftmaxRegressionObjective(MatrixView x, std::size_t k, double l2,
                                                       std::size_t block_rows, int threads)
    : x_(x), k_(k), d_(x.cols()), pad_(padded_columns(k)), l2_(l2) {
  const std::size_t n = x.rows();
  DB_ASSERT(n > 0 && k > 0 && block_rows > 0);
  // A few blocks per thread on 2–8 cores, none above block_rows rows.
  constexpr std::size_t kRowsPerBlock = 2048, kMaxBlocks = 64;
  blocks_ = std::max((n + block_rows - 1) / block_rows,
                     std::min(kMaxBlocks, (n + kRowsPerBlock - 1) / kRowsPerBlock));
  block_rows_ = (n + blocks_ - 1) / blocks_;
  blocks_ = (n + block_rows_ - 1) / block_rows_;
  const double work =
      2.0 * static_cast<double>(n) * static_cast<double>(d_ + 1) * static_cast<double>(pad_);
  threads_ =
      work >= kParallelStepWork ? std::max(1, std::min(threads, static_cast<int>(blocks_))) : 1;
  pt_.assign((d_ + 1) * pad_, 0.0f);
  zeros_.assign(pad_, 0.0f);
  block_grad_.assign(blocks_ * (d_ + 1) * pad_, 0.0f);
  block_loss_.assign(blocks_, 0.0);
  // Per thread: a chunk's logits (then ∂CE/∂z), its rows' log-sum-exps and its gradient.
  scratch_.assign(static_cast<std::size_t>(threads_),
                  std::vector<float>(kChunkRows * pad_ + kChunkRows + (d_ + 1) * pad_));
}

SoftmaxRegressionObjective::SoftmaxRegressionObjective(MatrixView x,
                                                       const std::vector<std::int64_t>& y,
                                                       std::size_t k, double l2,
                                                       std::size_t block_rows, int threads)
    : SoftmaxRegressionObjective(x, k, l2, block_rows, threads) {
  targets_ = RowTargets(y);
  DB_ASSERT(targets_.rows() == x.rows() && targets_.fits(k));
}

SoftmaxRegressionObjective::SoftmaxRegressionObjective(MatrixView x, MatrixView targets, double l2,
                                                       std::size_t block_rows, int threads)
    : SoftmaxRegressionObjective(x, targets.cols(), l2, block_rows, threads) {
  targets_ = RowTargets(targets);
  DB_ASSERT(targets_.rows() == x.rows());
}

void SoftmaxRegressionObjective::chunk_loss(std::size_t r0, std::size_t rows, float* z, float* lse,
                                            double& loss) const {
  const std::size_t pad = pad_, k = k_;
  // Σ_j T_ij (lse_i − z_ij) = (Σ_j T_ij) lse_i − Σ_j T_ij z_ij, accumulated in double: first
  // −Σ_j T_ij z_ij for every row, then the lse terms.
  for (std::size_t r = 0; r < rows; ++r) loss -= targets_.target_logit(r0 + r, z + r * pad);
  softmax_rows(z, pad, rows, k, lse);
  for (std::size_t r = 0; r < rows; ++r) {
    loss += targets_.mass(r0 + r) * lse[r];
    float* zr = z + r * pad;
    targets_.gradient(r0 + r, zr, k, 1.0f, zr);  // ∂CE/∂z = (Σ_j T_ij) p − T_i
  }
}

double SoftmaxRegressionObjective::operator()(const std::vector<double>& params,
                                              std::vector<double>& grad) {
  const std::size_t n = x_.rows(), d = d_, k = k_, pad = pad_;
  DB_ASSERT(params.size() == k * d + k);
  grad.assign(params.size(), 0.0);
  for (std::size_t o = 0; o < k; ++o) {
    for (std::size_t j = 0; j < d; ++j) pt_[j * pad + o] = static_cast<float>(params[o * d + j]);
    pt_[d * pad + o] = static_cast<float>(params[k * d + o]);
  }
  const std::size_t stride = (d + 1) * pad;
  // A block in chunks of kChunkRows rows, so that the chunk's rows stay in L2 while the weight
  // gradient reads them column by column; each chunk's gradient is added to the block's.
  auto block = [&](std::size_t b, std::vector<float>& scratch) {
    const std::size_t b0 = b * block_rows_, b1 = std::min(b0 + block_rows_, n);
    float* z = scratch.data();
    float* lse = z + kChunkRows * pad;
    float* chunk_grad = lse + kChunkRows;
    float* g = block_grad_.data() + b * stride;
    double loss = 0.0;
    for (std::size_t r0 = b0; r0 < b1; r0 += kChunkRows) {
      const std::size_t rows = std::min(kChunkRows, b1 - r0);
      affine_rows(x_.row(r0), d, rows, pt_.data(), pt_.data() + d * pad, d, pad, z, pad);
      chunk_loss(r0, rows, z, lse, loss);  // z becomes ∂CE/∂z
      float* out = r0 == b0 ? g : chunk_grad;
      affine_columns(x_.row(r0), d, d, z, zeros_.data(), rows, pad, out, pad);
      float* gb = out + d * pad;
      std::fill(gb, gb + pad, 0.0f);
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t o = 0; o < pad; ++o) gb[o] += z[r * pad + o];
      if (out != g)
        for (std::size_t i = 0; i < stride; ++i) g[i] += chunk_grad[i];
    }
    block_loss_[b] = loss;
  };
  // Σ over blocks, in block order, of rows [j0, j1) of the (d + 1) × pad gradient.
  auto reduce = [&](std::size_t j0, std::size_t j1) {
    for (std::size_t j = j0; j < j1; ++j)
      for (std::size_t o = 0; o < k; ++o) {
        double s = 0.0;
        for (std::size_t b = 0; b < blocks_; ++b) s += block_grad_[b * stride + j * pad + o];
        const double v = s / static_cast<double>(n);
        if (j < d)
          grad[o * d + j] = v;
        else
          grad[k * d + o] = v;
      }
  };
  if (threads_ == 1) {
    for (std::size_t b = 0; b < blocks_; ++b) block(b, scratch_[0]);
    reduce(0, d + 1);
  } else {
#pragma omp parallel num_threads(threads_)
    {
      std::vector<float>& z = scratch_[static_cast<std::size_t>(omp_get_thread_num())];
#pragma omp for schedule(static)
      for (std::ptrdiff_t b = 0; b < static_cast<std::ptrdiff_t>(blocks_); ++b)
        block(static_cast<std::size_t>(b), z);
      auto [j0, j1] = share(d + 1, omp_get_thread_num(), omp_get_num_threads());
      reduce(j0, j1);
    }
  }
  double loss = 0.0;
  for (double l : block_loss_) loss += l;
  double sq = 0.0;
  for (std::size_t i = 0; i < k * d; ++i) {
    sq += params[i] * params[i];
    grad[i] += 2.0 * l2_ * params[i];
  }
  return loss / static_cast<double>(n) + l2_ * sq;
}

AdamReport train_adam_cpu(DenseWeights& net, Activation activation, MatrixView x,
                          const RowTargets& y, MatrixView x_val, const RowTargets& y_val,
                          const AdamOptions& options, int threads) {
  DB_ASSERT(!net.weights.empty() && net.weights.size() == net.biases.size());
  DB_ASSERT(x.rows() > 0 && y.rows() == x.rows() && x.cols() == net.weights.front().cols());
  DB_ASSERT(y_val.rows() == x_val.rows());
  DB_ASSERT(x_val.rows() == 0 || x_val.cols() == x.cols());
  const std::size_t k = net.weights.back().rows();
  DB_ASSERT(y.fits(k) && y_val.fits(k));
  CpuTrainer trainer(net, activation, x, y, x_val, y_val, options, std::max(1, threads));
  return trainer.run();
}

}  // namespace deferbench::dense
