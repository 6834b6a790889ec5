#include "models/torch/linalg.h"

#include <algorithm>
#include <tuple>

#include "core/util/error.h"
#include "models/torch/torch_util.h"

namespace deferbench {

namespace {

// QR and SVD through LibTorch, in float32 on ctx.device. Uses torch::linalg_qr (mode
// "reduced") and torch::linalg_svd (full_matrices = false), present with these signatures in
// LibTorch 1.13 and 2.x. Thin QR is Householder (LAPACK geqrf/orgqr on CPU), so Q is
// orthonormal even when the input is rank-deficient; the SVD is LAPACK gesdd on CPU.
class TorchDenseSolver final : public DenseSolver {
 public:
  explicit TorchDenseSolver(const Context& ctx) : ctx_(ctx), device_(torch_util::device_of(ctx)) {}

  Matrix orthonormalize(MatrixView a) const override {
    DB_ASSERT_MSG(a.rows() >= a.cols(), "orthonormalize: a is {}×{}, needs rows ≥ cols", a.rows(),
                  a.cols());
    if (a.empty()) return Matrix(a.rows(), a.cols());
    torch_util::apply(ctx_);
    torch::NoGradGuard no_grad;
    torch::Tensor t = torch_util::view_of(a).to(device_);
    torch::Tensor q = std::get<0>(torch::linalg_qr(t, "reduced"));
    return torch_util::to_matrix(q);
  }

  Svd svd(MatrixView a) const override {
    Svd out;
    const std::size_t r = std::min(a.rows(), a.cols());
    if (r == 0) {
      out.u = Matrix(a.rows(), 0);
      out.vt = Matrix(0, a.cols());
      return out;
    }
    torch_util::apply(ctx_);
    torch::NoGradGuard no_grad;
    torch::Tensor t = torch_util::view_of(a).to(device_);
    auto [u, s, vh] = torch::linalg_svd(t, /*full_matrices=*/false);
    out.u = torch_util::to_matrix(u);
    out.vt = torch_util::to_matrix(vh);
    torch::Tensor sc = s.to(torch::kCPU, torch::kFloat32).contiguous();
    out.s.assign(sc.data_ptr<float>(), sc.data_ptr<float>() + sc.numel());
    DB_ASSERT(out.u.rows() == a.rows() && out.u.cols() == r && out.s.size() == r &&
              out.vt.rows() == r && out.vt.cols() == a.cols());
    return out;
  }

 private:
  Context ctx_;
  torch::Device device_;
};

}  // namespace

std::unique_ptr<DenseSolver> make_torch_dense_solver(const Context& ctx) {
  return std::make_unique<TorchDenseSolver>(ctx);
}

}  // namespace deferbench
