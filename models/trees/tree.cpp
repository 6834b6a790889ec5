#include "models/trees/tree.h"

#include <omp.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/util/error.h"
#include "core/util/random.h"

namespace deferbench {

// ---- max_features ----------------------------------------------------------------------------

std::size_t MaxFeatures::resolve(std::size_t n_features) const {
  const double d = static_cast<double>(n_features);
  auto at_least_one = [](double v) {
    return std::max<std::size_t>(1, static_cast<std::size_t>(v));
  };
  switch (kind) {
    case Kind::kAll:
      return n_features;
    case Kind::kSqrt:
      return at_least_one(std::floor(std::sqrt(d)));
    case Kind::kLog2:
      return at_least_one(std::floor(std::log2(d)));
    case Kind::kFraction:
      return std::min(n_features, at_least_one(std::floor(value * d)));
    case Kind::kCount:
      DB_CHECK(value <= d, "trees: max_features {} exceeds the number of features ({})",
               static_cast<std::size_t>(value), n_features);
      return static_cast<std::size_t>(value);
  }
  return n_features;
}

std::string MaxFeatures::to_string() const {
  switch (kind) {
    case Kind::kAll:
      return "all";
    case Kind::kSqrt:
      return "sqrt";
    case Kind::kLog2:
      return "log2";
    case Kind::kFraction: {
      // The shortest text that reads back to the same fraction, with a point (1.0, not 1).
      std::string s = fmt::format("{}", value);
      if (s.find_first_of(".eE") == std::string::npos) s += ".0";
      return s;
    }
    case Kind::kCount:
      return fmt::format("{}", static_cast<std::int64_t>(value));
  }
  return "?";
}

MaxFeatures MaxFeatures::parse(const std::string& text, const std::string& key_path) {
  auto bad = [&]() {
    DB_THROW(
        "config: '{}': expected all, sqrt, log2, a fraction in (0, 1] or an integer in "
        "[1, 1000000], got '{}'",
        key_path, text);
  };
  MaxFeatures m;
  if (text == "all" || text == "sqrt" || text == "log2") {
    m.kind = text == "all" ? Kind::kAll : text == "sqrt" ? Kind::kSqrt : Kind::kLog2;
    return m;
  }
  if (text.find_first_of(".eE") != std::string::npos) {
    char* end = nullptr;
    const double x = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(x) || x <= 0 || x > 1)
      bad();
    m.kind = Kind::kFraction;
    m.value = x;
    return m;
  }
  std::int64_t k = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), k);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || k < 1 || k > 1000000)
    bad();
  m.kind = Kind::kCount;
  m.value = static_cast<double>(k);
  return m;
}

// ---- training set ----------------------------------------------------------------------------

TreeTrainingSet::TreeTrainingSet(BinnedMatrix binned, std::vector<std::uint16_t> labels_,
                                 int n_classes_, const FeatureBinner& binner_, int threads)
    : rows(binned.rows),
      features(binned.cols),
      n_classes(n_classes_),
      row_bins(std::move(binned.bins)),
      labels(std::move(labels_)),
      cuts(features * FeatureBinner::kMaxBins, 0.0f) {
  DB_ASSERT(binner_.n_features() == features);
  for (std::size_t f = 0; f < features; ++f)
    std::copy(binner_.cuts(f).begin(), binner_.cuts(f).end(),
              cuts.begin() + static_cast<std::ptrdiff_t>(f * FeatureBinner::kMaxBins));
  DB_ASSERT(labels.size() == rows && row_bins.size() == rows * features);
  bins.resize(rows * features);
  // Transpose in blocks of rows so that both sides stay in cache.
  constexpr std::size_t kBlock = 64;
  const std::ptrdiff_t n_blocks = static_cast<std::ptrdiff_t>((rows + kBlock - 1) / kBlock);
#pragma omp parallel for num_threads(std::max(1, threads)) schedule(static)
  for (std::ptrdiff_t bb = 0; bb < n_blocks; ++bb) {
    const std::size_t r0 = static_cast<std::size_t>(bb) * kBlock;
    const std::size_t r1 = std::min(rows, r0 + kBlock);
    for (std::size_t f = 0; f < features; ++f)
      for (std::size_t r = r0; r < r1; ++r) bins[f * rows + r] = row_bins[r * features + f];
  }
  xlogx.resize(rows + 1);
  xlogx[0] = 0;
  for (std::size_t x = 1; x <= rows; ++x) {
    const double v = static_cast<double>(x);
    xlogx[x] = v * std::log(v);
  }
}

