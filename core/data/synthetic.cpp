#include "core/data/synthetic.h"

#include <cmath>
#include <string>
#include <vector>

#include "core/util/context.h"
#include "core/util/error.h"
#include "core/util/random.h"

namespace deferbench {
namespace {

// Random streams derived from the seed: the class centres, then the rows (drawn in row order, so
// the first n rows of a larger draw equal a draw of n rows with the same options).
constexpr std::uint64_t kCentreStream = 0;
constexpr std::uint64_t kRowStream = 1;

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t j = 0; j < a.size(); ++j) s += a[j] * b[j];
  return s;
}

// A random unit vector; when `basis` (orthonormal) leaves room, orthogonal to all of it.
std::vector<double> random_direction(Rng& draws, std::size_t dim,
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
  Rng draws(mix_seed(seed, kCentreStream));
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

  Rng draws(mix_seed(seed, kRowStream));
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
