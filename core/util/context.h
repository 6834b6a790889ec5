// The explicit context every computation receives: device, seed and thread count.
// No hidden global state: anything that depends on these reads them from here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace deferbench {

enum class Device { kCpu, kCuda, kAuto };

// "cpu", "cuda", "auto" → Device; anything else throws deferbench::Error listing the choices.
Device parse_device(std::string_view name);
std::string_view device_name(Device device);

struct Context {
  Device device = Device::kCpu;
  std::uint64_t seed = 0;
  int threads = 1;  // resolved: always ≥ 1 (see resolve_threads)

  // A context for a sub-task whose randomness must not collide with the parent's
  // (for example one tree of a forest): same device and threads, seed mixed with `stream`.
  Context derive(std::uint64_t stream) const;
};

// 0 or negative means "all cores" (std::thread::hardware_concurrency).
int resolve_threads(int requested);

// SplitMix64: a well-mixed 64-bit hash, used to derive independent seeds.
std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t stream);

}  // namespace deferbench
