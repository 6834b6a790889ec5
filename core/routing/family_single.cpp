// The single-stage families: l2d (surrogate + acceptor + threshold) and global (the surrogate
// alone: accept everything iff the bound on its agreement reaches the target).
#include <cmath>

#include "core/routing/families.h"

namespace deferbench {
namespace {

// Calibrates stage 1 (without its acceptor when `drop_acceptor`).
BuiltPolicy build_first_stage(std::string_view family, const FamilyInputs& in, bool drop_acceptor) {
  const FittedStage& f = in.fitted.at(0);
  BuiltPolicy p;
  p.family = std::string(family);
  Stage s = f.stage;
  if (drop_acceptor) s.acceptor = nullptr;
  calibrate_stage(s, subset(f.val, f.val_rows), pick(in.val.teacher, f.val_rows),
                  in.calib_output(f), in.calib().teacher, in.calib().n_classes(), in.target,
                  in.settings.guaranteed.delta, in.resolved());
  p.feasible = s.feasible;
  p.stages.push_back(std::move(s));
  return p;
}

class L2dFamily final : public RoutingFamily {
 public:
  std::string_view name() const override { return "l2d"; }
  int stages(const FamilyOptions&) const override { return 1; }
  BuiltPolicy build(const FamilyInputs& in) const override {
    return build_first_stage(name(), in, false);
  }
};

class GlobalFamily final : public RoutingFamily {
 public:
  std::string_view name() const override { return "global"; }
  int stages(const FamilyOptions&) const override { return 1; }
  BuiltPolicy build(const FamilyInputs& in) const override {
    return build_first_stage(name(), in, true);
  }
  // Stage 1 without its acceptor: every score 1, out-of-distribution rows kept at −∞.
  std::vector<StageOutput> stage_outputs(
      std::size_t n_stages, const std::vector<const StageOutput*>& fitted) const override {
    std::vector<StageOutput> out = RoutingFamily::stage_outputs(n_stages, fitted);
    for (float& sc : out.at(0).score)
      if (!(std::isinf(sc) && sc < 0)) sc = 1.0f;
    return out;
  }
};

}  // namespace

const RoutingFamily& global_family() {
  static const GlobalFamily family;
  return family;
}

const RoutingFamily& l2d_family() {
  static const L2dFamily family;
  return family;
}

}  // namespace deferbench
