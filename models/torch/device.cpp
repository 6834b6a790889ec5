#include "models/torch/device.h"

#include <torch/cuda.h>

#include "core/util/error.h"

namespace deferbench::torch_util {

bool cuda_usable() {
  return DEFERBENCH_CUDA_ENABLED && torch::cuda::is_available();
}

int cuda_devices() {
  return DEFERBENCH_CUDA_ENABLED ? static_cast<int>(torch::cuda::device_count()) : 0;
}

void check_cuda_device(int index) {
  DB_CHECK(DEFERBENCH_CUDA_ENABLED,
           "device: 'cuda' requested, but this build has no CUDA paths (configured with "
           "DEFERBENCH_CUDA=off, or against a LibTorch without CUDA; see README, 'Building "
           "for a GPU'); use device=cpu or device=auto");
  DB_CHECK(torch::cuda::is_available(),
           "device: 'cuda' requested, but LibTorch sees no usable CUDA device (no GPU, or no "
           "driver); use device=cpu or device=auto");
  const int count = cuda_devices();
  DB_CHECK(index >= 0 && index < count, "device: 'cuda:{}' requested, but LibTorch sees {} GPU{}",
           index, count, count == 1 ? "" : "s");
}

}  // namespace deferbench::torch_util
