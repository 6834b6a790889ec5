// The audit of a deployed policy on held-out rows (issue 15): audit.json, one entry per target.
//   - `run ... audit=true`: the run's test split, for each target (audit_for_run);
//   - `deferbench audit --policy P --input F [--compare P2]`: new traffic routed by a saved
//     policy (experiments/audit_command.h).
// Statistics from core/audit/ (slices, examples, temporal, compare) and core/metrics
// (risk_coverage); the page is experiments/report/audit_page.h. README "Audit" documents the
// schema.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/audit/compare.h"
#include "experiments/run_steps.h"

namespace deferbench {

struct AuditOptions {
  double fdr = 0.1;           // Benjamini–Hochberg rate of the slice and drift flags
  std::string time = "auto";  // auto | row_order | none: the temporal windows' order
  std::size_t windows = 5;
  int threads = 1;  // the boundary pairs' nearest-neighbour search
};

// What the audit reads: held-out rows (their features, teacher labels and, when present, gold,
// ids, texts, times and tags) and a policy's decisions on them.
struct AuditInput {
  const Dataset* rows = nullptr;
  bool deployed = false;                       // false: the teacher answers everything
  std::vector<std::uint8_t> handled;           // per row
  std::vector<LabelId> answer;                 // per row, read where handled
  std::vector<std::size_t> handled_per_stage;  // rows each stage answered
  std::vector<double> agreement_per_stage;     // agreement on them (NaN: none answered)
  // The policy's (or the selected candidate's) first stage on every row: prediction, acceptor
  // score, prediction == teacher. Empty: no surrogate (no curve and no examples).
  FirstStageView first;
  // A cascade's later stages (rsb): each on every row, and which rows reach it (not accepted by
  // an earlier stage): the risk–coverage curve of each stage on the traffic it sees.
  struct LaterStage {
    FirstStageView view;
    std::vector<std::uint8_t> reached;
  };
  std::vector<LaterStage> later_stages;
  std::string family, model;
};

// The later stages of `stages` from their views on every row: rows reach stage k when no stage
// before it accepts them.
std::vector<AuditInput::LaterStage> later_stages_of(const std::vector<Stage>& stages,
                                                    std::vector<FirstStageView> views);

// The run's test split at one target: `selected` is the candidate selected on val (null: none),
// `deployment` what was deployed.
AuditInput audit_input_for_run(const Candidate* selected, const Deployment& deployment,
                               const PreparedData& prep, const FittedZoo& zoo);

nlohmann::json audit_json(double target, const AuditInput& in, const AuditOptions& options);

// The `compare` section: policy A (`a`, the audited one) against policy B on the same rows.
nlohmann::json compare_json(const AuditInput& a, const AuditInput& b, const LabelSpace& labels,
                            double fdr);

}  // namespace deferbench
