#include "core/routing/family.h"

#include <numeric>
#include <string>
#include <string_view>

#include "core/util/checksum.h"
#include "core/util/error.h"

namespace deferbench {

CalibrationSettings FamilyInputs::resolved(std::size_t stage) const {
  CalibrationSettings w = settings;
  const Dataset& c = calib();
  w.guaranteed.window_scale =
      settings.window > 0 && c.size() > 0 ? settings.window / static_cast<double>(c.size()) : 0.0;
  // One u in (0, 1] for the calibration on cal: a hash of the calibration rows (features, ids
  // and teacher labels), with no seed in it, so that whatever varies in the calibration draw (the
  // rows drawn, or only their labels) draws u afresh, and the test's level is δ for every seed
  // (not on average over seeds). Modelled as a random function of its bytes, u is uniform and
  // independent of the agreement count given any rows: what a randomized test needs. The
  // calibrations on val that select the candidate use the exact test, so that which hypotheses
  // the cal test walks through (candidate, grid, start) does not depend on u.
  if (on == CalibrateOn::kCal && settings.test == "randomized") {
    std::string ids;
    for (const std::string& id : c.ids) (ids += id) += '\0';
    const std::string_view features(reinterpret_cast<const char*>(c.features.data()),
                                    c.features.size() * sizeof(float));
    const std::string_view labels(reinterpret_cast<const char*>(c.teacher.data()),
                                  c.teacher.size() * sizeof(LabelId));
    w.guaranteed.randomized = true;
    w.guaranteed.u = hashed_unit_draw({features, ids, labels}, 0x7E57 + stage);
  } else {
    w.guaranteed.randomized = false;
    w.guaranteed.u = 1.0;
  }
  return w;
}

std::vector<StageOutput> RoutingFamily::stage_outputs(
    std::size_t n_stages, const std::vector<const StageOutput*>& fitted) const {
  std::vector<StageOutput> out;
  for (std::size_t k = 0; k < n_stages; ++k) out.push_back(*fitted.at(k));
  return out;
}

const std::vector<const RoutingFamily*>& routing_families() {
  // The one list of families: a new family adds its line here.
  static const std::vector<const RoutingFamily*> all{&global_family(), &l2d_family(),
                                                     &rsb_family()};
  return all;
}

std::string routing_family_names() {
  std::string names;
  for (const RoutingFamily* f : routing_families())
    names += (names.empty() ? "" : ", ") + std::string(f->name());
  return names;
}

const RoutingFamily& routing_family(std::string_view name) {
  for (const RoutingFamily* f : routing_families())
    if (f->name() == name) return *f;
  throw Error(fmt::format("pipeline: unknown family '{}'; valid families: {}", name,
                          routing_family_names()));
}

StageOutput subset(const StageOutput& out, const std::vector<std::size_t>& rows) {
  StageOutput s;
  for (std::size_t r : rows) {
    s.pred.push_back(out.pred[r]);
    s.score.push_back(out.score[r]);
  }
  return s;
}

std::vector<std::size_t> all_rows(std::size_t n) {
  std::vector<std::size_t> v(n);
  std::iota(v.begin(), v.end(), std::size_t{0});
  return v;
}

}  // namespace deferbench
