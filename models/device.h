// Device resolution for code outside models/torch (no LibTorch headers here).
#pragma once

#include "core/util/context.h"

namespace deferbench {

// auto → cuda when LibTorch sees a usable GPU, else cpu; cuda without a GPU → deferbench::Error.
Device resolve_device(Device requested);

// Whether this build's LibTorch sees a usable CUDA device.
bool cuda_available();

}  // namespace deferbench
