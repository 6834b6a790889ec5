// A routing family turns the fitted stages of one surrogate into a policy at a target. The
// built-in families (global, l2d, rsb) and any new one implement RoutingFamily and
// are listed once in routing_families() (family.cpp); the config validation, the runner, the
// frontier, the report and the policy artifact find them by name. CONTRIBUTING.md, "Adding a
// routing family", is the recipe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/data/dataset.h"
#include "core/routing/policy.h"

namespace deferbench {

struct FamilyOptions;

// A fitted stage with its outputs on every val and cal row (thresholds not set). With
// cross-fitting (fit_cascade_cross) "val" is the pool of training rows and its outputs are
// out-of-fold; train_rows and val_rows are then both the pool rows the stage was cross-fitted on.
struct FittedStage {
  Stage stage;
  StageOutput val, cal;
  std::vector<std::size_t> train_rows;  // the train rows its surrogate was trained on
  std::vector<std::size_t> val_rows;    // the val rows its acceptor was trained on
  bool warm_started = false;            // its surrogate continued from a previous one (fit_cascade)
};

// Which split plays "calibration" when a policy is built: cal (to deploy) or val (to select).
enum class CalibrateOn { kCal, kVal };

struct BuiltPolicy {
  std::string family;
  std::vector<Stage> stages;
  bool feasible = false;  // every stage's calibration passed (global/l2d: the one stage)
};

// Everything a family builds a policy from.
struct FamilyInputs {
  const std::vector<FittedStage>& fitted;  // ≥ 1 stage; stage k ≥ 1 only when stages() > 1
  const Dataset& val;
  const Dataset& cal;
  double target;
  const CalibrationSettings& settings;
  const FamilyOptions& options;
  CalibrateOn on;
  std::uint64_t seed;

  const Dataset& calib() const { return on == CalibrateOn::kCal ? cal : val; }
  const StageOutput& calib_output(const FittedStage& f) const {
    return on == CalibrateOn::kCal ? f.cal : f.val;
  }
  // The settings this calibration runs with: the window guarantee scaled from calibration rows
  // to window queries, and (calibration.test: randomized, on cal) the test's u, a hash of the
  // calibration rows' features, ids and teacher labels (checksum.h: hashed_unit_draw; no seed
  // enters it). Stage k of a cascade gets its own draw (the hash salted by k): its calibration
  // population depends on the earlier stages' thresholds, and so on their u, which must
  // therefore not be its u as well.
  CalibrationSettings resolved(std::size_t stage = 0) const;
};

class RoutingFamily {
 public:
  virtual ~RoutingFamily() = default;
  // The name configs use (`pipeline.families`) and results carry (`family` columns).
  virtual std::string_view name() const = 0;
  // How many fitted stages of a surrogate it uses (the runner fits the most any family asks).
  virtual int stages(const FamilyOptions& options) const = 0;
  // The thresholds, calibrated on inputs.calib(); deterministic in inputs.seed.
  virtual BuiltPolicy build(const FamilyInputs& inputs) const = 0;
  // The outputs its stages see on a split, from the fitted stages' outputs on every row of it
  // (default: stage k sees fitted stage k).
  virtual std::vector<StageOutput> stage_outputs(
      std::size_t n_stages, const std::vector<const StageOutput*>& fitted) const;
};

// Every family, in the order results list them.
const std::vector<const RoutingFamily*>& routing_families();
// The family called `name`; anything else throws deferbench::Error listing the valid names.
const RoutingFamily& routing_family(std::string_view name);
// "global, l2d, rsb": for messages.
std::string routing_family_names();

// Shared by the families' implementations.
StageOutput subset(const StageOutput& out, const std::vector<std::size_t>& rows);
// v[r] for each r of rows, in order.
template <class T>
std::vector<T> pick(const std::vector<T>& v, const std::vector<std::size_t>& rows) {
  std::vector<T> out;
  out.reserve(rows.size());
  for (std::size_t r : rows) out.push_back(v[r]);
  return out;
}
std::vector<std::size_t> all_rows(std::size_t n);

// The built-in families (one file each: family_single.cpp, family_rsb.cpp).
const RoutingFamily& global_family();
const RoutingFamily& l2d_family();
const RoutingFamily& rsb_family();

}  // namespace deferbench
