#include "models/dense/warm_start.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/util/error.h"

namespace deferbench::dense {

std::string warm_mismatch(const WarmStart& start, std::size_t d, std::size_t n_classes) {
  if (start.inputs() != d)
    return fmt::format("the previous model takes {} feature columns, the training set has {}",
                       start.inputs(), d);
  if (start.n_classes != n_classes)
    return fmt::format("the previous model's label space has {} classes, the training set's {}",
                       start.n_classes, n_classes);
  return "";
}

std::shared_ptr<const WarmStart> hand_over(WarmStart start, bool receiver_fitted,
                                           std::size_t receiver_d, std::size_t receiver_classes) {
  if (receiver_fitted && !warm_mismatch(start, receiver_d, receiver_classes).empty())
    return nullptr;
  return std::make_shared<const WarmStart>(std::move(start));
}

DenseWeights warm_weights(const WarmStart& start, const std::vector<std::int32_t>& classes,
                          const std::vector<float>& mean, const std::vector<float>& scale) {
  const std::size_t d = start.inputs();
  DB_ASSERT(!start.net.weights.empty() && mean.size() == d && scale.size() == d);
  DenseWeights net = start.net;

  // The first layer under the new standardization.
  Matrix& w0 = net.weights.front();
  std::vector<float>& b0 = net.biases.front();
  DB_ASSERT(w0.cols() == d && b0.size() == w0.rows());
  for (std::size_t o = 0; o < w0.rows(); ++o) {
    float* row = w0.row(o);
    double shift = 0.0;
    for (std::size_t j = 0; j < d; ++j) {
      const double ws = static_cast<double>(row[j]) * start.scale[j];  // W · diag(s)
      shift += ws * (static_cast<double>(mean[j]) - start.mean[j]);
      row[j] = static_cast<float>(ws / scale[j]);
    }
    b0[o] = static_cast<float>(b0[o] + shift);
  }

  // The output rows by global class id.
  const Matrix& last = net.weights.back();
  const std::vector<float>& last_bias = net.biases.back();
  DB_ASSERT(last.rows() == start.classes.size() && last_bias.size() == start.classes.size());
  const float lowest =
      last_bias.empty() ? 0.0f : *std::min_element(last_bias.begin(), last_bias.end());
  Matrix out(classes.size(), last.cols());
  std::vector<float> out_bias(classes.size(), lowest);
  for (std::size_t c = 0; c < classes.size(); ++c) {
    const auto it = std::lower_bound(start.classes.begin(), start.classes.end(), classes[c]);
    if (it == start.classes.end() || *it != classes[c]) continue;  // new: zeros, lowest bias
    const auto from = static_cast<std::size_t>(it - start.classes.begin());
    std::copy(last.row(from), last.row(from) + last.cols(), out.row(c));
    out_bias[c] = last_bias[from];
  }
  net.weights.back() = std::move(out);
  net.biases.back() = std::move(out_bias);
  return net;
}

}  // namespace deferbench::dense
