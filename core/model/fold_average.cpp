#include "core/model/fold_average.h"

#include <utility>

#include "core/util/error.h"

namespace deferbench {

FoldAverage::FoldAverage(std::vector<std::shared_ptr<const Classifier>> members)
    : members_(std::move(members)) {
  DB_CHECK(!members_.empty(), "fold_average: expected at least one member model");
  for (const auto& m : members_) {
    DB_CHECK(m != nullptr, "fold_average: a member model is missing");
    DB_CHECK(m->n_classes() == members_.front()->n_classes(),
             "fold_average: members predict {} and {} classes; expected one label space",
             members_.front()->n_classes(), m->n_classes());
  }
}

void FoldAverage::fit(const Dataset&, const Dataset*, const Context&) {
  DB_CHECK(false, "fold_average: fitted by cross-fitting (fit_cascade_cross), not by fit()");
}

Matrix FoldAverage::predict_proba(MatrixView x, const Context& ctx) const {
  Matrix sum = members_.front()->predict_proba(x, ctx);
  for (std::size_t m = 1; m < members_.size(); ++m) {
    const Matrix p = members_[m]->predict_proba(x, ctx);
    DB_ASSERT(p.size() == sum.size());
    float* s = sum.data();
    const float* q = p.data();
    for (std::size_t i = 0; i < sum.size(); ++i) s[i] += q[i];
  }
  const float inv = 1.0f / static_cast<float>(members_.size());
  float* s = sum.data();
  for (std::size_t i = 0; i < sum.size(); ++i) s[i] *= inv;
  return sum;
}

void FoldAverage::save(const std::filesystem::path& path) const {
  DB_CHECK(false,
           "fold_average: {}: a fold average is saved as its {} member models (the policy "
           "artifact does this), not as one file",
           path.string(), members_.size());
}

}  // namespace deferbench
