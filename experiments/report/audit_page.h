// report.html of an audit (a run with audit=true, or `deferbench audit`): one self-contained
// page per run that answers, on held-out traffic, where the policy answers, where it defers,
// where it disagrees with the teacher and why. Its first screen: a one-sentence verdict, the
// headline cards, the routing flow and the risk–coverage plot; below, per-class coverage,
// coverage by length, slices with intervals and flags, the agreement gap, boundary pairs and
// examples, temporal deltas, the comparison with another policy, and the run's config.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace deferbench::report {

struct AuditPage {
  std::string title, subtitle;
  std::vector<std::pair<std::string, std::string>> facts;  // shown in the "Run" section
  nlohmann::json audit;                                    // audit.json: one entry per target
  nlohmann::json targets;      // metrics.json's `targets` (same order), or null
  nlohmann::json calibration;  // metrics.json's `calibration` ({mode, delta, ...}), or null
  std::string config_text;     // the resolved config (YAML), shown verbatim (escaped)
};

std::string audit_page(const AuditPage& page);

}  // namespace deferbench::report
