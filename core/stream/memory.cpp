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

namespace {

// (1 − w)·a + w·b, row by row.
Matrix blend(const Matrix& a, const Matrix& b, double w) {
  Matrix p(a.rows(), a.cols());
  const float u = static_cast<float>(1 - w), v = static_cast<float>(w);
  for (std::size_t i = 0; i < a.rows(); ++i)
    for (std::size_t c = 0; c < a.cols(); ++c) p(i, c) = u * a(i, c) + v * b(i, c);
  return p;
}

}  // namespace

MemoryBlend::MemoryBlend(std::unique_ptr<Classifier> surrogate, int k, std::size_t memory_max)
    : surrogate_(std::move(surrogate)), k_(k), memory_max_(memory_max) {
  DB_CHECK(surrogate_ != nullptr, "memory blend: no surrogate");
  DB_CHECK(memory_max >= 1, "stream.memory_max: expected at least 1 row");
}

void MemoryBlend::fit(const Dataset& train, const Dataset* val, const Context& ctx) {
  surrogate_->fit(train, val, ctx);
  std::vector<std::size_t> last;
  for (std::size_t i = train.size() > memory_max_ ? train.size() - memory_max_ : 0;
       i < train.size(); ++i)
    last.push_back(i);
  auto memory = std::make_shared<TeacherMemory>(k_, surrogate_->n_classes());
  memory->fit(last.size() == train.size() ? train : train.subset(last), nullptr, ctx);
  memory_ = std::move(memory);
  weight_ = 0;
  if (val == nullptr || val->size() == 0) return;
  const Matrix ps = surrogate_->predict_proba(val->features, ctx),
               pm = memory_->predict_proba(val->features, ctx);
  std::size_t best = 0;
  bool first = true;
  for (const double w : {0.0, 0.25, 0.5, 0.75}) {
    const std::vector<LabelId> answer = argmax_rows(blend(ps, pm, w).view());
    std::size_t agreed = 0;
    for (std::size_t i = 0; i < answer.size(); ++i) agreed += answer[i] == val->teacher[i];
    if (first || agreed > best) weight_ = w, best = agreed;
    first = false;
  }
}

Matrix MemoryBlend::predict_proba(MatrixView x, const Context& ctx) const {
  DB_CHECK(memory_, "memory blend: predict_proba called before fit");
  const Matrix ps = surrogate_->predict_proba(x, ctx);
  if (weight_ == 0) return ps;
  return blend(ps, memory_->predict_proba(x, ctx), weight_);
}

std::vector<std::uint8_t> MemoryBlend::memory_decides(MatrixView x, const Context& ctx) const {
  std::vector<std::uint8_t> out(x.rows(), 0);
  if (weight_ == 0) return out;
  const Matrix ps = surrogate_->predict_proba(x, ctx);
  const std::vector<LabelId> own = argmax_rows(ps.view()),
                             mixed = argmax_rows(
                                 blend(ps, memory_->predict_proba(x, ctx), weight_).view());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = own[i] != mixed[i];
  return out;
}

std::shared_ptr<const MemoryBlend> MemoryBlend::refreshed(
    std::shared_ptr<const TeacherMemory> memory) const {
  DB_CHECK(memory && memory->n_classes() == n_classes(),
           "memory blend: the new memory has another label space");
  auto b = std::make_shared<MemoryBlend>(*this);
  b->memory_ = std::move(memory);
  return b;
}

bool MemoryBlend::warm_start_from(const Classifier& previous) {
  const auto* p = dynamic_cast<const MemoryBlend*>(&previous);
  return p != nullptr && surrogate_->warm_start_from(*p->surrogate_);
}

std::size_t MemoryBlend::n_classes() const {
  return surrogate_->n_classes();
}

void MemoryBlend::save(const std::filesystem::path& path) const {
  DB_THROW("{}: the memory blend of a stream is not saved as a model", path.string());
}

}  // namespace deferbench
