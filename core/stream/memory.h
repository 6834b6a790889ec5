// The teacher-answer memory of the online cascade (issue 17; the Inter-Cascade analogue for a
// classifier, DESIGN.md "Online cascade"): resolved queries (feature vector → the teacher's
// answer) indexed in feature space. As a Classifier its probability vector for x is the share of
// each class among the teacher answers of x's k nearest resolved queries, so a stage built on it
// (an acceptor on that vector, a calibrated threshold) answers a query from memory when its
// neighbours agree strongly, and defers it otherwise. Exact brute-force search (NeighbourIndex).
#pragma once

#include <memory>

#include "core/model/classifier.h"
#include "core/routing/acceptor.h"

namespace deferbench {

class TeacherMemory final : public Classifier {
 public:
  // k ≥ 1 neighbours; the label space has n_classes classes.
  TeacherMemory(int k, std::size_t n_classes);

  // Remembers every row of train (features → teacher answer); `val` is not used.
  void fit(const Dataset& train, const Dataset* val, const Context& ctx) override;
  // Rows × classes: the share of each class among the k' = min(k, remembered) nearest
  // remembered answers (ties in distance: the earlier remembered row). Uniform when empty.
  Matrix predict_proba(MatrixView x, const Context& ctx) const override;
  // A memory lives in a stream, not in a policy artifact: saving it is an error.
  void save(const std::filesystem::path& path) const override;
  std::string_view name() const override { return "memory"; }
  std::size_t n_classes() const override { return n_classes_; }
  std::size_t size() const { return index_ ? index_->teacher().size() : 0; }

 private:
  int k_;
  std::size_t n_classes_;
  std::shared_ptr<const NeighbourIndex> index_;
};

}  // namespace deferbench
