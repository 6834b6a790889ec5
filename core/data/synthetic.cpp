#include "core/data/synthetic.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/util/context.h"
#include "core/util/error.h"

namespace deferbench {
namespace {

// Random streams derived from the seed: the class centres, then the rows (drawn in row order, so
// the first n rows of a larger draw equal a draw of n rows with the same options).
constexpr std::uint64_t kCentreStream = 0;
constexpr std::uint64_t kRowStream = 1;

constexpr double kTwoPi = 6.283185307179586476925286766559;

// High 64 bits of a 64 × 64-bit product, without compiler extensions (identical everywhere).
std::uint64_t mul_high(std::uint64_t a, std::uint64_t b, std::uint64_t* low) {
  const std::uint64_t a_lo = a & 0xFFFFFFFFu, a_hi = a >> 32;
  const std::uint64_t b_lo = b & 0xFFFFFFFFu, b_hi = b >> 32;
  const std::uint64_t lo_lo = a_lo * b_lo, hi_lo = a_hi * b_lo;
  const std::uint64_t lo_hi = a_lo * b_hi, hi_hi = a_hi * b_hi;
  const std::uint64_t cross = (lo_lo >> 32) + (hi_lo & 0xFFFFFFFFu) + lo_hi;
  *low = (cross << 32) | (lo_lo & 0xFFFFFFFFu);
  return hi_hi + (hi_lo >> 32) + (cross >> 32);
}

// The random draws, all defined here rather than by the standard library's distributions (whose
// output differs between implementations). std::mt19937_64 itself is fully specified.
class Draws {
 public:
  explicit Draws(std::uint64_t seed) : rng_(seed) {}

  // Uniform integer in [0, bound), bound ≥ 1, unbiased (Lemire's multiply-and-reject).
  std::uint64_t below(std::uint64_t bound) {
    std::uint64_t low = 0;
    std::uint64_t high = mul_high(rng_(), bound, &low);
    if (low < bound) {
      const std::uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
      while (low < threshold) high = mul_high(rng_(), bound, &low);
    }
    return high;
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

  // Standard normal by Box–Muller, both outputs used. (Bit-identical across platforms as far as
  // the C library's log, sqrt, cos and sin are; sqrt is exact, the others may differ in the last
  // bit between libraries.)
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = static_cast<double>((rng_() >> 11) + 1) * 0x1.0p-53;  // (0, 1]: log finite
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(kTwoPi * u2);
    has_spare_ = true;
    return r * std::cos(kTwoPi * u2);
  }

 private:
  std::mt19937_64 rng_;
  bool has_spare_ = false;
  double spare_ = 0;
};

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t j = 0; j < a.size(); ++j) s += a[j] * b[j];
  return s;
}

// A random unit vector; when `basis` (orthonormal) leaves room, orthogonal to all of it.
std::vector<double> random_direction(Draws& draws, std::size_t dim,
                                     const std::vector<std::vector<double>>& basis) {
  const bool orthogonal = basis.size() < dim;
  for (;;) {
    std::vector<double> v(dim);
    for (double& x : v) x = draws.normal();
    if (orthogonal) {
      for (const auto& e : basis) {  // modified Gram–Schmidt
        const double p = dot(v, e);
        for (std::size_t j = 0; j < dim; ++j) v[j] -= p * e[j];
      }
    }
    const double norm = std::sqrt(dot(v, v));
    if (norm < 1e-9) continue;  // a degenerate draw (probability ~0): draw again
    for (double& x : v) x /= norm;
    return v;
  }
}

