#include "models/dense/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "core/util/error.h"
#include "core/util/simd.h"

namespace deferbench::dense {

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::kFloat32;
  if (name == "bf16") return Precision::kBFloat16;
  DB_THROW("unknown precision '{}'; valid: bf16, fp32", name);
}

std::string precision_name(Precision p) {
  return p == Precision::kBFloat16 ? "bf16" : "fp32";
}

float round_bf16(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) != 0) return x;  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even (overflow gives ±inf)
  u &= 0xffff0000u;
  std::memcpy(&x, &u, sizeof u);
  return x;
}

void round_bf16(float* v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) v[i] = round_bf16(v[i]);
}

Activation parse_activation(const std::string& name) {
  if (name == "relu") return Activation::kRelu;
  if (name == "tanh") return Activation::kTanh;
  if (name == "logistic") return Activation::kLogistic;
  DB_THROW("unknown activation '{}'; valid: logistic, relu, tanh", name);
}

std::string activation_name(Activation a) {
  switch (a) {
    case Activation::kRelu:
      return "relu";
    case Activation::kTanh:
      return "tanh";
    case Activation::kLogistic:
      return "logistic";
  }
  return "relu";
}

namespace {

using simd::load8;
using simd::store8;
using simd::v8;
// Rows per register tile: 2 · kRows accumulators (AVX2 has 16 registers, AVX-512 32).
template <class V>
constexpr std::size_t kRows = sizeof(V) == 64 ? 8 : 4;

// Columns [o, o + kVecs · lanes(V)) of kRows rows: accumulators start at the bias and take one
// multiply-add per k, in increasing k.
template <class V, std::size_t kVecs>
DB_SIMD_BODY void affine_tile(const float* const* xr, std::size_t ks, std::size_t rows_left,
                              const float* wt, const float* b, std::size_t in, std::size_t out_pad,
                              std::size_t o, float* y, std::size_t ldy) {
  constexpr std::size_t kLanes = sizeof(V) / sizeof(float);
  V acc[kRows<V>][kVecs];
  for (std::size_t v = 0; v < kVecs; ++v) {
    const V bias = simd::load<V>(b + o + v * kLanes);
    for (std::size_t r = 0; r < kRows<V>; ++r) acc[r][v] = bias;
  }
  const float* w = wt + o;
  for (std::size_t k = 0; k < in; ++k, w += out_pad) {
    V wk[kVecs];
    for (std::size_t v = 0; v < kVecs; ++v) wk[v] = simd::load<V>(w + v * kLanes);
    for (std::size_t r = 0; r < kRows<V>; ++r) {
      const float xk = xr[r][k * ks];
      for (std::size_t v = 0; v < kVecs; ++v) acc[r][v] += xk * wk[v];
    }
  }
  for (std::size_t r = 0; r < kRows<V> && r < rows_left; ++r)
    for (std::size_t v = 0; v < kVecs; ++v) simd::store(y + r * ldy + o + v * kLanes, acc[r][v]);
}

// y[r][o] = b[o] + Σ_k x(r, k) · wt[k][o] with x(r, k) = x[r · rs + k · ks], into y (ldy apart),
// o < out_pad (a multiple of kColumnTile; wt is in × out_pad with zero padding), in tiles of kRows
// rows × two vectors of V (and a last tile of one vector when out_pad is an odd multiple of it).
// Each output is accumulated over k in increasing order in its own lane, so its value does not
// depend on the number of rows, on which rows share a tile, on threads, or on V: the same query
// gets the same probabilities in a batch of 1 or of a million, and the AVX-512 build equals the
// AVX2 + FMA build bit for bit (this file is compiled with -ffp-contract=fast).
template <class V>
DB_SIMD_BODY void affine_of(const float* x, std::size_t rs, std::size_t ks, std::size_t rows,
                            const float* wt, const float* b, std::size_t in, std::size_t out_pad,
                            float* y, std::size_t ldy) {
  constexpr std::size_t kLanes = sizeof(V) / sizeof(float);
  // Column strips outermost: a strip of wt (in × two vectors) stays in L1 across the row tiles.
  auto strip = [&](std::size_t o, auto vecs) {
    for (std::size_t r0 = 0; r0 < rows; r0 += kRows<V>) {
      const float* xr[kRows<V>];
      for (std::size_t r = 0; r < kRows<V>; ++r) xr[r] = x + std::min(r0 + r, rows - 1) * rs;
      affine_tile<V, decltype(vecs)::value>(xr, ks, rows - r0, wt, b, in, out_pad, o, y + r0 * ldy,
                                            ldy);
    }
  };
  std::size_t o = 0;
  for (; o + 2 * kLanes <= out_pad; o += 2 * kLanes)
    strip(o, std::integral_constant<std::size_t, 2>{});
  if (o < out_pad) strip(o, std::integral_constant<std::size_t, 1>{});
}

// v8: AVX2 + FMA or the baseline, dispatched by CPU features (core/util/simd.h).
DB_SIMD_BODY void affine_ymm_body(const float* x, std::size_t rs, std::size_t ks, std::size_t rows,
                                  const float* wt, const float* b, std::size_t in,
                                  std::size_t out_pad, float* y, std::size_t ldy) {
  affine_of<v8>(x, rs, ks, rows, wt, b, in, out_pad, y, ldy);
}
DB_SIMD_DISPATCH(void, affine_ymm,
                 (const float* x, std::size_t rs, std::size_t ks, std::size_t rows, const float* wt,
                  const float* b, std::size_t in, std::size_t out_pad, float* y, std::size_t ldy),
                 (x, rs, ks, rows, wt, b, in, out_pad, y, ldy))

#if defined(__x86_64__)
__attribute__((target("avx512f,fma"))) void affine_avx512(const float* x, std::size_t rs,
                                                          std::size_t ks, std::size_t rows,
                                                          const float* wt, const float* b,
                                                          std::size_t in, std::size_t out_pad,
                                                          float* y, std::size_t ldy) {
  affine_of<simd::v16>(x, rs, ks, rows, wt, b, in, out_pad, y, ldy);
}
#endif

// AVX-512 when the CPU has it (same results as AVX2 + FMA, twice the width), else AVX2 + FMA,
// else the baseline.
void affine(const float* x, std::size_t rs, std::size_t ks, std::size_t rows, const float* wt,
            const float* b, std::size_t in, std::size_t out_pad, float* y, std::size_t ldy) {
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f") && cpu_has_avx2_fma();
  if (avx512) return affine_avx512(x, rs, ks, rows, wt, b, in, out_pad, y, ldy);
#endif
  affine_ymm(x, rs, ks, rows, wt, b, in, out_pad, y, ldy);
}

}  // namespace

