// CPU kernels of the dense networks (logistic regression and MLPs), shared by inference
// (dense_inference.cpp) and training (dense_train.cpp). Free of LibTorch.
//
// The one product kernel, affine_rows, is what every layer of the forward pass and both
// products of the backward pass run through. Each output is accumulated over k in increasing
// order in its own vector lane (this file's implementation is compiled with
// -ffp-contract=fast, so every step is one fused multiply-add), so its value depends neither on
// the number of rows, nor on which rows share a register tile, nor on how rows are split over
// threads, nor on the vector width: the AVX-512 build equals the AVX2 + FMA build bit for bit.
#pragma once

#include <cstddef>
#include <string>

namespace deferbench::dense {

enum class Activation { kRelu, kTanh, kLogistic };
Activation parse_activation(const std::string& name);  // "relu", "tanh", "logistic"
std::string activation_name(Activation a);

// The arithmetic of inference. bf16: inputs, weights and every layer's output are rounded to
// bfloat16 (round to nearest even), products accumulate in float and the softmax runs in float,
// as a GPU's bf16 matrix units do; on the CPU the same rounding is emulated with float kernels,
// so that its effect on predictions can be measured on any machine.
enum class Precision { kFloat32, kBFloat16 };
Precision parse_precision(const std::string& name);  // "fp32", "bf16"
std::string precision_name(Precision p);

// x rounded to the nearest bfloat16 (ties to even; NaN stays NaN), as a float.
float round_bf16(float x);
// round_bf16 on each of v[0 … n).
void round_bf16(float* v, std::size_t n);

// The padding of every layer's columns (two AVX2 vectors, one AVX-512 vector).
inline constexpr std::size_t kColumnTile = 16;
inline std::size_t padded_columns(std::size_t n) {
  return (n + kColumnTile - 1) / kColumnTile * kColumnTile;
}

// y[r][o] = b[o] + Σ_{k < in} x[r][k] · wt[k][o] for r < rows, o < out_pad: x's rows are ldx
// apart, y's ldy apart; wt is in × out_pad (rows out_pad apart), out_pad a multiple of
// kColumnTile. AVX-512 when the CPU has it, else AVX2 + FMA, else the baseline.
void affine_rows(const float* x, std::size_t ldx, std::size_t rows, const float* wt, const float* b,
                 std::size_t in, std::size_t out_pad, float* y, std::size_t ldy);

// The same product with x transposed: y[i][o] = b[o] + Σ_{k < in} x[k][i] · wt[k][o] for
// i < columns (x's rows ldx apart): the weight gradient xᵀ · δ without a transposed copy.
void affine_columns(const float* x, std::size_t ldx, std::size_t columns, const float* wt,
                    const float* b, std::size_t in, std::size_t out_pad, float* y, std::size_t ldy);

// In place: z[0 … k) → softmax(z), eight entries at a time (vectorized exp; k ≥ 1). z has room
// for k rounded up to a multiple of 8 entries; those past k are set to 0. Returns
// ln Σ_c e^{z_c} of the input, so that the cross-entropy of class c is lse − z_c (finite even
// where the probability underflows to 0).
float softmax_inplace(float* z, std::size_t k);

// softmax_inplace on each of `rows` rows ld apart (ld ≥ k rounded up to 8); lse[r] receives row
// r's log-sum-exp unless lse is null.
void softmax_rows(float* z, std::size_t ld, std::size_t rows, std::size_t k, float* lse);

// In place: the activation of each of v[0 … n).
void activate(Activation a, float* v, std::size_t n);

}  // namespace deferbench::dense
