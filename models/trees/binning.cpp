#include "models/trees/binning.h"

#include <algorithm>
#include <numeric>

#include "core/util/error.h"
#include "core/util/random.h"

namespace deferbench {

void FeatureBinner::fit(MatrixView x, int max_bins, std::size_t max_sample, const Context& ctx) {
  DB_CHECK(max_bins >= 2 && max_bins <= kMaxBins, "binning: max_bins {} outside [2, {}]", max_bins,
           kMaxBins);
  DB_CHECK(x.rows() > 0, "binning: no rows to fit on");
  const std::size_t n = x.rows(), d = x.cols();
  // A seeded sample of rows (all rows when few enough), sorted for cache-friendly reads.
  std::vector<std::size_t> rows(n);
  std::iota(rows.begin(), rows.end(), std::size_t{0});
  if (max_sample > 0 && n > max_sample) {
    Rng rng(mix_seed(ctx.seed, 0xB1));
    for (std::size_t i = 0; i < max_sample; ++i) std::swap(rows[i], rows[i + rng.below(n - i)]);
    rows.resize(max_sample);
    std::sort(rows.begin(), rows.end());
  }
  const std::size_t m = rows.size();
  cuts_.assign(d, {});
#pragma omp parallel for num_threads(std::max(1, ctx.threads)) schedule(dynamic, 1)
  for (std::ptrdiff_t jj = 0; jj < static_cast<std::ptrdiff_t>(d); ++jj) {
    const std::size_t j = static_cast<std::size_t>(jj);
    std::vector<float> v(m);
    for (std::size_t k = 0; k < m; ++k) v[k] = x(rows[k], j);
    std::sort(v.begin(), v.end());
    // Distinct values and how many sample rows sit at or below each.
    std::vector<float> uniq;
    std::vector<std::size_t> cum;
    for (std::size_t k = 0; k < m; ++k) {
      if (uniq.empty() || v[k] != uniq.back()) {
        uniq.push_back(v[k]);
        cum.push_back(0);
      }
      cum.back() = k + 1;
    }
    std::vector<float>& c = cuts_[j];
    auto midpoint = [&](std::size_t i) {
      float mid = uniq[i] + (uniq[i + 1] - uniq[i]) * 0.5f;
      return mid < uniq[i + 1] ? mid : uniq[i];  // adjacent floats: keep v ≤ cut ⇔ v ≤ uniq[i]
    };
    if (uniq.size() <= static_cast<std::size_t>(max_bins)) {
      for (std::size_t i = 0; i + 1 < uniq.size(); ++i) c.push_back(midpoint(i));
    } else {
      std::size_t i = 0;
      for (int q = 1; q < max_bins; ++q) {
        const double target = static_cast<double>(q) * static_cast<double>(m) / max_bins;
        while (i + 1 < uniq.size() && static_cast<double>(cum[i]) < target) ++i;
        if (i + 1 >= uniq.size()) break;
        float cut = midpoint(i);
        if (c.empty() || cut > c.back()) c.push_back(cut);
      }
    }
  }
}

std::uint8_t FeatureBinner::bin_of(std::size_t feature, float v) const {
  const std::vector<float>& c = cuts_[feature];
  return static_cast<std::uint8_t>(std::lower_bound(c.begin(), c.end(), v) - c.begin());
}

BinnedMatrix FeatureBinner::transform(MatrixView x, int threads) const {
  DB_CHECK(x.cols() == cuts_.size(), "binning: expected {} feature columns, got {}", cuts_.size(),
           x.cols());
  BinnedMatrix b;
  b.rows = x.rows();
  b.cols = x.cols();
  b.bins.resize(b.rows * b.cols);
#pragma omp parallel for num_threads(std::max(1, threads)) schedule(static)
  for (std::ptrdiff_t ii = 0; ii < static_cast<std::ptrdiff_t>(b.rows); ++ii) {
    const std::size_t i = static_cast<std::size_t>(ii);
    const float* r = x.row(i);
    std::uint8_t* out = b.bins.data() + i * b.cols;
    for (std::size_t j = 0; j < b.cols; ++j) out[j] = bin_of(j, r[j]);
  }
  return b;
}

void FeatureBinner::save(BinaryWriter& w) const {
  w.pod<std::uint64_t>(cuts_.size());
  for (const auto& c : cuts_) w.vector(c);
}

void FeatureBinner::load(BinaryReader& r) {
  const auto d = r.pod<std::uint64_t>();
  cuts_.clear();
  for (std::uint64_t j = 0; j < d; ++j) {
    cuts_.push_back(r.vector<float>());
    if (cuts_.back().size() >= static_cast<std::size_t>(kMaxBins) ||
        !std::is_sorted(cuts_.back().begin(), cuts_.back().end()))
      fail({r.source(), 0, "binning"}, "corrupt cut points");
  }
}

}  // namespace deferbench