// ---- impurity ----------------------------------------------------------------------------------

double node_impurity(Criterion criterion, const std::vector<double>& counts) {
  double n = 0;
  for (double c : counts) n += c;
  if (n <= 0) return 0;
  double s = 0;
  for (double c : counts) {
    if (c <= 0) continue;
    const double p = c / n;
    s += criterion == Criterion::kGini ? p * p : -p * std::log2(p);
  }
  return criterion == Criterion::kGini ? 1.0 - s : s;
}

double impurity_decrease(Criterion criterion, const std::vector<double>& left,
                         const std::vector<double>& right) {
  DB_ASSERT(left.size() == right.size());
  std::vector<double> parent(left.size());
  double nl = 0, nr = 0;
  for (std::size_t c = 0; c < left.size(); ++c) {
    parent[c] = left[c] + right[c];
    nl += left[c];
    nr += right[c];
  }
  const double n = nl + nr;
  if (n <= 0) return 0;
  return node_impurity(criterion, parent) - nl / n * node_impurity(criterion, left) -
         nr / n * node_impurity(criterion, right);
}

// ---- the learner -------------------------------------------------------------------------------

namespace {

constexpr double kPureImpurity = std::numeric_limits<double>::epsilon();  // scikit-learn's EPSILON
constexpr std::size_t kSmallNode = 24;  // below: sort the node's rows instead of bucketing them
constexpr std::size_t kParallelWork = 1 << 15;  // rows × candidates worth a parallel evaluation
// A node with fewer than rows / kSparseNode rows reads its bins row by row (a row's bins share
// cache lines); a bigger one column by column.
constexpr std::size_t kSparseNode = 16;
constexpr double kNoSplit = -std::numeric_limits<double>::infinity();

// A row of a node as the split search reads it: compact class << 16 | integer weight.
inline std::uint32_t cls_of(std::uint32_t lw) {
  return lw >> 16;
}
inline std::uint32_t weight_of(std::uint32_t lw) {
  return lw & 0xFFFFu;
}

// Per-worker buffers, reused across nodes.
struct Scratch {
  std::vector<std::int64_t> left;      // n_classes; all zero between uses
  std::vector<std::int32_t> left4;     // 4 × n_classes, interleaved; all zero between uses
  std::vector<std::uint32_t> count;    // 256 bucket counts / offsets
  std::vector<std::uint8_t> bins;      // one feature's bins of the node's rows
  std::vector<std::uint32_t> entries;  // the node's rows in bin order (class << 16 | weight)
  std::vector<std::uint64_t> keys;     // small nodes: bin << 32 | class << 16 | weight
  std::vector<std::uint16_t> seg_bin;  // the bins present, ascending
  std::vector<std::uint32_t> seg_end;  // end of each bin's run in `entries`

