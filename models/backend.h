// What the layers above models/ (experiments, benchmarks, tests) get of the device side — the
// one device decision, LibTorch's dense solver, a policy routed whole on a GPU — without
// including models/torch. Free of LibTorch.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/data/matrix.h"
#include "core/features/lsa.h"
#include "core/routing/policy.h"
#include "core/util/context.h"

namespace deferbench {

// Whether this build's LibTorch sees a usable CUDA device, and how many.
bool cuda_available();
int cuda_device_count();

// The one place the device is decided: auto → cuda (GPU 0) when a GPU is usable, else cpu;
// cuda or cuda:N without that GPU (or in a build without CUDA paths) → deferbench::Error saying
// why. threads ≤ 0: every core (resolve_threads).
Context make_context(DeviceRequest device, std::uint64_t seed, int threads);
Context make_context(Device device, std::uint64_t seed, int threads);

// The DenseSolver of core/features/lsa.h (QR and SVD through LibTorch on ctx's device).
std::unique_ptr<DenseSolver> make_dense_solver(const Context& ctx);

// Routes x through the whole policy on ctx's device (models/torch/device_policy.h) when ctx is
// cuda and every part of every stage has a device form; nullopt otherwise (route stage by stage).
std::optional<Routed> route_on_device(const std::vector<Stage>& stages, MatrixView x,
                                      const Context& ctx);

}  // namespace deferbench
