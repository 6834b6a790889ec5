#include "core/util/context.h"

#include <thread>

#include "core/util/error.h"

namespace deferbench {

DeviceRequest parse_device_request(std::string_view name) {
  if (name == "cpu") return {Device::kCpu, 0};
  if (name == "cuda") return {Device::kCuda, 0};
  if (name == "auto") return {Device::kAuto, 0};
  if (name.substr(0, 5) == "cuda:" && name.size() > 5 && name.size() <= 8) {
    int index = 0;
    bool digits = true;
    for (char c : name.substr(5)) {
      digits = digits && c >= '0' && c <= '9';
      index = index * 10 + (c - '0');
    }
    if (digits) return {Device::kCuda, index};
  }
  DB_THROW("device: expected one of cpu, cuda, cuda:N (N a GPU number), auto, got '{}'", name);
}

Device parse_device(std::string_view name) {
  return parse_device_request(name).device;
}

std::string_view device_name(Device device) {
  switch (device) {
    case Device::kCpu:
      return "cpu";
    case Device::kCuda:
      return "cuda";
    case Device::kAuto:
      return "auto";
  }
  return "?";
}

std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t stream) {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (stream + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

Context Context::derive(std::uint64_t stream) const {
  Context c = *this;
  c.seed = mix_seed(seed, stream);
  return c;
}

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

}  // namespace deferbench