  Scratch(int n_classes, std::size_t rows)
      : left(static_cast<std::size_t>(n_classes), 0),
        left4(4 * static_cast<std::size_t>(n_classes), 0),
        count(FeatureBinner::kMaxBins, 0),
        bins(rows),
        entries(rows),
        keys(kSmallNode),
        seg_bin(FeatureBinner::kMaxBins),
        seg_end(FeatureBinner::kMaxBins) {}
};

// The node whose split is searched.
struct NodeStats {
  const std::uint32_t* rows = nullptr;  // its distinct rows, ascending
  const std::uint32_t* lw = nullptr;    // class << 16 | weight of each
  std::size_t m = 0;
  const std::int64_t* counts = nullptr;                 // weighted class counts (n_classes)
  const std::vector<std::uint16_t>* present = nullptr;  // classes with a count > 0
  std::int64_t weight = 0;                              // Σ counts
  std::int64_t sumsq = 0;                               // Σ counts²
  double sum_xlogx = 0;                                 // Σ counts·ln counts
};

struct Candidate {
  std::int32_t feature = -1;
  bool constant = true;  // one bin only in this node: does not count as a visited feature
  double proxy = kNoSplit;
  int bin = -1;            // split: bin ≤ `bin` goes left
  std::uint32_t draw = 0;  // random policy: the uniform draw that places the cut
};

class Grower {
 public:
  Grower(const TreeTrainingSet& data, const TreeParams& params, int threads)
      : data_(data), params_(params), threads_(std::max(1, threads)) {
    for (int t = 0; t < threads_; ++t) scratch_.emplace_back(data.n_classes, data.rows);
  }

  // The best split of `node` among the features drawn from `perm` (Fisher–Yates, in place).
  // As in scikit-learn, features constant in the node do not count towards `mtry`.
  Candidate find_split(const NodeStats& node, std::vector<std::int32_t>& perm, std::size_t mtry,
                       Rng& rng) {
    const std::size_t d = perm.size(), m = node.m;
    std::size_t drawn = 0, visited = 0;
    Candidate best;
    cands_.resize(d);
    const bool by_rows = m * kSparseNode < data_.rows;
    while (visited < mtry && drawn < d) {
      const std::size_t batch = std::min(mtry - visited, d - drawn);
      // One 64-bit draw per candidate: the high half picks the feature among those left
      // (multiply-shift, bias < d / 2^32), the low half places a random cut.
      Candidate* c = cands_.data() + drawn;
      for (std::size_t k = 0; k < batch; ++k) {
        const std::size_t i = drawn + k;
        const std::uint64_t u = rng.next();
        std::swap(perm[i], perm[i + static_cast<std::size_t>(((u >> 32) * (d - i)) >> 32)]);
        c[k] = Candidate{};
        c[k].feature = perm[i];
        c[k].draw = static_cast<std::uint32_t>(u);
      }
      if (by_rows) {
        // One pass over the node's rows fills every candidate's bins.
        gathered_.resize(batch * m);
        feats_.resize(batch);
        for (std::size_t k = 0; k < batch; ++k) feats_[k] = c[k].feature;
        const std::uint8_t* rb = data_.row_bins.data();
        const std::int32_t* fs = feats_.data();
        std::uint8_t* out = gathered_.data();
        for (std::size_t i = 0; i < m; ++i) {
          const std::uint8_t* row = rb + static_cast<std::size_t>(node.rows[i]) * d;
          for (std::size_t k = 0; k < batch; ++k) out[k * m + i] = row[fs[k]];
        }
      }
      auto evaluate = [&](std::size_t k, Scratch& s) {
        const std::uint8_t* b = by_rows ? gathered_.data() + k * m : gather(node, c[k].feature, s);
        if (params_.split == SplitPolicy::kBest)
          scan_best(node, b, c[k], s);
        else
          random_cut(node, b, c[k], s);
      };
      if (threads_ > 1 && batch > 1 && m * batch >= kParallelWork) {
#pragma omp parallel for num_threads(threads_) schedule(dynamic, 1)
        for (std::ptrdiff_t k = 0; k < static_cast<std::ptrdiff_t>(batch); ++k)
          evaluate(static_cast<std::size_t>(k),
                   scratch_[static_cast<std::size_t>(omp_get_thread_num())]);
      } else {
        for (std::size_t k = 0; k < batch; ++k) evaluate(k, scratch_[0]);
      }
      for (std::size_t k = 0; k < batch; ++k) {
        if (c[k].constant) continue;
        ++visited;
        if (c[k].proxy > best.proxy) best = c[k];
      }
      drawn += batch;
    }
    return best;
  }

