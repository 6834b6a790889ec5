// Seeded, stratified train / val / cal / test splits.
#pragma once

#include <cstdint>
#include <vector>

#include "core/data/label_space.h"

namespace deferbench {

struct SplitFractions {
  double train = 0.55;
  double val = 0.15;
  double cal = 0.15;
  double test = 0.15;
};

struct Splits {
  std::vector<std::size_t> train, val, cal, test;  // row indices, each sorted ascending
};

// Throws deferbench::Error unless every fraction is in [0, 1], train > 0, test > 0, and they sum
// to 1 (within 1e-9).
void validate(const SplitFractions& fractions);

// Stratified by `strata` (the teacher label): within each class the rows are shuffled with a
// generator seeded by (seed, class id) and cut by the fractions, rounding by largest remainder so
// that every class's counts sum to its size. Rule for small classes, which cannot reach every
// split: a class with 1 row puts it in train; with 2 rows, train and test; with 3 rows, train,
// cal and test (the splits that need a class most: fitting, the guarantee, the report). Classes
// with 4 or more rows get at least one row in each split whose fraction is positive.
// Deterministic for a seed, independent of the order in which classes appear.
Splits stratified_split(const std::vector<LabelId>& strata, const SplitFractions& fractions,
                        std::uint64_t seed);

}  // namespace deferbench
