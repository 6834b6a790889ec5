// The explicit context every computation receives: device, seed and thread count.
// No hidden global state: anything that depends on these reads them from here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace deferbench {

enum class Device { kCpu, kCuda, kAuto };

// A device as a config or a flag names it: cpu, cuda (GPU 0), cuda:N (GPU N) or auto.
struct DeviceRequest {
  Device device = Device::kAuto;
  int index = 0;  // the GPU, for cuda
};

// "cpu", "cuda", "cuda:N", "auto" → a request; anything else throws deferbench::Error listing the
// choices.
DeviceRequest parse_device_request(std::string_view name);
// The device part of parse_device_request.
Device parse_device(std::string_view name);
std::string_view device_name(Device device);

// The device is decided once, when the context is made (models/backend.h: make_context resolves
// auto and checks the GPU); code that branches on it asks is_cuda() or dispatch(), nothing else.
struct Context {
  Device device = Device::kCpu;  // cpu or cuda (auto only in a context nobody resolved: cpu)
  std::uint64_t seed = 0;
  int threads = 1;       // resolved: always ≥ 1 (see resolve_threads)
  int device_index = 0;  // the GPU when device is cuda

  bool is_cuda() const { return device == Device::kCuda; }

  // XGBoost's DispatchDevice: cpu() or cuda() by the resolved device (both return one type).
  template <typename CpuFn, typename CudaFn>
  decltype(auto) dispatch(CpuFn&& cpu, CudaFn&& cuda) const {
    if (is_cuda()) return cuda();
    return cpu();
  }

  // A context for a sub-task whose randomness must not collide with the parent's
  // (for example one tree of a forest): same device and threads, seed mixed with `stream`.
  Context derive(std::uint64_t stream) const;
};

// 0 or negative means "all cores" (std::thread::hardware_concurrency).
int resolve_threads(int requested);

// SplitMix64: a well-mixed 64-bit hash, used to derive independent seeds.
std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t stream);

}  // namespace deferbench
