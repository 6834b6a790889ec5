// Training data of the dense models on the host: labels compacted to the classes present, the
// standardization, and the validation rows of known classes. Free of LibTorch.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/data/dataset.h"
#include "core/data/matrix.h"

namespace deferbench::dense {

// Column means and 1/std over the rows of x (std 0 → scale 1), accumulated in double.
void standardization(MatrixView x, std::vector<float>& mean, std::vector<float>& scale);

// The sorted distinct labels of a training set, and each row's index among them.
struct CompactLabels {
  std::vector<std::int32_t> classes;
  std::vector<std::int64_t> index;  // one per row
};
CompactLabels compact_labels(const std::vector<std::int32_t>& labels);

// A training set on the host, as the CPU trainer (train_adam_cpu) takes it: the training features
// as they are (a view of train.features) or standardized (an owned copy), and the validation rows
// of the classes seen in training (`val` may be null), standardized alike.
struct HostTrainingData {
  std::vector<std::int32_t> classes;
  std::vector<float> mean, scale;
  Matrix x_owned;  // the standardized training features (empty when not standardizing)
  MatrixView x;
  std::vector<std::int64_t> y;
  Matrix x_val;
  std::vector<std::int64_t> y_val;
};
HostTrainingData host_training_data(const Dataset& train, const Dataset* val, bool standardize,
                                    std::string_view model);

// The training data of a cost-weighted fit (LogReg / Mlp::fit_cost_weighted): every column of
// `weights` (n × k) is a class, classes = 0 … k − 1, y empty; x as it is or standardized (an owned
// copy) as host_training_data does; no validation rows. Checks the input first: throws
// deferbench::Error, its message starting with "<model>: ", for no rows, no weight columns, row
// counts that differ, a weight that is negative or not finite (naming its row and choice), a row
// whose weights sum to 0 (naming the row).
HostTrainingData host_weighted_data(MatrixView x, MatrixView weights, bool standardize,
                                    std::string_view model);

// The rows of `labels` whose class is among `classes` (sorted), and their compact indices:
// validation rows of a class the model never saw are left out of the validation loss.
struct KnownRows {
  std::vector<std::size_t> rows;
  std::vector<std::int64_t> index;
};
KnownRows known_rows(const std::vector<std::int32_t>& labels,
                     const std::vector<std::int32_t>& classes);

}  // namespace deferbench::dense
