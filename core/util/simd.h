// Runtime dispatch of hot loops to an AVX2 + FMA build of themselves.
//
// The project is compiled for baseline x86-64 (it must run on any x86-64 machine), so a kernel
// written once as an always-inline body is instantiated twice — for the baseline and with
// target("avx2,fma") — and a dispatcher picks one by what the CPU reports, checked once. (GCC's
// target_clones("arch=haswell") dispatches on the CPU *model*, so an AMD EPYC with AVX2 gets the
// baseline clone; this dispatches on the features.) Results are deterministic on one machine;
// the two builds may differ in the last bits (FMA rounds once).
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>

namespace deferbench {

// True when the CPU has AVX2 and FMA.
inline bool cpu_has_avx2_fma() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
#else
  return false;
#endif
}

}  // namespace deferbench

// The body of a dispatched kernel: inlined into both builds.
#define DB_SIMD_BODY __attribute__((always_inline)) inline

#if defined(__x86_64__) || defined(__i386__)
// Defines `ret name params`, running `name##_body args` built for AVX2 + FMA when the CPU has
// them and for the baseline otherwise. Use inside an anonymous namespace.
#define DB_SIMD_DISPATCH(ret, name, params, args)                                  \
  __attribute__((target("avx2,fma"))) ret name##_avx2 params {                     \
    return name##_body args;                                                       \
  }                                                                                \
  ret name##_base params {                                                         \
    return name##_body args;                                                       \
  }                                                                                \
  ret name params {                                                                \
    return ::deferbench::cpu_has_avx2_fma() ? name##_avx2 args : name##_base args; \
  }
#else
#define DB_SIMD_DISPATCH(ret, name, params, args) \
  ret name params {                               \
    return name##_body args;                      \
  }
#endif

// Eight-float vectors (GCC vector extensions; a C-style cast between two of them reinterprets
// the bits): one AVX register in the AVX2 build, two SSE registers in the baseline; v16 is one
// AVX-512 register in a function built with target("avx512f"). The helpers are
// always inlined into a dispatched body, so the vector calling convention never crosses a call.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
namespace deferbench::simd {

using v8 = float __attribute__((vector_size(32)));
using v8i = std::int32_t __attribute__((vector_size(32)));
using v16 = float __attribute__((vector_size(64)));

// Unaligned loads and stores of any of the vector types.
template <class V>
DB_SIMD_BODY V load(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <class V>
DB_SIMD_BODY void store(float* p, V v) {
  std::memcpy(p, &v, sizeof v);
}

DB_SIMD_BODY v8 load8(const float* p) {
  return load<v8>(p);
}

DB_SIMD_BODY void store8(float* p, v8 v) {
  store(p, v);
}

DB_SIMD_BODY v8 splat(float x) {
  return v8{} + x;
}

// Lanes 0 … 7 summed in a fixed order.
DB_SIMD_BODY float hsum(v8 v) {
  return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}

// ln v for positive normal floats: v = 2^e · m with m in [√½, √2), and
// ln m = 2 atanh(s) = 2 (s + s³/3 + … + s¹¹/11), s = (m − 1)/(m + 1), |s| ≤ 0.1716 (the next
// term is below 1e-10): within a few float ulps of std::log.
DB_SIMD_BODY v8 log8(v8 v) {
  const v8i bits = (v8i)v;
  v8i e = ((bits >> 23) & 0xff) - 127;
  const v8i mbits = (bits & 0x007fffff) | 0x3f800000;  // m in [1, 2)
  v8 m = (v8)mbits;
  const v8i high = m > 1.41421356f;  // −1 where true
  m = high ? m * 0.5f : m;
  e -= high;
  const v8 s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
  const v8 series =
      1.0f +
      s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9 + s2 * (1.0f / 11)))));
  return __builtin_convertvector(e, v8) * 0.693147180559945f + 2.0f * s * series;
}

// e^x for x ≤ 0 (a softmax after subtracting the maximum): x = n ln 2 + r, |r| ≤ ln2/2, e^r by
// Cephes' degree-6 polynomial, 2^n by the exponent bits; within 2 ulp of std::exp down to −87,
// and 0 below (where e^x < 1.7e-38).
DB_SIMD_BODY v8 exp_nonpositive8(v8 x) {
  const v8i tiny = x < -87.0f;
  const v8 c = tiny ? splat(-87.0f) : x;
  const float magic = 12582912.0f;  // 1.5 · 2^23: adding it rounds to an integer
  const v8 n = (c * 1.44269504088896341f + magic) - magic;
  const v8 r = c - n * 0.693359375f + n * 2.12194440e-4f;
  v8 p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const v8i pow2 = (__builtin_convertvector(n, v8i) + 127) << 23;
  const v8 result = p * (v8)pow2;
  return tiny ? splat(0.0f) : result;
}

}  // namespace deferbench::simd
#pragma GCC diagnostic pop
