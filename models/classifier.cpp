#include "models/classifier.h"

namespace deferbench {

std::vector<LabelId> argmax_rows(MatrixView proba) {
  std::vector<LabelId> out(proba.rows());
  for (std::size_t i = 0; i < proba.rows(); ++i) {
    const float* p = proba.row(i);
    std::size_t best = 0;
    for (std::size_t j = 1; j < proba.cols(); ++j)
      if (p[j] > p[best]) best = j;
    out[i] = static_cast<LabelId>(best);
  }
  return out;
}

std::vector<LabelId> Classifier::predict(MatrixView x, const Context& ctx) const {
  return argmax_rows(predict_proba(x, ctx));
}

}  // namespace deferbench
