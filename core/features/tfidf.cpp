#include "core/features/tfidf.h"

#include <cmath>

#include "core/util/error.h"

namespace deferbench {

void Tfidf::fit(const SparseRows& counts) {
  const std::size_t n = counts.rows();
  std::vector<std::uint32_t> df(counts.cols, 0);
  for (std::size_t p = 0; p < counts.nnz(); ++p)
    if (counts.values[p] != 0.0f) ++df[counts.indices[p]];
  idf_.assign(counts.cols, 0.0f);
  for (std::size_t j = 0; j < counts.cols; ++j) {
    if (df[j] == 0) continue;
    idf_[j] = static_cast<float>(std::log((1.0 + static_cast<double>(n)) / (1.0 + df[j])) + 1.0);
  }
}

SparseRows Tfidf::transform(const SparseRows& counts, bool sublinear_tf) const {
  DB_ASSERT_MSG(counts.cols == idf_.size(), "tfidf: fitted on {} columns, given {}", idf_.size(),
                counts.cols);
  SparseRows out;
  out.cols = counts.cols;
  out.indptr.resize(counts.rows() + 1);
  out.indptr[0] = 0;
  out.indices.reserve(counts.nnz());
  out.values.reserve(counts.nnz());
  for (std::size_t i = 0; i < counts.rows(); ++i) {
    const std::size_t start = out.values.size();
    double sq = 0.0;
    for (std::size_t p = counts.indptr[i]; p < counts.indptr[i + 1]; ++p) {
      const std::uint32_t j = counts.indices[p];
      const float c = counts.values[p];
      if (idf_[j] == 0.0f || c == 0.0f) continue;
      const double tf = sublinear_tf ? 1.0 + std::log(static_cast<double>(c)) : c;
      const double v = tf * idf_[j];
      out.indices.push_back(j);
      out.values.push_back(static_cast<float>(v));
      sq += v * v;
    }
    if (sq > 0.0) {
      const auto inv = static_cast<float>(1.0 / std::sqrt(sq));
      for (std::size_t p = start; p < out.values.size(); ++p) out.values[p] *= inv;
    }
    out.indptr[i + 1] = out.values.size();
  }
  return out;
}

void Tfidf::save(BinaryWriter& out) const {
  out.vector(idf_);
}

void Tfidf::load(BinaryReader& in) {
  std::vector<float> idf = in.vector<float>();
  for (float v : idf)
    if (!(std::isfinite(v) && v >= 0.0f))
      fail({in.source(), 0, "idf"}, "corrupt featurizer file (an idf value is negative or NaN)");
  idf_ = std::move(idf);
}

}  // namespace deferbench