 private:
  // The candidate's bins of the node's rows, from its column.
  const std::uint8_t* gather(const NodeStats& node, std::int32_t feature, Scratch& s) const {
    const std::uint8_t* col = data_.column(static_cast<std::size_t>(feature));
    std::uint8_t* b = s.bins.data();
    for (std::size_t i = 0; i < node.m; ++i) b[i] = col[node.rows[i]];
    return b;
  }

  // Buckets the node's rows by bin into s.entries; returns the number of distinct bins (their
  // values and run ends in s.seg_bin / s.seg_end).
  std::size_t bucket(const NodeStats& node, const std::uint8_t* b, Scratch& s) const {
    const std::size_t m = node.m;
    const std::uint32_t* lw = node.lw;
    std::size_t nseg = 0;
    if (m <= kSmallNode) {
      std::uint64_t* keys = s.keys.data();
      for (std::size_t i = 0; i < m; ++i)
        keys[i] = (static_cast<std::uint64_t>(b[i]) << 32) | lw[i];
      std::sort(keys, keys + m);
      for (std::size_t i = 0; i < m; ++i) {
        const auto bin = static_cast<std::uint16_t>(keys[i] >> 32);
        s.entries[i] = static_cast<std::uint32_t>(keys[i]);
        if (nseg == 0 || s.seg_bin[nseg - 1] != bin) s.seg_bin[nseg++] = bin;
        s.seg_end[nseg - 1] = static_cast<std::uint32_t>(i + 1);
      }
      return nseg;
    }
    // Bucket counts (zero between uses) and a bitmap of the bins present: no pass over all 256
    // bins, whatever the node's size.
    std::uint32_t* count = s.count.data();
    std::uint64_t present[FeatureBinner::kMaxBins / 64] = {0, 0, 0, 0};
    for (std::size_t i = 0; i < m; ++i) {
      ++count[b[i]];
      present[b[i] >> 6] |= std::uint64_t{1} << (b[i] & 63);
    }
    std::uint32_t pos = 0;
    for (int word = 0; word < FeatureBinner::kMaxBins / 64; ++word) {
      for (std::uint64_t bits = present[word]; bits != 0; bits &= bits - 1) {
        const int bin = word * 64 + __builtin_ctzll(bits);
        const std::uint32_t c = count[bin];
        s.seg_bin[nseg] = static_cast<std::uint16_t>(bin);
        count[bin] = pos;
        pos += c;
        s.seg_end[nseg++] = pos;
      }
    }
    if (nseg > 1) {
      std::uint32_t* entries = s.entries.data();
      for (std::size_t i = 0; i < m; ++i) entries[count[b[i]]++] = lw[i];
    }
    for (std::size_t g = 0; g < nseg; ++g) count[s.seg_bin[g]] = 0;
    return nseg;
  }

  void scan_best(const NodeStats& node, const std::uint8_t* b, Candidate& c, Scratch& s) const {
    const std::size_t nseg = bucket(node, b, s);
    if (nseg <= 1) return;
    c.constant = false;
    if (params_.criterion == Criterion::kGini)
      scan<Criterion::kGini>(node, nseg, c, s);
    else
      scan<Criterion::kEntropy>(node, nseg, c, s);
  }

