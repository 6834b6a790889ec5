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
  double separation = 4.0;           // distance between ordinary class centres (in units of noise)
  double noise = 1.0;                // standard deviation of each cluster, per dimension
  std::size_t confusable_pairs = 3;  // pairs (0,1), (2,3), ... whose centres are close
  double pair_distance = 1.0;        // distance between the two centres of a confusable pair
  double teacher_error_rate = 0.1;   // P(teacher ≠ gold)
  double confusable_error_share = 0.8;  // of the teacher's errors on classes in a pair, the share
                                        // that answers the partner (the rest: uniform over the
                                        // classes outside the pair)
};

// Throws deferbench::Error naming the field for impossible options (rows < 1, classes < 2,
// classes > 10^6, dim < 1, negative or non-finite distances, rates outside [0, 1], more pairs than
// classes / 2).
void validate(const SyntheticOptions& options);

// Rows are i.i.d.: gold uniform over classes, x ~ N(centre[gold], noise² I). Labels are "0",
// "1", ...; ids "syn-<i>" (i from 0); texts ""; embeddings are the features; gold is filled.
//
// Centres: the "anchor" classes (all but the second class of each pair) sit at
// (separation / √2) · e_c, with e_c random orthonormal directions while dim allows, so anchors are
// exactly `separation` apart when dim ≥ their number (random unit directions beyond that: about
// `separation` apart in high dimension). The second class of pair (2p, 2p + 1) sits at
// centre[2p] + pair_distance · u, u a random unit vector orthogonal to the anchor directions where
// dim allows (then its distance to other anchors is √(separation² + pair_distance²)).
//
// Teacher: with probability teacher_error_rate it errs. For a gold class in a pair it then answers
// the partner with probability confusable_error_share, otherwise a class outside the pair drawn
// uniformly (with only two classes, always the partner); for other gold classes, a uniformly
// drawn other class.
//
// Deterministic for a seed, with our own bounded-integer and Box–Muller draws over
// std::mt19937_64: identical across standard libraries, up to last-bit differences in the C
// library's log, sin and cos (which only move features, never labels). Rows come from one stream in
// row order, so the first n rows do not depend on `rows`.
Traces generate_synthetic(const SyntheticOptions& options, std::uint64_t seed);

}  // namespace deferbench
