// LibTorch glue: what LibTorch says of the GPUs (models/backend.h asks it once, when a Context
// is made). Free of LibTorch headers; implemented with LibTorch.
#pragma once

namespace deferbench::torch_util {

// Whether this build has CUDA paths and LibTorch sees a usable GPU; how many GPUs it sees.
bool cuda_usable();
int cuda_devices();

// Throws deferbench::Error saying why GPU `index` cannot be used (no CUDA paths in this build,
// no usable GPU, no such GPU); returns when it can.
void check_cuda_device(int index);

}  // namespace deferbench::torch_util
