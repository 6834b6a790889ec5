// The choices of multi-expert deferral as a data set holds them (issue 16; DESIGN.md,
// "Multi-expert deferral"): each expert is a column of the traces (Dataset::fields) holding
// either the expert's answer (compared with the reference) or whether it was right.
//
// The reference is gold where the traces have it, else one named expert's answer (agreement
// with it: the usual teacher setting). Choice 0 may be the surrogate, whose answers come from
// a fitted model (experiments/experts_run.h); this file only reads the experts' columns.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "core/experts/costs.h"

namespace deferbench {

enum class ExpertColumnKind { kAnswer, kCorrectness };

struct ExpertSpec {
  std::string name;
  std::string column;  // a key of Dataset::fields
  ExpertColumnKind kind = ExpertColumnKind::kAnswer;
  ChoiceCost cost;  // α (weight of an error), β (price of a call)
};

// What the experts did on the rows of one split: per expert, per row, right or wrong, and the
// answer as a label id where the column holds answers (kNoLabel: a correctness column, or an
// answer outside the label space, e.g. an unparsable LLM reply — always wrong).
struct ExpertRows {
  Correctness correct;                       // experts × rows
  std::vector<std::vector<LabelId>> answer;  // experts × rows
  std::vector<LabelId> reference;            // per row: the reference label (kNoLabel: none)
};

// The reference of each row: gold when `reference` is "gold", none ("none": every expert's column
// holds correctness), else the answer of the expert so named. Errors (one line, naming the split's
// row id, the column and what was expected): gold asked of traces without it or a row without gold,
// an unknown expert, a column the data lacks, a correctness value other than true/false/1/0
// (case-insensitive), a duplicate expert name.
ExpertRows read_expert_rows(const Dataset& split, const std::vector<ExpertSpec>& experts,
                            const std::string& reference);

// Parses a correctness cell: true/false/1/0 in any case; std::nullopt-like −1 for anything else.
int parse_correctness(const std::string& cell);

}  // namespace deferbench
