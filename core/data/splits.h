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
// to 1 (within 1e-9). Messages name the field and value ("split.val: -0.1 is out of range; expected
// a fraction in [0, 1]", "split fractions sum to 1.05; expected 1").
void validate(const SplitFractions& fractions);

// Stratified by `strata` (the teacher label): within each class the rows (in row order) are
// shuffled by Fisher–Yates with std::mt19937_64 seeded by mix_seed(seed, class id) and an unbiased
// bounded draw of our own (so a seed gives the same split with every standard library), then cut
// in the order train, val, cal, test. Counts round by largest remainder (ties: the earlier split
// in that order; only splits with a positive fraction receive a row), so every class's counts sum
// to its size and each differs from size · fraction by less than one row. Classes with 4 or more
// rows then get at least one row in each split whose fraction is positive, each missing row taken
// from the largest split (the earlier on ties). Rule for small classes, which cannot reach every
// split: a class with 1 row puts it in train; with 2 rows, train and test; with 3 rows, train,
// cal and test (the splits that need a class most: fitting, the guarantee, the report), or train,
// val and test when cal's fraction is 0, or two rows in train when val's is 0 as well.
// Deterministic for a seed. A class's split depends only on the seed, its id and which rows carry
// it: not on the other classes nor on the order in which classes appear. Index lists are sorted
// ascending. O(rows + classes). Throws deferbench::Error for invalid fractions or a negative
// class id in `strata`.
Splits stratified_split(const std::vector<LabelId>& strata, const SplitFractions& fractions,
                        std::uint64_t seed);

// `rows` of the rows, stratified by `strata` (a data set subsampled to study small trace sets):
// each class keeps rows · size / total of its rows, rounded by largest remainder over all classes
// so that exactly `rows` are kept (ties: the smaller class id), each class's rows drawn uniformly
// with its own generator (mix_seed(seed, class)). rows ≥ strata.size() keeps every row. Sorted
// ascending (the rows' order, and so their time order, is kept). Deterministic for a seed.
std::vector<std::size_t> stratified_subsample(const std::vector<LabelId>& strata, std::size_t rows,
                                              std::uint64_t seed);

// Cross-fitting: the fold (0 … folds − 1) of each row, stratified by `strata` (rows of a class
// dealt round-robin in a seeded order) so every fold sees every class it can. Deterministic.
std::vector<int> stratified_folds(const std::vector<LabelId>& strata, int folds,
                                  std::uint64_t seed);

}  // namespace deferbench