  // Moves the runs of s.entries from right to left one bin at a time and scores each boundary.
  // gini: maximize Σ L²/n_L + Σ R²/n_R; entropy: maximize Σ L ln L + Σ R ln R − n_L ln n_L −
  // n_R ln n_R (both: minimize n_L·impurity_L + n_R·impurity_R, scikit-learn's proxy).
  template <Criterion kCrit>
  void scan(const NodeStats& node, std::size_t nseg, Candidate& c, Scratch& s) const {
    const std::size_t min_leaf = static_cast<std::size_t>(params_.min_samples_leaf);
    const std::uint32_t* entries = s.entries.data();
    const std::int64_t* total = node.counts;
    const double* xl = data_.xlogx.data();
    std::int64_t* left = s.left.data();
    std::int64_t n_left = 0, sq_left = 0, sq_right = node.sumsq;
    double ent_left = 0, ent_right = node.sum_xlogx;
    double best = c.proxy;
    int best_bin = c.bin;
    std::size_t e = 0;
    for (std::size_t g = 0; g + 1 < nseg; ++g) {
      for (const std::size_t end = s.seg_end[g]; e < end; ++e) {
        const std::uint32_t cls = cls_of(entries[e]);
        const std::int64_t wt = weight_of(entries[e]);
        const std::int64_t l = left[cls], r = total[cls] - l;
        if constexpr (kCrit == Criterion::kGini) {
          sq_left += wt * (2 * l + wt);
          sq_right += wt * (wt - 2 * r);
        } else {
          ent_left += xl[l + wt] - xl[l];
          ent_right += xl[r - wt] - xl[r];
        }
        left[cls] = l + wt;
        n_left += wt;
      }
      if (e < min_leaf) continue;
      if (node.m - e < min_leaf) break;
      const std::int64_t n_right = node.weight - n_left;
      double proxy;
      if constexpr (kCrit == Criterion::kGini) {
        const double nl = static_cast<double>(n_left), nr = static_cast<double>(n_right);
        proxy =
            (static_cast<double>(sq_left) * nr + static_cast<double>(sq_right) * nl) / (nl * nr);
      } else {
        proxy = ent_left + ent_right - xl[n_left] - xl[n_right];
      }
      if (proxy > best) {
        best = proxy;
        best_bin = s.seg_bin[g];
      }
    }
    c.proxy = best;
    c.bin = best_bin;
    for (std::size_t i = 0; i < e; ++i) left[cls_of(entries[i])] = 0;
  }

  // The random split policy: the cut "bin ≤ t", t uniform in [min bin, max bin − 1] of the node
  // (placed by the candidate's pre-drawn 32-bit number), then scored.
  void random_cut(const NodeStats& node, const std::uint8_t* b, Candidate& c, Scratch& s) const {
    const std::size_t m = node.m;
    std::uint8_t lo = 255, hi = 0;
    for (std::size_t i = 0; i < m; ++i) {
      lo = std::min(lo, b[i]);
      hi = std::max(hi, b[i]);
    }
    if (lo >= hi) return;
    c.constant = false;
    const std::uint64_t span = static_cast<std::uint64_t>(hi - lo);
    const int cut = lo + static_cast<int>((span * c.draw) >> 32);
    // Four interleaved histograms: consecutive rows of one class (the rule in deep nodes) do not
    // wait on each other's read-modify-write.
    std::int32_t* left4 = s.left4.data();
    const std::uint32_t* lw = node.lw;
    std::int64_t m_left = 0;
    for (std::size_t i = 0; i < m; ++i) {
      const std::int32_t go = b[i] <= cut;
      left4[4 * cls_of(lw[i]) + (i & 3)] += static_cast<std::int32_t>(weight_of(lw[i])) * go;
      m_left += go;
    }
    std::int64_t* left = s.left.data();
    std::int64_t n_left = 0;
    for (std::uint16_t k : *node.present) {
      std::int32_t* h = left4 + 4 * k;
      left[k] = static_cast<std::int64_t>(h[0]) + h[1] + h[2] + h[3];
      n_left += left[k];
      h[0] = h[1] = h[2] = h[3] = 0;
    }
    const auto min_leaf = static_cast<std::int64_t>(params_.min_samples_leaf);
    if (m_left >= min_leaf && static_cast<std::int64_t>(m) - m_left >= min_leaf) {
      const std::int64_t n_right = node.weight - n_left;
      c.bin = cut;
      if (params_.criterion == Criterion::kGini) {
        std::int64_t sl = 0, sr = 0;
        for (std::uint16_t k : *node.present) {
          const std::int64_t l = left[k], r = node.counts[k] - l;
          sl += l * l;
          sr += r * r;
        }
        c.proxy = static_cast<double>(sl) / static_cast<double>(n_left) +
                  static_cast<double>(sr) / static_cast<double>(n_right);
      } else {
        const double* xl = data_.xlogx.data();
        double el = 0, er = 0;
        for (std::uint16_t k : *node.present) {
          el += xl[left[k]];
          er += xl[node.counts[k] - left[k]];
        }
        c.proxy = el + er - xl[n_left] - xl[n_right];
      }
    }
    for (std::uint16_t k : *node.present) left[k] = 0;
  }

