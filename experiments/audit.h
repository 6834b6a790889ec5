// The audit of a run's deployed policy on its held-out test split (`audit=true`): audit.json
// next to metrics.json, one entry per target. Statistics from core/audit/slices.h and
// core/metrics/metrics.h (risk_coverage). Built so far (issue 15): slices, the agreement gap,
// the risk–coverage curve, boundary pairs, representative examples and confident
// disagreements; temporal windows with drift flags; `deferbench audit --policy`, --compare and the
// page are not built yet.
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include "experiments/run_steps.h"

namespace deferbench {

// One target's audit: `selected` is the candidate selected on val (null: none), `deployment`
// what was deployed (its test evaluation per row).
struct AuditOptions {
  double fdr = 0.1;           // Benjamini–Hochberg rate of the slice and drift flags
  std::string time = "auto";  // auto | row_order | none: the temporal windows' order
  std::size_t windows = 5;
};
nlohmann::json audit_json(double target, const Candidate* selected, const Deployment& deployment,
                          const PreparedData& prep, const FittedZoo& zoo,
                          const AuditOptions& options);

}  // namespace deferbench
