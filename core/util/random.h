// Platform-independent random draws. std::mt19937_64 is fully specified by the standard, but the
// standard library's distributions are not (their output differs between implementations), so
// every draw deferbench makes goes through this class: a seed gives the same numbers with any
// compiler and standard library.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <utility>

namespace deferbench {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}

  std::uint64_t next() { return engine_(); }

  // Uniform integer in [0, bound), bound ≥ 1, unbiased (Lemire's multiply-and-reject).
  std::uint64_t below(std::uint64_t bound) {
    std::uint64_t low = 0;
    std::uint64_t high = mul_high(engine_(), bound, &low);
    if (low < bound) {
      const std::uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
      while (low < threshold) high = mul_high(engine_(), bound, &low);
    }
    return high;
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  // Standard normal by Box–Muller, both outputs used. (Bit-identical across platforms as far as
  // the C library's log, cos and sin are; they may differ in the last bit between libraries.)
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    constexpr double kTwoPi = 6.283185307179586476925286766559;
    const double u1 = static_cast<double>((engine_() >> 11) + 1) * 0x1.0p-53;  // (0, 1]
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(kTwoPi * u2);
    has_spare_ = true;
    return r * std::cos(kTwoPi * u2);
  }

  // Fisher–Yates over [first, first + n).
  template <class T>
  void shuffle(T* first, std::size_t n) {
    for (std::size_t i = n; i > 1; --i) {
      const std::size_t j = static_cast<std::size_t>(below(i));
      std::swap(first[i - 1], first[j]);
    }
  }

 private:
  // High 64 bits of a 64 × 64-bit product (low bits in *low), without compiler extensions.
  static std::uint64_t mul_high(std::uint64_t a, std::uint64_t b, std::uint64_t* low) {
    const std::uint64_t a_lo = a & 0xFFFFFFFFu, a_hi = a >> 32;
    const std::uint64_t b_lo = b & 0xFFFFFFFFu, b_hi = b >> 32;
    const std::uint64_t lo_lo = a_lo * b_lo, hi_lo = a_hi * b_lo;
    const std::uint64_t lo_hi = a_lo * b_hi, hi_hi = a_hi * b_hi;
    const std::uint64_t cross = (lo_lo >> 32) + (hi_lo & 0xFFFFFFFFu) + lo_hi;
    *low = (cross << 32) | (lo_lo & 0xFFFFFFFFu);
    return hi_hi + (hi_lo >> 32) + (cross >> 32);
  }

  std::mt19937_64 engine_;
  bool has_spare_ = false;
  double spare_ = 0;
};

}  // namespace deferbench