  const TreeTrainingSet& data_;
  const TreeParams& params_;
  int threads_;
  std::vector<Scratch> scratch_;
  std::vector<Candidate> cands_;
  std::vector<std::uint8_t> gathered_;  // batch × m bins of small nodes, candidate-major
  std::vector<std::int32_t> feats_;
};

// The rows in use (weight > 0, ascending) with their class and weight packed as
// class << 16 | weight.
struct ActiveRows {
  std::vector<std::uint32_t> rows, lw;
  std::uint64_t total_weight = 0;
};

ActiveRows active_rows(const TreeTrainingSet& data, const std::vector<std::uint32_t>& weights) {
  ActiveRows a;
  for (std::size_t r = 0; r < data.rows; ++r) {
    if (weights[r] == 0) continue;
    DB_ASSERT(weights[r] <= 0xFFFFu);
    a.rows.push_back(static_cast<std::uint32_t>(r));
    a.lw.push_back((static_cast<std::uint32_t>(data.labels[r]) << 16) | weights[r]);
    a.total_weight += weights[r];
  }
  return a;
}

// The class counts of a node's m rows (packed lw) into `counts` (zero on entry) and the classes
// present, ascending; fills st's sums. Returns the node's impurity.
double count_node(const TreeTrainingSet& data, Criterion criterion, NodeStats& st,
                  std::vector<std::int64_t>& counts, std::vector<std::uint16_t>& present) {
  present.clear();
  for (std::size_t i = 0; i < st.m; ++i) {
    const std::uint32_t c = cls_of(st.lw[i]);
    if (counts[c] == 0) present.push_back(static_cast<std::uint16_t>(c));
    counts[c] += weight_of(st.lw[i]);
  }
  std::sort(present.begin(), present.end());
  for (std::uint16_t c : present) {
    st.weight += counts[c];
    st.sumsq += counts[c] * counts[c];
    st.sum_xlogx += data.xlogx[static_cast<std::size_t>(counts[c])];
  }
  st.counts = counts.data();
  st.present = &present;
  const double wsum = static_cast<double>(st.weight);
  double impurity = 0;
  if (criterion == Criterion::kGini) {
    impurity = 1.0 - static_cast<double>(st.sumsq) / (wsum * wsum);
  } else {
    for (std::uint16_t c : present) {
      const double q = static_cast<double>(counts[c]) / wsum;
      impurity -= q * std::log2(q);
    }
  }
  return impurity;
}

// Stable partition of a node's m rows (r, and their packed lw alongside) by "bin ≤ cut" of
// feature f: the left rows stay in place, the right ones go after them. Returns the left count.
std::size_t partition_node(const TreeTrainingSet& data, std::size_t f, int cut, std::uint32_t* r,
                           std::uint32_t* l, std::size_t m, std::vector<std::uint32_t>& spill_rows,
                           std::vector<std::uint32_t>& spill_lw) {
  // Bins read as the split search read them: by row for small nodes, whose rows are cached.
  const bool by_rows = m * kSparseNode < data.rows;
  const std::uint8_t* base = by_rows ? data.row_bins.data() + f : data.column(f);
  const std::size_t stride = by_rows ? data.features : 1;
  std::size_t n_left = 0, n_right = 0;
  // Branch-free (a random cut sends rows either way unpredictably): each row is written to
  // both sides and the side it belongs to advances. Writing r[n_left] is safe: n_left ≤ i.
  for (std::size_t i = 0; i < m; ++i) {
    const std::uint32_t ri = r[i], li = l[i];
    const std::size_t go_left = base[ri * stride] <= cut;
    r[n_left] = ri;
    l[n_left] = li;
    spill_rows[n_right] = ri;
    spill_lw[n_right] = li;
    n_left += go_left;
    n_right += 1 - go_left;
  }
  std::copy(spill_rows.begin(), spill_rows.begin() + static_cast<std::ptrdiff_t>(n_right),
            r + n_left);
  std::copy(spill_lw.begin(), spill_lw.begin() + static_cast<std::ptrdiff_t>(n_right), l + n_left);
  return n_left;
}

}  // namespace

