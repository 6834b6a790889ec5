// The LibTorch side of DeviceModel (core/model/device_model.h): what a model's device form
// computes. Included only by models/torch/*.cpp.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "core/model/device_model.h"

namespace deferbench::torch_util {

class TorchDeviceModel : public DeviceModel {
 public:
  // x: rows × inputs() float32 on some device (CPU or CUDA). Returns rows × n_classes() float32
  // probabilities on x's device, without leaving it. The model's tensors are copied to a device
  // on first use there and kept.
  virtual torch::Tensor proba(const torch::Tensor& x) const = 0;
};

// p (rows × classes.size(), on a device) written into columns classes[c] of a rows × n_classes
// tensor of zeros on the same device (p itself when classes is 0 … n_classes − 1).
torch::Tensor to_global_columns(const torch::Tensor& p, const std::vector<std::int32_t>& classes,
                                std::size_t n_classes);

// The device index a tensor lives on in our per-device caches: −1 for the CPU.
inline int cache_index(const torch::Tensor& t) {
  return t.is_cuda() ? std::max<int>(0, t.device().index()) : -1;
}

}  // namespace deferbench::torch_util
