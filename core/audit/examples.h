// The audit's examples (issue 15): rows chosen to show a reader where the policy's boundary
// runs, in feature space rather than by text length (TRACER's choice).
//
// - Contrastive boundary pairs: for each of the most deferred predicted classes, pairs (handled
//   row, deferred row) with the same surrogate prediction that are nearest neighbours: each
//   deferred row of the class is paired with its nearest handled row of the class (Euclidean
//   distance on the features; the search is the kNN acceptor's blocked exact search,
//   NeighbourIndex, on `threads` threads), and the closest pairs are kept.
// - Representative examples: per teacher class, the handled row and the deferred row closest to
//   the class's centroid (the mean feature vector of its rows).
// - Confident disagreements: handled rows whose answer differs from the teacher, by acceptor
//   score, highest first.
//
// Exact search (every candidate distance computed, ties to the lower row); deterministic.
// The boundary pairs' search compares float distances; a pair's distance is recomputed in
// double.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/data/label_space.h"
#include "core/data/matrix.h"

namespace deferbench {

struct BoundaryPair {
  LabelId predicted = kNoLabel;
  std::size_t handled_row = 0, deferred_row = 0;
  double distance = 0;
};

// `classes`: the most deferred predicted classes (by deferred rows, ties to the lower id; only
// classes with both handled and deferred rows), `pairs` per class.
std::vector<BoundaryPair> boundary_pairs(MatrixView features,
                                         const std::vector<LabelId>& prediction,
                                         const std::vector<std::uint8_t>& handled,
                                         std::size_t classes, std::size_t pairs, int threads = 1);

struct Representatives {
  LabelId label = kNoLabel;
  std::size_t rows = 0;
  // The rows closest to the class centroid; −1 (as SIZE_MAX) when the class has none.
  std::size_t handled_row = static_cast<std::size_t>(-1),
              deferred_row = static_cast<std::size_t>(-1);
};

// Per class of `label` (in id order; classes without rows left out).
std::vector<Representatives> representatives(MatrixView features, const std::vector<LabelId>& label,
                                             const std::vector<std::uint8_t>& handled);

// Handled rows with answer ≠ teacher, by score (highest first; ties to the lower row), at most
// `count`.
std::vector<std::size_t> confident_disagreements(const std::vector<float>& score,
                                                 const std::vector<LabelId>& answer,
                                                 const std::vector<LabelId>& teacher,
                                                 const std::vector<std::uint8_t>& handled,
                                                 std::size_t count);

}  // namespace deferbench
