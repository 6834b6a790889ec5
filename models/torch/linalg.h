// The DenseSolver of core/features/lsa.h implemented with LibTorch (QR and SVD on CPU or CUDA).
#pragma once

#include <memory>

#include "core/features/lsa.h"
#include "core/util/context.h"

namespace deferbench {

// Uses ctx.device (auto → CUDA when available) and ctx.threads.
std::unique_ptr<DenseSolver> make_torch_dense_solver(const Context& ctx);

}  // namespace deferbench