// Class centres (K × dim, row-major); see the header for the construction.
std::vector<double> make_centres(const SyntheticOptions& o, std::uint64_t seed) {
  Draws draws(mix_seed(seed, kCentreStream));
  const std::size_t k = o.classes, dim = o.dim;
  const double radius = o.separation / std::sqrt(2.0);
  std::vector<double> centres(k * dim, 0.0);
  std::vector<std::vector<double>> basis;  // orthonormal anchor directions so far
  for (std::size_t c = 0; c < k; ++c) {
    const bool partner = c < 2 * o.confusable_pairs && c % 2 == 1;
    if (partner) continue;  // placed once every anchor is known
    std::vector<double> e = random_direction(draws, dim, basis);
    if (basis.size() < dim) basis.push_back(e);
    for (std::size_t j = 0; j < dim; ++j) centres[c * dim + j] = radius * e[j];
  }
  for (std::size_t p = 0; p < o.confusable_pairs; ++p) {
    const std::vector<double> u = random_direction(draws, dim, basis);
    const std::size_t a = 2 * p, b = 2 * p + 1;
    for (std::size_t j = 0; j < dim; ++j)
      centres[b * dim + j] = centres[a * dim + j] + o.pair_distance * u[j];
  }
  return centres;
}

void check_probability(const char* field, double value) {
  DB_CHECK(value >= 0 && value <= 1,  // also rejects NaN
           "synthetic.{}: {} is out of range; expected a probability in [0, 1]", field, value);
}

void check_non_negative(const char* field, double value) {
  DB_CHECK(std::isfinite(value) && value >= 0,
           "synthetic.{}: {} is out of range; expected a finite number >= 0", field, value);
}

}  // namespace

void validate(const SyntheticOptions& o) {
  DB_CHECK(o.rows >= 1, "synthetic.rows: {}; expected at least 1", o.rows);
  DB_CHECK(o.classes >= 2, "synthetic.classes: {}; expected at least 2", o.classes);
  DB_CHECK(o.classes <= 1000000, "synthetic.classes: {}; expected at most 1000000", o.classes);
  DB_CHECK(o.dim >= 1, "synthetic.dim: {}; expected at least 1", o.dim);
  check_non_negative("separation", o.separation);
  check_non_negative("noise", o.noise);
  DB_CHECK(o.confusable_pairs <= o.classes / 2,
           "synthetic.confusable_pairs: {} pairs need {} classes, have {}", o.confusable_pairs,
           2 * o.confusable_pairs, o.classes);
  check_non_negative("pair_distance", o.pair_distance);
  check_probability("teacher_error_rate", o.teacher_error_rate);
  check_probability("confusable_error_share", o.confusable_error_share);
}

Traces generate_synthetic(const SyntheticOptions& o, std::uint64_t seed) {
  validate(o);
  const std::size_t n = o.rows, k = o.classes, dim = o.dim;
  const std::size_t paired = 2 * o.confusable_pairs;  // classes [0, paired) are in a pair
  const std::vector<double> centres = make_centres(o, seed);

  std::vector<std::string> names(k);
  for (std::size_t c = 0; c < k; ++c) names[c] = std::to_string(c);

  Traces t;
  t.source = "synthetic";
  t.texts.assign(n, std::string());
  t.teacher.reserve(n);
  t.gold.reserve(n);
  t.ids.reserve(n);
  t.embeddings = Matrix(n, dim);

  Draws draws(mix_seed(seed, kRowStream));
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t gold = static_cast<std::size_t>(draws.below(k));
    float* x = t.embeddings.row(i);
    const double* centre = centres.data() + gold * dim;
    for (std::size_t j = 0; j < dim; ++j)
      x[j] = static_cast<float>(centre[j] + o.noise * draws.normal());

    std::size_t answer = gold;
    if (draws.uniform() < o.teacher_error_rate) {
      if (gold < paired) {
        const std::size_t partner = gold ^ 1;
        const std::size_t first = gold & ~std::size_t{1};  // the pair is {first, first + 1}
        if (k == 2 || draws.uniform() < o.confusable_error_share) {
          answer = partner;
        } else {  // uniform over the classes outside the pair
          answer = static_cast<std::size_t>(draws.below(k - 2));
          if (answer >= first) answer += 2;
        }
      } else {  // uniform over the other classes
        answer = static_cast<std::size_t>(draws.below(k - 1));
        if (answer >= gold) answer += 1;
      }
    }
    t.teacher.push_back(names[answer]);
    t.gold.push_back(names[gold]);
    t.ids.push_back("syn-" + std::to_string(i));
  }
  return t;
}

}  // namespace deferbench
