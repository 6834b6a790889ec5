// Features binned once into at most 256 quantile bins, shared by every tree model (dt, rf, et,
// gbt). Cut points c_0 < c_1 < … are midpoints between distinct training values, so for any value
// v: bin(v) = #{cuts < v}, and bin(v) ≤ b ⇔ v ≤ c_b. A split learned on bins ("bin ≤ b") is
// therefore the raw threshold "x ≤ c_b": prediction needs no binning and agrees exactly with
// training on the training rows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/data/binary_io.h"
#include "core/data/matrix.h"
#include "core/util/context.h"

namespace deferbench {

// rows × cols bin indices, row-major (row i's bins are contiguous).
struct BinnedMatrix {
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::vector<std::uint8_t> bins;

  const std::uint8_t* row(std::size_t i) const { return bins.data() + i * cols; }
  std::uint8_t operator()(std::size_t i, std::size_t j) const { return bins[i * cols + j]; }
};

class FeatureBinner {
 public:
  static constexpr int kMaxBins = 256;

  // Cut points per feature from the quantiles of (a seeded sample of at most `max_sample` rows
  // of) x. A feature with at most max_bins distinct values gets one bin per value.
  void fit(MatrixView x, int max_bins, std::size_t max_sample, const Context& ctx);
  BinnedMatrix transform(MatrixView x, int threads) const;

  std::size_t n_features() const { return cuts_.size(); }
  int n_bins(std::size_t feature) const { return static_cast<int>(cuts_[feature].size()) + 1; }
  const std::vector<float>& cuts(std::size_t feature) const { return cuts_[feature]; }
  // The raw threshold of the split "bin ≤ b" (b < n_bins − 1).
  float threshold(std::size_t feature, int bin) const { return cuts_[feature][bin]; }
  // bin(v) = #{cuts < v}.
  std::uint8_t bin_of(std::size_t feature, float v) const;

  void save(BinaryWriter& w) const;
  void load(BinaryReader& r);

 private:
  std::vector<std::vector<float>> cuts_;
};

}  // namespace deferbench
