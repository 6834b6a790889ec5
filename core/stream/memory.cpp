#include "core/stream/memory.h"

#include <algorithm>

#include "core/util/error.h"

namespace deferbench {

TeacherMemory::TeacherMemory(int k, std::size_t n_classes) : k_(k), n_classes_(n_classes) {
  DB_CHECK(k >= 1, "stream.memory_k: expected at least 1 neighbour, got {}", k);
  DB_CHECK(n_classes >= 1, "teacher memory: expected at least one class");
}

void TeacherMemory::fit(const Dataset& train, const Dataset* /*val*/, const Context& /*ctx*/) {
  DB_CHECK(train.features.rows() == train.size(), "teacher memory: {} feature rows for {} answers",
           train.features.rows(), train.size());
  index_ =
      train.size() == 0 ? nullptr : std::make_shared<NeighbourIndex>(train.features, train.teacher);
}

Matrix TeacherMemory::predict_proba(MatrixView x, const Context& ctx) const {
  Matrix p(x.rows(), n_classes_);
  if (!index_) {
    for (std::size_t i = 0; i < x.rows(); ++i)
      for (std::size_t c = 0; c < n_classes_; ++c) p(i, c) = 1.0f / static_cast<float>(n_classes_);
    return p;
  }
  const auto table = index_->nearest(x, k_, ctx.threads);
  const std::size_t k = table->k;
  const float share = 1.0f / static_cast<float>(k);
  const std::vector<LabelId>& answer = index_->teacher();
  for (std::size_t i = 0; i < x.rows(); ++i)
    for (std::size_t j = 0; j < k; ++j) {
      const LabelId c = answer[table->rows[i * k + j]];
      if (c >= 0 && static_cast<std::size_t>(c) < n_classes_) p(i, c) += share;
    }
  return p;
}

void TeacherMemory::save(const std::filesystem::path& path) const {
  DB_THROW("{}: the teacher memory of a stream is not saved as a model", path.string());
}

}  // namespace deferbench
