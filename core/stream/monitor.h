// The online cascade's monitor (issue 17): agreement of the handled answers with the teacher on
// the audited handled queries, watched by an anytime-valid confidence sequence
// (core/stats/confidence_sequence.h, two-sided betting CS). When the upper bound falls below the
// target the policy is no longer certified: alarmed() turns true and the stream defers
// everything until a refit certifies again.
//
// Each policy gets a fresh confidence sequence (restart() at every refit): the audited rows of
// one policy are the stream the CS is about, and a CS that has watched a long stretch above the
// target reacts slowly to a drop (its capital must be won back first, confidence_sequence.h).
// Epoch k = 1, 2, … spends δ_k = δ / (k (k + 1)), and Σ_k δ_k = δ: if every policy's agreement
// stays ≥ the target, the probability of any false alarm over the whole stream is ≤ δ/2 (the
// upper side of a two-sided CS at δ_k spends δ_k/2).
#pragma once

#include <cstddef>
#include <optional>

#include "core/stats/confidence_sequence.h"

namespace deferbench {

class AgreementMonitor {
 public:
  // target ∈ (0, 1], δ ∈ (0, 1). Starts in epoch 1.
  AgreementMonitor(double target, double delta);

  // A new policy: a fresh confidence sequence at the next epoch's δ_k.
  void restart();
  // One audited handled query: did the answer given agree with the teacher?
  void observe(bool agrees);

  // The epoch's bounds on the current policy's agreement ([0, 1] before any observation).
  double lower() const { return cs_->lower(); }
  double upper() const { return cs_->upper(); }
  std::size_t count() const { return cs_->count(); }
  // The upper bound is below the target: the current policy is not certified.
  bool alarmed() const { return cs_->upper() < target_; }
  int epoch() const { return epoch_; }
  double epoch_delta() const;

 private:
  double target_, delta_;
  int epoch_ = 0;
  std::optional<BettingConfidenceSequence> cs_;
};

}  // namespace deferbench
