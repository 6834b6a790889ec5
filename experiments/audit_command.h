// `deferbench audit --policy DIR --input FILE [-o OUT] [--compare DIR2]`: the audit of a saved
// policy on new traffic that carries the teacher's answers (JSONL traces or CSV), written as
// OUT/audit.json (one entry, the schema of a run's audit.json plus `policy`, `input` and, with
// --compare, `compare`) and OUT/report.html (experiments/report/audit_page.h).
#pragma once

#include <cstddef>
#include <filesystem>

#include "core/util/context.h"
#include "experiments/audit.h"
#include "experiments/policy_io.h"

namespace deferbench {

struct AuditCommandOptions {
  std::filesystem::path policy, input, output, compare;  // compare empty: none
  RouteOptions read;  // format and CSV columns (teacher, gold, time, slice)
  AuditOptions audit;
};

struct AuditCommandResult {
  std::filesystem::path dir;  // where audit.json and report.html were written
  std::size_t rows = 0, handled = 0, flagged_slices = 0;
};

// Errors (deferbench::Error, exit 2 at the command line) name the file and field; every path is
// checked before any work and nothing is written when one fails.
AuditCommandResult run_audit_command(const AuditCommandOptions& options, const Context& ctx);

// The default output folder: audit-<input file's stem> in the current folder.
std::filesystem::path default_audit_output(const std::filesystem::path& input);

}  // namespace deferbench
