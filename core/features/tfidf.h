// TF-IDF over hashed counts, fitted on the training rows only.
#pragma once

#include <iosfwd>
#include <vector>

#include "core/features/sparse.h"

namespace deferbench {

class Tfidf {
 public:
  // idf_j = ln((1 + n) / (1 + df_j)) + 1 (scikit-learn's smooth_idf). Columns never seen in the
  // fitting rows are dropped by transform (as a vocabulary-based vectorizer would).
  void fit(const SparseRows& counts);
  // tf = 1 + ln(count) when sublinear, else count; value = tf · idf; each row L2-normalized
  // (an all-zero row stays zero).
  SparseRows transform(const SparseRows& counts, bool sublinear_tf) const;

  const std::vector<float>& idf() const { return idf_; }  // 0 for dropped columns
  void save(std::ostream& out) const;
  void load(std::istream& in);

 private:
  std::vector<float> idf_;
};

}  // namespace deferbench
