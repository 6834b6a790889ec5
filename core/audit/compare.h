// The audit's comparison of two policies on the same traffic (issue 15, `deferbench audit
// --compare`): per teacher class, how the share of handled rows moved from policy A to policy B
// (rows deferred by A and handled by B, and back), with the exact McNemar test per class (the
// rows are paired) and the Benjamini–Hochberg procedure over the classes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/audit/slices.h"

namespace deferbench {

// Both policies' decisions on the same rows (equal lengths).
struct PolicyPair {
  std::vector<LabelId> teacher;
  std::vector<std::uint8_t> handled_a, handled_b;
  std::vector<std::uint8_t> agrees_a, agrees_b;  // answer == teacher (read where handled)
};

struct ClassShift {
  LabelId label = kNoLabel;
  std::size_t rows = 0;
  Proportion coverage_a, coverage_b;    // handled / rows
  Proportion agreement_a, agreement_b;  // on handled rows
  std::size_t to_handled = 0;           // deferred by A, handled by B
  std::size_t to_deferred = 0;          // handled by A, deferred by B
  double coverage_change = 0;           // coverage_b − coverage_a
  // The exact McNemar test of equal coverage (the rows are paired: the same rows under both
  // policies): two-sided binomial test of to_handled against to_deferred at 1/2.
  double p_value = 1;
  bool flagged = false;  // Benjamini–Hochberg over the classes at `fdr`
};

struct PolicyComparison {
  Proportion coverage_a, coverage_b, agreement_a, agreement_b;
  std::size_t to_handled = 0, to_deferred = 0;
  std::vector<ClassShift> classes;  // by |coverage change| (descending), then label id
  std::size_t flagged = 0;
};

PolicyComparison compare_policies(const PolicyPair& p, double fdr);

// Exact McNemar: b rows moved one way, c the other; p = min(1, 2 · P(X ≤ min(b, c))),
// X ~ Binomial(b + c, 1/2); 1 when nothing moved.
double mcnemar_exact_p_value(std::size_t b, std::size_t c);

}  // namespace deferbench
