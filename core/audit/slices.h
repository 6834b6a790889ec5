// The statistics of the audit (issue 15): where a policy answers, where it defers and where it
// disagrees with the teacher, on held-out rows, each rate with its exact interval.
//
// - Slices: any subset of rows (a teacher label, a predicted label, a text-length tertile, a
//   slice tag) gets its coverage, its agreement on handled rows and its end-to-end accuracy
//   against gold, each with a two-sided 95% Clopper–Pearson interval. A slice whose agreement is
//   significantly below the target is flagged: the one-sided exact test of H0 "agreement ≥
//   target" (p = P(X ≤ k | m, target), k agreements of m handled rows), with the
//   Benjamini–Hochberg procedure over the slices tested (false discovery rate α).
// - Agreement gap: the surrogate-versus-teacher confusion on handled rows, the class pairs where
//   the policy answers and disagrees most (with example rows), and with gold the three-way split
//   of those disagreements: the surrogate right and the teacher wrong (a "disagreement" that is
//   no failure), the teacher right, or both wrong.
//
// Pure functions; errors (mismatched lengths, a row out of range) throw deferbench::Error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/data/label_space.h"

namespace deferbench {

// Per held-out row: what the policy answered and what the teacher (and gold) said.
struct AuditRows {
  std::vector<LabelId> teacher;
  std::vector<LabelId> prediction;  // the surrogate's (stage 1's) prediction, handled or not
  std::vector<LabelId> answer;      // the policy's answer where handled (kNoLabel where deferred)
  std::vector<std::uint8_t> handled;
  std::vector<LabelId> gold;  // empty: no gold; kNoLabel for a row without gold
  std::size_t size() const { return teacher.size(); }
  void check() const;  // equal lengths; throws deferbench::Error otherwise
};

// k of n with its two-sided 95% Clopper–Pearson interval (NaN everything when n = 0).
struct Proportion {
  std::size_t k = 0, n = 0;
  double value = std::numeric_limits<double>::quiet_NaN();
  double low = std::numeric_limits<double>::quiet_NaN();
  double high = std::numeric_limits<double>::quiet_NaN();
};
Proportion proportion(std::size_t k, std::size_t n);

// A statistic with a percentile-bootstrap 95% interval (NaN everything when n = 0).
struct Estimate {
  std::size_t n = 0;  // rows it was computed on
  double value = std::numeric_limits<double>::quiet_NaN();
  double low = std::numeric_limits<double>::quiet_NaN();
  double high = std::numeric_limits<double>::quiet_NaN();
};

// Macro-F1 of `pred` against `truth` (core/metrics macro_f1; rows with truth kNoLabel skipped)
// with the 2.5% and 97.5% percentiles of its value over `resamples` bootstrap resamples of the
// rows (drawn with a generator seeded by `seed`: the same inputs give the same interval). The
// percentiles are nearest-rank and not forced around the point value: a skewed bootstrap
// distribution shows as an interval off centre.
Estimate bootstrap_macro_f1(const std::vector<LabelId>& truth, const std::vector<LabelId>& pred,
                            std::size_t resamples, std::uint64_t seed);

inline constexpr std::size_t kSliceBootstrap = 1000;  // resamples of a slice's macro-F1

struct SliceStats {
  std::string kind, name;  // e.g. "teacher_label" / "card_arrival"
  std::size_t rows = 0;
  Proportion coverage;      // handled / rows
  Proportion agreement;     // answer == teacher among handled
  Proportion e2e_accuracy;  // vs gold over rows with gold: the answer where handled, the
                            // teacher's where deferred (n = 0 without gold)
  Estimate e2e_macro_f1;    // the same answers' macro-F1 vs gold, bootstrap 95% interval
  // H0 "agreement ≥ target": P(X ≤ k | m, target); NaN when nothing is handled (not tested).
  double p_value = std::numeric_limits<double>::quiet_NaN();
  bool flagged = false;  // set by flag_slices
};

// The statistics of the slice made of `rows` (indices into `r`).
SliceStats slice_stats(const AuditRows& r, const std::vector<std::size_t>& rows,
                       const std::string& kind, const std::string& name, double target);

// One slice per value of `keys` (rows with the same key together; keys sorted): per teacher
// label, per predicted label, per tag.
std::vector<SliceStats> slices_by(const AuditRows& r, const std::vector<std::string>& keys,
                                  const std::string& kind, double target);

// Text-length tertiles: 0 (shortest third), 1, 2 by rank (ties by row order), so each holds
// n/3 rows (± 1) whatever the ties.
std::vector<std::size_t> length_tertiles(const std::vector<std::size_t>& lengths);

// Benjamini–Hochberg at false discovery rate `alpha` over the slices with a p-value: sorted
// ascending p_(1) ≤ … ≤ p_(m), the largest i with p_(i) ≤ i·α/m and every slice up to it are
// flagged. Returns how many were flagged.
std::size_t flag_slices(std::vector<SliceStats>& slices, double alpha);

struct GapPair {
  LabelId answer = kNoLabel, teacher = kNoLabel;  // the policy said `answer`, the teacher `teacher`
  std::size_t count = 0;
  std::vector<std::size_t> examples;  // the first rows of the pair, in row order
};

struct AgreementGap {
  std::size_t handled = 0, disagreements = 0;
  std::vector<GapPair> pairs;  // by count (descending), then (answer, teacher) ascending
  // Disagreements on rows with gold: who was right.
  std::size_t surrogate_right = 0, teacher_right = 0, both_wrong = 0;
  std::size_t without_gold = 0;  // disagreements on rows without gold
};

// The gap on handled rows: at most `max_pairs` pairs, each with at most `examples` rows.
AgreementGap agreement_gap(const AuditRows& r, std::size_t max_pairs, std::size_t examples);

}  // namespace deferbench
