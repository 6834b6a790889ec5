#include "models/torch/torch_util.h"

#include <cstring>

#include "core/util/error.h"
#include "models/device.h"

namespace deferbench::torch_util {

torch::Device device_of(const Context& ctx) {
  switch (ctx.device) {
    case Device::kCpu:
      return torch::kCPU;
    case Device::kCuda:
      DB_CHECK(torch::cuda::is_available(),
               "device: 'cuda' requested, but LibTorch sees no usable CUDA device (no GPU, or a "
               "LibTorch built without CUDA); use device=cpu or device=auto");
      return torch::kCUDA;
    case Device::kAuto:
      return torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
  }
  return torch::kCPU;
}

void apply(const Context& ctx) {
  if (torch::get_num_threads() != ctx.threads) torch::set_num_threads(ctx.threads);
  torch::manual_seed(ctx.seed);
}

torch::Tensor view_of(MatrixView m) {
  return torch::from_blob(const_cast<float*>(m.data()),
                          {static_cast<int64_t>(m.rows()), static_cast<int64_t>(m.cols())},
                          torch::TensorOptions().dtype(torch::kFloat32));
}

Matrix to_matrix(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kCPU, torch::kFloat32).contiguous();
  DB_ASSERT(c.dim() == 2);
  Matrix out(static_cast<std::size_t>(c.size(0)), static_cast<std::size_t>(c.size(1)));
  std::memcpy(out.data(), c.data_ptr<float>(), out.size() * sizeof(float));
  return out;
}

}  // namespace deferbench::torch_util

namespace deferbench {

bool cuda_available() {
  return torch::cuda::is_available();
}

Device resolve_device(Device requested) {
  Context ctx;
  ctx.device = requested;
  return torch_util::device_of(ctx).is_cuda() ? Device::kCuda : Device::kCpu;
}

}  // namespace deferbench
