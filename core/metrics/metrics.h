// Classification and routing metrics. Rows whose reference label is kNoLabel are left out of
// the metrics that need it. Vectors of different lengths throw deferbench::Error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/data/label_space.h"

namespace deferbench {

// Fraction of rows where pred == truth (rows with truth == kNoLabel skipped). NaN if no row left.
double accuracy(const std::vector<LabelId>& truth, const std::vector<LabelId>& pred);

// Unweighted mean over classes of F1, as scikit-learn's f1_score(average="macro"): the classes
// are those that occur in truth or pred; a class with no true and no predicted row does not count;
// F1 = 0 where precision + recall = 0. Rows with truth == kNoLabel skipped. NaN if no row left.
// A kNoLabel prediction on a kept row is wrong and, as scikit-learn would treat -1 in y_pred, a
// class of its own (F1 0). Ids below kNoLabel throw deferbench::Error.
double macro_f1(const std::vector<LabelId>& truth, const std::vector<LabelId>& pred);

struct RoutingMetrics {
  std::size_t rows = 0;
  std::size_t handled = 0;        // rows the surrogate answered
  std::size_t teacher_calls = 0;  // rows deferred to the teacher (= rows - handled)
  double coverage = 0;            // handled / rows; NaN if rows == 0
  double teacher_agreement = 0;   // P(surrogate == teacher | handled); NaN if nothing handled
  double e2e_accuracy = 0;      // vs gold: surrogate on handled, teacher on deferred; NaN: no gold
                                // (gold empty, or every gold kNoLabel: those rows are skipped)
  double e2e_macro_f1 = 0;      // same answers, macro-F1 vs gold; NaN without gold
  double teacher_accuracy = 0;  // the teacher alone vs gold (the baseline); NaN without gold
  double teacher_calls_saved = 0;  // fraction of teacher calls avoided (= coverage)
};

// `accepted[i]` says whether row i is handled by the surrogate. `gold` may be empty (no gold).
RoutingMetrics routing_metrics(const std::vector<LabelId>& surrogate,
                               const std::vector<LabelId>& teacher,
                               const std::vector<LabelId>& gold,
                               const std::vector<std::uint8_t>& accepted);

// The risk–coverage curve of a score (selective prediction: Geifman & El-Yaniv; AURC and E-AURC
// as in Geifman et al. 2019), with risk = disagreement with the teacher. Rows are accepted from the
// highest score down; at coverage k/n the risk is the share of disagreeing rows among the k
// accepted. Tied scores enter together (a threshold cannot split them): every k inside a block of
// equal scores takes the risk at the block's end. AURC = (1/n) Σ_k risk(k); `optimal` is the AURC
// of the oracle ordering (every agreeing row first) with the same disagreement count; E-AURC =
// AURC − optimal ≥ 0. n = 0: NaN. NaN scores throw deferbench::Error.
struct RiskCoverage {
  double aurc = std::numeric_limits<double>::quiet_NaN();
  double optimal = std::numeric_limits<double>::quiet_NaN();
  double e_aurc = std::numeric_limits<double>::quiet_NaN();
};
RiskCoverage risk_coverage(const std::vector<float>& scores,
                           const std::vector<std::uint8_t>& agrees);

}  // namespace deferbench
