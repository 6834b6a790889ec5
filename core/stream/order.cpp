#include "core/stream/order.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/util/context.h"
#include "core/util/error.h"
#include "core/util/random.h"

namespace deferbench {

namespace {

// `order` sorted by a position per row (stable: equal positions keep `order`'s order).
std::vector<std::size_t> by_position(const std::vector<std::size_t>& order,
                                     const std::vector<double>& position) {
  std::vector<std::size_t> idx(order.size());
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  std::stable_sort(idx.begin(), idx.end(),
                   [&](std::size_t a, std::size_t b) { return position[a] < position[b]; });
  std::vector<std::size_t> out;
  out.reserve(order.size());
  for (std::size_t i : idx) out.push_back(order[i]);
  return out;
}

}  // namespace

std::vector<std::size_t> stream_order(const Dataset& d, const std::string& order,
                                      std::uint64_t seed) {
  const std::size_t n = d.size();
  std::vector<std::size_t> rows(n);
  std::iota(rows.begin(), rows.end(), std::size_t{0});
  const bool all_timed =
      d.times.size() == n && n > 0 &&
      std::none_of(d.times.begin(), d.times.end(), [](double t) { return std::isnan(t); });
  std::string how = order;
  if (how == "auto") how = all_timed ? "time" : "shuffle";
  if (how == "rows") return rows;
  if (how == "shuffle") {
    Rng rng(mix_seed(seed, 0x5757));
    rng.shuffle(rows.data(), rows.size());
    return rows;
  }
  DB_CHECK(how == "time", "stream.order: expected one of auto, time, rows, shuffle, got '{}'",
           order);
  DB_CHECK(d.times.size() == n,
           "stream.order: 'time' needs a time per row (dataset.time_field or metadata.timestamp); "
           "this data set has none");
  std::stable_sort(rows.begin(), rows.end(), [&](std::size_t a, std::size_t b) {
    const double ta = d.times[a], tb = d.times[b];
    if (std::isnan(ta) || std::isnan(tb)) return !std::isnan(ta) && std::isnan(tb);
    return ta < tb;
  });
  return rows;
}

std::vector<int> wave_of_classes(std::size_t n_classes, int groups, std::uint64_t seed) {
  DB_CHECK(groups >= 1, "stream.waves: expected at least 1 group, got {}", groups);
  std::vector<std::size_t> cls(n_classes);
  std::iota(cls.begin(), cls.end(), std::size_t{0});
  Rng rng(mix_seed(seed, 0xA7E5));
  rng.shuffle(cls.data(), cls.size());
  std::vector<int> wave(n_classes, 0);
  // Dealt in turn: group sizes differ by at most one.
  for (std::size_t i = 0; i < n_classes; ++i)
    wave[cls[i]] = static_cast<int>(i % static_cast<std::size_t>(groups));
  return wave;
}

std::vector<std::size_t> waves_order(const std::vector<std::size_t>& order,
                                     const std::vector<LabelId>& cls, std::size_t n_classes,
                                     int groups, std::uint64_t seed) {
  if (groups <= 1) return order;
  const std::vector<int> wave = wave_of_classes(n_classes, groups, seed);
  Rng rng(mix_seed(seed, 0xA7E6));
  std::vector<double> position(order.size());
  const double g = static_cast<double>(groups);
  for (std::size_t i = 0; i < order.size(); ++i) {
    const LabelId c = cls[order[i]];
    const double w = c >= 0 && static_cast<std::size_t>(c) < n_classes ? wave[c] : 0.0;
    position[i] = w / g + rng.uniform() * (1.0 - w / g);
  }
  return by_position(order, position);
}

std::vector<std::size_t> prior_shift_order(const std::vector<std::size_t>& order,
                                           const std::vector<LabelId>& cls, std::size_t n_classes,
                                           double strength, std::uint64_t seed) {
  DB_CHECK(strength >= 0 && std::isfinite(strength),
           "stream.prior_shift: expected a strength ≥ 0, got {}", strength);
  const std::vector<int> half = wave_of_classes(n_classes, 2, seed);
  Rng rng(mix_seed(seed, 0x9A1F));
  std::vector<double> position(order.size());
  const double early = 1.0 + strength, late = 1.0 / (1.0 + strength);
  for (std::size_t i = 0; i < order.size(); ++i) {
    const LabelId c = cls[order[i]];
    const bool first = c >= 0 && static_cast<std::size_t>(c) < n_classes && half[c] == 0;
    position[i] = std::pow(rng.uniform(), first ? early : late);
  }
  return by_position(order, position);
}

std::size_t apply_teacher_change(std::vector<LabelId>& teacher, const TeacherChange& change) {
  std::size_t changed = 0;
  for (std::size_t p = change.at; p < teacher.size(); ++p)
    if (teacher[p] == change.from) {
      teacher[p] = change.to;
      ++changed;
    }
  return changed;
}

}  // namespace deferbench
