// A synthetic trace generator for the embedded default experiment and for tests: Gaussian class
// clusters, chosen pairs of confusable classes (their centres close together), and a simulated
// teacher that errs at a configured rate, mostly between confusable classes.
#pragma once

#include <cstdint>

#include "core/data/dataset.h"

namespace deferbench {

struct SyntheticOptions {
  std::size_t rows = 6000;
  std::size_t classes = 10;
  std::size_t dim = 32;
  double separation = 4.0;        // distance between ordinary class centres (in units of noise)
  double noise = 1.0;             // standard deviation of each cluster, per dimension
  std::size_t confusable_pairs = 3;  // pairs (0,1), (2,3), ... whose centres are close
  double pair_distance = 1.0;     // distance between the two centres of a confusable pair
  double teacher_error_rate = 0.1;   // P(teacher ≠ gold)
  double confusable_error_share = 0.8;  // of the teacher's errors on classes in a pair, the share
                                        // that answers the partner (the rest: uniform others)
};

// Throws deferbench::Error naming the field for impossible options (classes < 2, rates outside
// [0, 1], more pairs than classes / 2, ...).
void validate(const SyntheticOptions& options);

// Rows are i.i.d.: gold uniform over classes, x ~ N(centre[gold], noise² I). Labels are "0",
// "1", ...; ids "syn-<i>"; embeddings are the features; gold is filled. Deterministic for a seed.
Traces generate_synthetic(const SyntheticOptions& options, std::uint64_t seed);

}  // namespace deferbench
