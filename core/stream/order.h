// The order in which an online cascade (issue 17, DESIGN.md "Online cascade") sees a trace set,
// and the scenarios it is replayed under. Everything is a permutation of row indices or an edit
// of the teacher's answers, seeded, so a stream is reproducible from its seed.
//
//   stationary     the rows in time order (Dataset::times), row order, or a seeded shuffle;
//   waves          classes arrive in G groups: the classes are dealt into G groups (seeded) and a
//                  row of group g is placed at a uniform position in [g/G, 1) of the stream, so
//                  group g first appears at the start of wave g and keeps arriving after it;
//   prior_shift    the class priors drift: a row of the first half of the classes (seeded split)
//                  sits at position u^(1+s), one of the second half at u^(1/(1+s)), u uniform and
//                  s the strength — early traffic is dominated by the first half, late traffic
//                  by the second;
//   teacher_change from stream position T on, the teacher answers class `from` with `to`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/data/dataset.h"

namespace deferbench {

// Row indices of `d` in stream order: "time" (Dataset::times ascending, rows without a time
// last, ties by row), "rows" (as read), "shuffle" (seeded), "auto" (time when every row has one,
// else shuffle). Errors name the choice.
std::vector<std::size_t> stream_order(const Dataset& d, const std::string& order,
                                      std::uint64_t seed);

// Reorders `order` so that the classes arrive in `groups` waves (see above). cls[r] is the class
// of row r (gold where known, else the teacher's answer). groups ≥ 1; 1 leaves `order` as is.
// Within the stream the relative order of rows at equal positions follows `order`.
std::vector<std::size_t> waves_order(const std::vector<std::size_t>& order,
                                     const std::vector<LabelId>& cls, std::size_t n_classes,
                                     int groups, std::uint64_t seed);

// The class of each stream position's wave: for tests and reports. wave_of_class[c] ∈ [0, G).
std::vector<int> wave_of_classes(std::size_t n_classes, int groups, std::uint64_t seed);

// Reorders `order` so that the class priors drift over the stream (strength s ≥ 0; 0: a seeded
// shuffle of `order` with no drift).
std::vector<std::size_t> prior_shift_order(const std::vector<std::size_t>& order,
                                           const std::vector<LabelId>& cls, std::size_t n_classes,
                                           double strength, std::uint64_t seed);

struct TeacherChange {
  std::size_t at = 0;  // first stream position answered the new way
  LabelId from = 0, to = 1;
};

// teacher[p] (in stream order) becomes `to` wherever it was `from`, for p ≥ change.at. Returns
// how many answers changed.
std::size_t apply_teacher_change(std::vector<LabelId>& teacher, const TeacherChange& change);

}  // namespace deferbench
