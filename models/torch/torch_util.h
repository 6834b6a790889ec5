// LibTorch glue shared by models/torch: devices from a Context, tensors over our buffers.
#pragma once

#include <torch/torch.h>

#include "core/data/matrix.h"
#include "core/util/context.h"

namespace deferbench::torch_util {

// Context::device → a torch device. auto → CUDA when available, else CPU. Asking for CUDA in a
// process without a usable GPU throws deferbench::Error.
torch::Device device_of(const Context& ctx);

// Applies ctx.threads to LibTorch's intra-op pool and seeds its generator with ctx.seed.
void apply(const Context& ctx);

// A CPU tensor viewing `m` (no copy; the caller keeps `m` alive and does not write through it).
torch::Tensor view_of(MatrixView m);

// Copies a 2-D float tensor (any device) into a Matrix.
Matrix to_matrix(const torch::Tensor& t);

}  // namespace deferbench::torch_util
