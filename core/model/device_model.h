// A fitted model's prediction as tensor operations on one device, the model's part of a routing
// policy run whole on a device (models/torch/device_policy.h). This header is free of LibTorch:
// the operations themselves live in models/torch (device_model_impl.h), and a model that has
// them returns one from Classifier::device_model().
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace deferbench {

class DeviceModel {
 public:
  virtual ~DeviceModel() = default;
  virtual std::size_t inputs() const = 0;     // feature columns a row must have
  virtual std::size_t n_classes() const = 0;  // columns of the probabilities (global label space)
};

// A model's per-device copies of its parameters (tensors on a GPU, say), made on first use by the
// device side (models/torch) and kept with the model. Type-erased, so that the model's header
// needs no LibTorch. Thread-safe; copying a model does not copy its cache.
class DeviceCache {
 public:
  DeviceCache() = default;
  DeviceCache(const DeviceCache&) {}
  DeviceCache& operator=(const DeviceCache&) { return *this; }

  // The copy for `device_index` (−1: the CPU), made by make() (a std::shared_ptr<T>) the first
  // time; one device's T is always the same type.
  template <typename T, typename Make>
  const T& get(int device_index, Make&& make) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [index, copy] : copies_)
      if (index == device_index) return *static_cast<const T*>(copy.get());
    std::shared_ptr<const T> made = make();
    copies_.emplace_back(device_index, made);
    return *made;
  }

 private:
  mutable std::mutex mu_;
  mutable std::vector<std::pair<int, std::shared_ptr<const void>>> copies_;
};

}  // namespace deferbench