void affine_rows(const float* x, std::size_t ldx, std::size_t rows, const float* wt, const float* b,
                 std::size_t in, std::size_t out_pad, float* y, std::size_t ldy) {
  affine(x, ldx, 1, rows, wt, b, in, out_pad, y, ldy);
}

void affine_columns(const float* x, std::size_t ldx, std::size_t columns, const float* wt,
                    const float* b, std::size_t in, std::size_t out_pad, float* y,
                    std::size_t ldy) {
  affine(x, 1, ldx, columns, wt, b, in, out_pad, y, ldy);
}

namespace {

// Entries z[c … c + 8) with those past k read as −∞ (e^−∞ → 0), masked in registers: scalar
// stores followed by a vector load of the same bytes would stall store-to-load forwarding. (A
// function, not a lambda: a lambda is compiled for the baseline target, and at -O0 its v8
// result would cross from it into the AVX2 caller with another calling convention.)
DB_SIMD_BODY v8 softmax_group(const float* z, std::size_t k, std::size_t c) {
  const simd::v8i lane = {0, 1, 2, 3, 4, 5, 6, 7};
  const v8 v = load8(z + c);
  return c + 8 <= k ? v
                    : (lane < static_cast<int>(k - c)
                           ? v
                           : simd::splat(-std::numeric_limits<float>::infinity()));
}

// In place: z[0 … k) → softmax(z), eight entries at a time (the last group padded).
DB_SIMD_BODY float softmax_any_body(float* z, std::size_t k) {
  const std::size_t k8 = (k + 7) / 8 * 8;
  v8 m = softmax_group(z, k, 0);
  for (std::size_t c = 8; c < k8; c += 8) {
    const v8 v = softmax_group(z, k, c);
    m = v > m ? v : m;
  }
  float top = m[0];
  for (int l = 1; l < 8; ++l) top = std::max(top, m[l]);
  v8 sum = simd::splat(0.0f);
  for (std::size_t c = 0; c < k8; c += 8) {
    const v8 e = simd::exp_nonpositive8(softmax_group(z, k, c) - top);
    store8(z + c, e);
    sum += e;
  }
  const float total = simd::hsum(sum);
  const float inv = 1.0f / total;
  for (std::size_t c = 0; c < k8; c += 8) store8(z + c, load8(z + c) * inv);
  return top + std::log(total);
}
DB_SIMD_DISPATCH(float, softmax_any, (float* z, std::size_t k), (z, k))

// Row after row in one call, so that the CPU overlaps the rows' dependency chains.
DB_SIMD_BODY void softmax_rows_any_body(float* z, std::size_t ld, std::size_t rows, std::size_t k,
                                        float* lse) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float v = softmax_any_body(z + r * ld, k);
    if (lse != nullptr) lse[r] = v;
  }
}
DB_SIMD_DISPATCH(void, softmax_rows_any,
                 (float* z, std::size_t ld, std::size_t rows, std::size_t k, float* lse),
                 (z, ld, rows, k, lse))

}  // namespace

float softmax_inplace(float* z, std::size_t k) {
  return softmax_any(z, k);
}

void softmax_rows(float* z, std::size_t ld, std::size_t rows, std::size_t k, float* lse) {
  softmax_rows_any(z, ld, rows, k, lse);
}

void activate(Activation a, float* v, std::size_t n) {
  switch (a) {
    case Activation::kRelu:
      for (std::size_t i = 0; i < n; ++i) v[i] = std::max(v[i], 0.0f);
      break;
    case Activation::kTanh:
      for (std::size_t i = 0; i < n; ++i) v[i] = std::tanh(v[i]);
      break;
    case Activation::kLogistic:
      for (std::size_t i = 0; i < n; ++i) v[i] = 1.0f / (1.0f + std::exp(-v[i]));
      break;
  }
}

}  // namespace deferbench::dense
