// The teacher-answer memory of the online cascade (issue 17; the Inter-Cascade analogue for a
// classifier, DESIGN.md "Online cascade"): resolved queries (feature vector → the teacher's
// answer) indexed in feature space. As a Classifier its probability vector for x is the share of
// each class among the teacher answers of x's k nearest resolved queries, so a stage built on it
// (an acceptor on that vector, a calibrated threshold) answers a query from memory when its
// neighbours agree strongly, and defers it otherwise. Exact brute-force search (NeighbourIndex).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

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

// The surrogate and the memory as one answerer (`stream.memory_mode: blend`, the default): the
// probability vector (1 − w)·surrogate(x) + w·memory(x), with w chosen on the fit's `val` rows
// (the acceptor's rows: uniform, never remembered) among {0, ¼, ½, ¾} by agreement of the argmax
// with the teacher (ties: the smaller w, so a memory that does not help is switched off). One
// stage, one acceptor, one calibration at the whole δ: the memory answers where its neighbours'
// teacher answers outweigh the surrogate, without the δ split of a cascade stage of its own.
// The memory holds the last memory_max rows of the training set (the fit's labels, in stream
// order); refreshed() swaps in a newer memory between refits, keeping the surrogate and w.
class MemoryBlend final : public Classifier {
 public:
  MemoryBlend(std::unique_ptr<Classifier> surrogate, int k, std::size_t memory_max);

  void fit(const Dataset& train, const Dataset* val, const Context& ctx) override;
  Matrix predict_proba(MatrixView x, const Context& ctx) const override;
  // Rows where the blend's answer differs from the surrogate's own (the memory decided).
  std::vector<std::uint8_t> memory_decides(MatrixView x, const Context& ctx) const;
  // The same surrogate and weight with `memory` (fitted over the same label space).
  std::shared_ptr<const MemoryBlend> refreshed(std::shared_ptr<const TeacherMemory> memory) const;
  // Forwards to the surrogate: the previous blend's surrogate starts the next one's fit.
  bool warm_start_from(const Classifier& previous) override;
  bool warm_started() const override { return surrogate_->warm_started(); }
  void save(const std::filesystem::path& path) const override;
  std::string_view name() const override { return "memory_blend"; }
  std::size_t n_classes() const override;
  double weight() const { return weight_; }
  const Classifier& surrogate() const { return *surrogate_; }

 private:
  std::shared_ptr<Classifier> surrogate_;
  std::shared_ptr<const TeacherMemory> memory_;
  int k_;
  std::size_t memory_max_;
  double weight_ = 0;
};

}  // namespace deferbench
