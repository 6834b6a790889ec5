#include "models/backend.h"

#include "core/util/error.h"
#include "models/torch/device.h"
#include "models/torch/device_policy.h"
#include "models/torch/linalg.h"

namespace deferbench {

bool cuda_available() {
  return torch_util::cuda_usable();
}

int cuda_device_count() {
  return torch_util::cuda_devices();
}

Context make_context(DeviceRequest device, std::uint64_t seed, int threads) {
  Context ctx;
  ctx.seed = seed;
  ctx.threads = resolve_threads(threads);
  switch (device.device) {
    case Device::kCpu:
      ctx.device = Device::kCpu;
      break;
    case Device::kAuto:
      ctx.device = cuda_available() ? Device::kCuda : Device::kCpu;
      break;
    case Device::kCuda:
      torch_util::check_cuda_device(device.index);
      ctx.device = Device::kCuda;
      ctx.device_index = device.index;
      break;
  }
  return ctx;
}

Context make_context(Device device, std::uint64_t seed, int threads) {
  return make_context(DeviceRequest{device, 0}, seed, threads);
}

std::unique_ptr<DenseSolver> make_dense_solver(const Context& ctx) {
  return make_torch_dense_solver(ctx);
}

std::optional<Routed> route_on_device(const std::vector<Stage>& stages, MatrixView x,
                                      const Context& ctx) {
  if (!ctx.is_cuda() || !DevicePolicy::unsupported(stages).empty()) return std::nullopt;
  return DevicePolicy(stages, ctx).route(x);
}

}  // namespace deferbench
