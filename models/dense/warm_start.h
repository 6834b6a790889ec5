// Warm starts of the dense models (issue 17, Classifier::warm_start_from): what a fitted LogReg
// or Mlp hands to the next fit, and its parameters re-expressed for that fit's training data.
// Free of LibTorch.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/dense/train.h"

namespace deferbench::dense {

// A fitted dense model's parameters: its network, the global class ids of its output rows and
// the standardization its first layer reads (mean 0 / scale 1 when it does not standardize).
struct WarmStart {
  std::size_t n_classes = 0;          // the size of the global label space it was fitted over
  std::vector<std::int32_t> classes;  // global ids of the output rows (sorted)
  std::vector<float> mean, scale;     // one per input column
  DenseWeights net;                   // input layer first; the last has classes.size() rows

  std::size_t inputs() const { return mean.size(); }
};

// What a fitted model hands to warm_start_from of another: `start`, or null when the receiver is
// fitted already (receiver_fitted) over another width or label space size (warm_mismatch).
std::shared_ptr<const WarmStart> hand_over(WarmStart start, bool receiver_fitted,
                                           std::size_t receiver_d, std::size_t receiver_classes);

// Why `start` cannot begin a fit on `d` feature columns over a label space of `n_classes`
// classes ("" when it can): the widths and the label space sizes must be equal. (A model keeps
// no more of its label space than its size, so that is what can be compared.)
std::string warm_mismatch(const WarmStart& start, std::size_t d, std::size_t n_classes);

// start.net re-expressed for a fit whose classes present are `classes` (sorted global ids) and
// whose features are standardized with `mean` / `scale`, computing the same function of the raw
// features where it can:
// - the first layer gives the same pre-activations for every raw x: with the previous
//   standardization (μ, s) and the new (μ', s'),
//     W' = W · diag(s / s'),   b' = b + W · diag(s) · (μ' − μ),
//   so that W' ((x − μ') ⊙ s') + b' = W ((x − μ) ⊙ s) + b (computed in double, stored in float);
// - the output rows follow the global class ids: a class of both keeps its row; a class the
//   previous model never saw gets zero weights and the lowest previous bias (a small, not a
//   zero, probability to start from); a previous class absent from the new training set is
//   dropped (its probability goes to the others in proportion: the new model cannot predict it).
// The caller checks warm_mismatch first.
DenseWeights warm_weights(const WarmStart& start, const std::vector<std::int32_t>& classes,
                          const std::vector<float>& mean, const std::vector<float>& scale);

}  // namespace deferbench::dense
