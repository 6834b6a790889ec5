// rsb: a cascade of K stages, stage k calibrated at δ/K on the calibration rows that stages < k
// reject (families.h, "The guarantee of a cascade").
#include <algorithm>
#include <cmath>

#include "core/routing/families.h"
#include "core/util/random.h"

namespace deferbench {
namespace {

// Rows of the calibration split each stage may use: all, or (disjoint folds) its own fold.
std::vector<std::vector<std::size_t>> calibration_pools(const FamilyInputs& in,
                                                        std::size_t k_stages) {
  const std::size_t n = in.calib().size();
  std::vector<std::vector<std::size_t>> pool(k_stages, all_rows(n));
  if (!in.options.disjoint_cal_folds || k_stages < 2) return pool;
  std::vector<std::size_t> perm = all_rows(n);
  Rng rng(mix_seed(in.seed, 0xF01D));
  rng.shuffle(perm.data(), perm.size());
  for (auto& f : pool) f.clear();
  for (std::size_t i = 0; i < perm.size(); ++i) pool[i % k_stages].push_back(perm[i]);
  for (auto& f : pool) std::sort(f.begin(), f.end());
  return pool;
}

class RsbFamily final : public RoutingFamily {
 public:
  std::string_view name() const override { return "rsb"; }
  int stages(const FamilyOptions& options) const override { return options.rsb_stages; }

  BuiltPolicy build(const FamilyInputs& in) const override {
    const Dataset& calib = in.calib();
    const std::size_t k_stages = in.fitted.size();
    const std::vector<std::vector<std::size_t>> pool = calibration_pools(in, k_stages);
    BuiltPolicy p;
    p.family = std::string(name());
    std::vector<std::uint8_t> rejected(calib.size(), 1);  // not accepted by any stage so far
    for (std::size_t k = 0; k < k_stages; ++k) {
      const FittedStage& f = in.fitted[k];
      std::vector<std::size_t> rows;
      for (std::size_t r : pool[k])
        if (rejected[r]) rows.push_back(r);
      Stage s = f.stage;
      calibrate_stage(s, subset(f.val, f.val_rows), pick(in.val.teacher, f.val_rows),
                      subset(in.calib_output(f), rows), pick(calib.teacher, rows),
                      calib.n_classes(), in.target,
                      in.settings.guaranteed.delta / static_cast<double>(k_stages), in.resolved(k));
      // Rows this stage accepts leave the population of later stages (all rows of the split,
      // so that with disjoint folds later folds also lose what earlier stages would take).
      const StageOutput& everyone = in.calib_output(f);
      const std::vector<std::uint8_t> ok = stage_accepts(s, everyone);
      for (std::size_t r = 0; r < calib.size(); ++r) {
        const float sc = everyone.score[r];
        // Accepted here, or (stage 1) out of distribution: not in later stages' population.
        if (ok[r] || (k == 0 && std::isinf(sc) && sc < 0)) rejected[r] = 0;
      }
      p.feasible = p.feasible || s.feasible;
      p.stages.push_back(std::move(s));
    }
    return p;
  }
};

}  // namespace

const RoutingFamily& rsb_family() {
  static const RsbFamily family;
  return family;
}

}  // namespace deferbench
