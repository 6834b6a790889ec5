// The audit of a run's deployed policy on its held-out test split (`audit=true`): audit.json
// next to metrics.json, one entry per target. Statistics from core/audit/slices.h and
// core/metrics/metrics.h (risk_coverage). Built so far (issue 15): slices, the agreement gap,
// the risk–coverage curve, boundary pairs, representative examples and confident
// disagreements; temporal deltas, `deferbench audit --policy` and the page are not built yet.
#pragma once

#include <nlohmann/json.hpp>

#include "experiments/run_steps.h"

namespace deferbench {

// One target's audit: `selected` is the candidate selected on val (null: none), `deployment`
// what was deployed (its test evaluation per row). `fdr`: the Benjamini–Hochberg rate of the
// slice flags.
nlohmann::json audit_json(double target, const Candidate* selected, const Deployment& deployment,
                          const PreparedData& prep, const FittedZoo& zoo, double fdr);

}  // namespace deferbench