void DecisionTree::make_leaf(std::int32_t id, const std::vector<std::uint16_t>& present,
                             const std::int64_t* counts, double wsum) {
  Node& node = nodes_[static_cast<std::size_t>(id)];
  node.feature = -1;
  node.left = static_cast<std::int32_t>(leaf_begin_.size() - 1);
  for (std::uint16_t c : present) {
    leaf_classes_.push_back(c);
    leaf_values_.push_back(static_cast<float>(static_cast<double>(counts[c]) / wsum));
  }
  leaf_begin_.push_back(static_cast<std::uint32_t>(leaf_classes_.size()));
}

void DecisionTree::fit(const TreeTrainingSet& data, const std::vector<std::uint32_t>& weights,
                       const TreeParams& params, std::uint64_t seed, int threads) {
  DB_ASSERT(weights.size() == data.rows);
  DB_ASSERT(data.n_classes >= 1 && data.n_classes <= 65536);
  DB_ASSERT(params.min_samples_leaf >= 1 && params.min_samples_split >= 2);
  nodes_.clear();
  node_weight_.clear();
  node_impurity_.clear();
  leaf_begin_.assign(1, 0);
  leaf_classes_.clear();
  leaf_values_.clear();
  depth_ = 0;

  // The rows in use (ascending; partitions keep every node's rows ascending) and their packed
  // class and weight, moved along with them.
  ActiveRows a = active_rows(data, weights);
  std::vector<std::uint32_t>&rows = a.rows, &lw = a.lw;
  DB_ASSERT(!rows.empty() && a.total_weight < data.xlogx.size());
  std::vector<std::uint32_t> spill_rows(rows.size()), spill_lw(rows.size());

  const std::size_t mtry = params.max_features.resolve(data.features);
  std::vector<std::int32_t> perm(data.features);
  std::iota(perm.begin(), perm.end(), 0);
  Rng rng(seed);
  Grower grower(data, params, threads);
  std::vector<std::int64_t> counts(static_cast<std::size_t>(data.n_classes), 0);
  std::vector<std::uint16_t> present;

  struct Pending {
    std::uint32_t begin, end;
    int depth;
    std::int32_t parent;
    bool is_left;
  };
  std::vector<Pending> stack{{0, static_cast<std::uint32_t>(rows.size()), 0, -1, false}};
  while (!stack.empty()) {
    const Pending p = stack.back();
    stack.pop_back();
    const auto id = static_cast<std::int32_t>(nodes_.size());
    nodes_.emplace_back();
    if (p.parent >= 0) (p.is_left ? nodes_[p.parent].left : nodes_[p.parent].right) = id;
    depth_ = std::max(depth_, p.depth);

    NodeStats st;
    st.rows = rows.data() + p.begin;
    st.lw = lw.data() + p.begin;
    st.m = p.end - p.begin;
    const double impurity = count_node(data, params.criterion, st, counts, present);
    const double wsum = static_cast<double>(st.weight);
    node_weight_.push_back(static_cast<float>(wsum));
    node_impurity_.push_back(static_cast<float>(impurity));

    bool leaf = (params.max_depth > 0 && p.depth >= params.max_depth) ||
                st.m < static_cast<std::size_t>(params.min_samples_split) ||
                st.m < 2 * static_cast<std::size_t>(params.min_samples_leaf) ||
                impurity <= kPureImpurity;
    Candidate best;
    if (!leaf) {
      best = grower.find_split(st, perm, mtry, rng);
      leaf = best.bin < 0;
    }
    if (leaf) {
      make_leaf(id, present, counts.data(), wsum);
    } else {
      const auto f = static_cast<std::size_t>(best.feature);
      const std::size_t n_left = partition_node(data, f, best.bin, rows.data() + p.begin,
                                                lw.data() + p.begin, st.m, spill_rows, spill_lw);
      const auto split = static_cast<std::uint32_t>(p.begin + n_left);
      Node& node = nodes_[static_cast<std::size_t>(id)];
      node.feature = best.feature;
      node.threshold = data.threshold(f, best.bin);
      stack.push_back({split, p.end, p.depth + 1, id, false});
      stack.push_back({p.begin, split, p.depth + 1, id, true});
    }
    for (std::uint16_t c : present) counts[c] = 0;
  }
}

