// TF-IDF over hashed counts, fitted on the training rows only.
#pragma once

#include <vector>

#include "core/data/binary_io.h"
#include "core/features/sparse.h"

namespace deferbench {

class Tfidf {
 public:
  // idf_j = ln((1 + n) / (1 + df_j)) + 1 (scikit-learn's smooth_idf), n the number of rows and
  // df_j the number of rows with a nonzero in column j. Columns never seen in the fitting rows
  // get idf 0 and are dropped by transform (as a vocabulary-based vectorizer would).
  void fit(const SparseRows& counts);
  // tf = 1 + ln(count) when sublinear, else count; value = tf · idf; each row L2-normalized
  // (an all-zero row stays zero). Entries of dropped columns and zero counts are not stored.
  SparseRows transform(const SparseRows& counts, bool sublinear_tf) const;

  bool fitted() const { return !idf_.empty(); }
  const std::vector<float>& idf() const { return idf_; }  // one per column; 0 for dropped
  void save(BinaryWriter& out) const;
  void load(BinaryReader& in);  // deferbench::Error naming the file when inconsistent

 private:
  std::vector<float> idf_;
};

}  // namespace deferbench
