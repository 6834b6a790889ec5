// A fitted model's prediction as tensor operations on one device, the model's part of a routing
// policy run whole on a device (models/torch/device_policy.h). This header is free of LibTorch:
// the operations themselves live in models/torch (device_model_impl.h), and a model that has
// them returns one from Classifier::device_model().
#pragma once

#include <cstddef>

namespace deferbench {

class DeviceModel {
 public:
  virtual ~DeviceModel() = default;
  virtual std::size_t inputs() const = 0;     // feature columns a row must have
  virtual std::size_t n_classes() const = 0;  // columns of the probabilities (global label space)
};

}  // namespace deferbench