void DecisionTree::accumulate_block(const float* x, std::size_t n, std::size_t x_stride, float* out,
                                    std::size_t out_stride) const {
  DB_ASSERT(n <= kBlock);
  const Node* nodes = nodes_.data();
  std::int32_t at[kBlock];
  std::uint16_t active[kBlock];
  for (std::size_t i = 0; i < n; ++i) {
    at[i] = 0;
    active[i] = static_cast<std::uint16_t>(i);
  }
  std::size_t n_active = n;
  while (n_active > 0) {
    std::size_t kept = 0;
    for (std::size_t j = 0; j < n_active; ++j) {
      const std::size_t i = active[j];
      const Node& node = nodes[at[i]];
      if (node.feature < 0) {
        add_leaf(node.left, out + i * out_stride);
        continue;
      }
      at[i] = x[i * x_stride + static_cast<std::size_t>(node.feature)] <= node.threshold
                  ? node.left
                  : node.right;
      active[kept++] = static_cast<std::uint16_t>(i);
    }
    n_active = kept;
  }
}

std::vector<std::pair<int, float>> DecisionTree::leaf_distribution(std::int32_t leaf) const {
  std::vector<std::pair<int, float>> out;
  for (std::uint32_t e = leaf_begin_[static_cast<std::size_t>(leaf)];
       e < leaf_begin_[static_cast<std::size_t>(leaf) + 1]; ++e)
    out.emplace_back(leaf_classes_[e], leaf_values_[e]);
  return out;
}

void DecisionTree::save(BinaryWriter& w) const {
  w.vector(nodes_);
  w.vector(node_weight_);
  w.vector(node_impurity_);
  w.vector(leaf_begin_);
  w.vector(leaf_classes_);
  w.vector(leaf_values_);
  w.pod<std::int32_t>(depth_);
}

void DecisionTree::load(BinaryReader& r, std::size_t n_features, int n_classes) {
  nodes_ = r.vector<Node>();
  node_weight_ = r.vector<float>();
  node_impurity_ = r.vector<float>();
  leaf_begin_ = r.vector<std::uint32_t>();
  leaf_classes_ = r.vector<std::uint16_t>();
  leaf_values_ = r.vector<float>();
  depth_ = r.pod<std::int32_t>();
  auto corrupt = [&](const char* what) {
    fail({r.source(), 0, "tree"}, std::string("corrupt tree (") + what + ")");
  };
  const std::size_t n = nodes_.size();
  if (n == 0 || node_weight_.size() != n || node_impurity_.size() != n) corrupt("node arrays");
  if (leaf_begin_.empty() || leaf_begin_.front() != 0 ||
      leaf_begin_.back() != leaf_classes_.size() || leaf_values_.size() != leaf_classes_.size() ||
      !std::is_sorted(leaf_begin_.begin(), leaf_begin_.end()))
    corrupt("leaf table");
  for (std::uint16_t c : leaf_classes_)
    if (c >= n_classes) corrupt("leaf class");
  for (std::size_t i = 0; i < n; ++i) {
    const Node& node = nodes_[i];
    if (node.feature < 0) {
      if (node.left < 0 || static_cast<std::size_t>(node.left) + 1 >= leaf_begin_.size())
        corrupt("leaf index");
    } else if (static_cast<std::size_t>(node.feature) >= n_features ||
               node.left <= static_cast<std::int32_t>(i) ||
               node.right <= static_cast<std::int32_t>(i) ||
               static_cast<std::size_t>(node.left) >= n ||
               static_cast<std::size_t>(node.right) >= n) {
      corrupt("node links");
    }
  }
}

}  // namespace deferbench
