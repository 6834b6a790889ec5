#include "core/model/classifier.h"

#include <algorithm>

#include "core/util/simd.h"

namespace deferbench {

namespace {

// The first index of a row's maximum (as a scan keeping the first strictly greater entry): each
// of eight lanes keeps its first maximum and where it was, then the lanes are merged (the
// smallest index among equal maxima), then the tail is scanned.
DB_SIMD_BODY void argmax_rows_any_body(const float* p, std::size_t rows, std::size_t k,
                                       LabelId* out) {
  for (std::size_t i = 0; i < rows; ++i, p += k) {
    float m = p[0];
    std::size_t best = 0, j = 1;
    if (k >= 16) {
      simd::v8 mv = simd::load8(p);
      simd::v8i mi = {0, 1, 2, 3, 4, 5, 6, 7}, idx = mi;
      for (j = 8; j + 8 <= k; j += 8) {
        idx += 8;
        const simd::v8 v = simd::load8(p + j);
        const simd::v8i gt = v > mv;
        mv = gt ? v : mv;
        mi = gt ? idx : mi;
      }
      m = mv[0];
      best = static_cast<std::size_t>(mi[0]);
      for (int l = 1; l < 8; ++l) {
        const auto at = static_cast<std::size_t>(mi[l]);
        if (mv[l] > m || (mv[l] == m && at < best)) {
          m = mv[l];
          best = at;
        }
      }
    }
    for (; j < k; ++j)
      if (p[j] > m) {
        m = p[j];
        best = j;
      }
    out[i] = static_cast<LabelId>(best);
  }
}
DB_SIMD_DISPATCH(void, argmax_rows_any,
                 (const float* p, std::size_t rows, std::size_t k, LabelId* out), (p, rows, k, out))

}  // namespace

std::vector<LabelId> argmax_rows(MatrixView proba) {
  std::vector<LabelId> out(proba.rows());
  if (proba.rows() > 0 && proba.cols() > 0)
    argmax_rows_any(proba.data(), proba.rows(), proba.cols(), out.data());
  return out;
}

std::vector<LabelId> Classifier::predict(MatrixView x, const Context& ctx) const {
  return argmax_rows(predict_proba(x, ctx));
}

}  // namespace deferbench
