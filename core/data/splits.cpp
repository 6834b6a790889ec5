#include "core/data/splits.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <utility>

#include "core/util/context.h"
#include "core/util/error.h"
#include "core/util/random.h"

namespace deferbench {
namespace {

constexpr std::size_t kSplits = 4;  // train, val, cal, test: the fixed split order
constexpr std::size_t kTrain = 0, kVal = 1, kCal = 2, kTest = 3;

// How many of a class's `n` rows each split gets (see stratified_split in the header).
std::array<std::size_t, kSplits> class_counts(std::size_t n, const std::array<double, kSplits>& f) {
  std::array<std::size_t, kSplits> count{};
  if (n == 1) {
    count[kTrain] = 1;
    return count;
  }
  if (n == 2) {
    count[kTrain] = count[kTest] = 1;
    return count;
  }
  if (n == 3) {
    count[kTrain] = count[kTest] = 1;
    count[f[kCal] > 0 ? kCal : f[kVal] > 0 ? kVal : kTrain] += 1;
    return count;
  }

  // Largest remainder: floors first, then one more row each to the largest remainders, ties
  // broken by the split order. Only splits with a positive fraction may receive a row.
  std::array<double, kSplits> remainder{};
  std::size_t assigned = 0;
  for (std::size_t s = 0; s < kSplits; ++s) {
    const double quota = static_cast<double>(n) * f[s];
    const double whole = std::floor(quota);
    count[s] = static_cast<std::size_t>(whole);
    remainder[s] = quota - whole;
    assigned += count[s];
  }
  // With fractions summing to slightly over 1, the floors can overshoot on huge classes; take the
  // excess back from the largest split.
  while (assigned > n) {
    std::size_t largest = 0;
    for (std::size_t s = 1; s < kSplits; ++s)
      if (count[s] > count[largest]) largest = s;
    --count[largest];
    --assigned;
  }
  std::array<bool, kSplits> topped{};
  while (assigned < n) {
    std::size_t best = kSplits;
    for (std::size_t s = 0; s < kSplits; ++s) {
      if (f[s] <= 0 || topped[s]) continue;
      // Remainders within 1e-9 count as tied (0.55 · 10 and 0.15 · 10 both leave "0.5"), so
      // the split order, not floating-point noise, decides.
      if (best == kSplits || remainder[s] > remainder[best] + 1e-9) best = s;
    }
    if (best == kSplits) {  // every positive split already topped up once (rounding slack)
      topped.fill(false);
      continue;
    }
    topped[best] = true;
    ++count[best];
    ++assigned;
  }

  // Every split with a positive fraction gets a row, taken from the largest split (the first in
  // split order on ties). With n ≥ 4 and at most 3 other splits, the largest has ≥ 2 rows.
  for (std::size_t s = 0; s < kSplits; ++s) {
    if (f[s] <= 0 || count[s] > 0) continue;
    std::size_t largest = 0;
    for (std::size_t t = 1; t < kSplits; ++t)
      if (count[t] > count[largest]) largest = t;
    DB_ASSERT(count[largest] >= 2);
    --count[largest];
    ++count[s];
  }
  return count;
}

}  // namespace

void validate(const SplitFractions& fractions) {
  const std::array<std::pair<const char*, double>, kSplits> named = {{{"train", fractions.train},
                                                                      {"val", fractions.val},
                                                                      {"cal", fractions.cal},
                                                                      {"test", fractions.test}}};
  double sum = 0;
  for (const auto& [name, value] : named) {
    DB_CHECK(value >= 0 && value <= 1,  // also rejects NaN
             "split.{}: {} is out of range; expected a fraction in [0, 1]", name, value);
    sum += value;
  }
  DB_CHECK(fractions.train > 0, "split.train: 0 leaves nothing to fit on; expected a fraction > 0");
  DB_CHECK(fractions.test > 0,
           "split.test: 0 leaves nothing to report on; expected a fraction > 0");
  DB_CHECK(std::fabs(sum - 1) <= 1e-9, "split fractions sum to {:.10g}; expected 1", sum);
}

Splits stratified_split(const std::vector<LabelId>& strata, const SplitFractions& fractions,
                        std::uint64_t seed) {
  validate(fractions);
  const std::size_t n = strata.size();
  // Not renormalized: dividing by a sum like 1.0000000000000002 would perturb exact ties; the
  // rounding below absorbs the ≤ 1e-9 slack.
  const std::array<double, kSplits> f = {fractions.train, fractions.val, fractions.cal,
                                         fractions.test};

  // Counting sort of the rows by class: each class's rows end up contiguous, in row order.
  std::size_t n_classes = 0;
  for (std::size_t i = 0; i < n; ++i) {
    DB_CHECK(strata[i] >= 0, "split strata: row {} has label id {}; expected a class id >= 0", i,
             strata[i]);
    n_classes = std::max(n_classes, static_cast<std::size_t>(strata[i]) + 1);
  }
  std::vector<std::size_t> start(n_classes + 1, 0);
  for (LabelId c : strata) ++start[static_cast<std::size_t>(c) + 1];
  for (std::size_t c = 0; c < n_classes; ++c) start[c + 1] += start[c];
  std::vector<std::size_t> order(n);
  {
    std::vector<std::size_t> next(start.begin(), start.end() - 1);
    for (std::size_t i = 0; i < n; ++i) order[next[static_cast<std::size_t>(strata[i])]++] = i;
  }

  // Per class: shuffle with its own generator, then cut in split order.
  std::vector<std::uint8_t> split_of(n, 0);
  std::array<std::size_t, kSplits> total{};
  for (std::size_t c = 0; c < n_classes; ++c) {
    const std::size_t size = start[c + 1] - start[c];
    if (size == 0) continue;
    Rng rng(mix_seed(seed, c));
    rng.shuffle(order.data() + start[c], size);
    const std::array<std::size_t, kSplits> count = class_counts(size, f);
    std::size_t at = start[c];
    for (std::size_t s = 0; s < kSplits; ++s) {
      for (std::size_t k = 0; k < count[s]; ++k)
        split_of[order[at++]] = static_cast<std::uint8_t>(s);
      total[s] += count[s];
    }
    DB_ASSERT(at == start[c + 1]);
  }

  // One sweep in row order leaves every list sorted ascending.
  Splits out;
  std::array<std::vector<std::size_t>*, kSplits> lists = {&out.train, &out.val, &out.cal,
                                                          &out.test};
  for (std::size_t s = 0; s < kSplits; ++s) lists[s]->reserve(total[s]);
  for (std::size_t i = 0; i < n; ++i) lists[split_of[i]]->push_back(i);
  return out;
}

std::vector<std::size_t> stratified_subsample(const std::vector<LabelId>& strata, std::size_t rows,
                                              std::uint64_t seed) {
  const std::size_t n = strata.size();
  std::vector<std::size_t> out;
  if (rows >= n) {
    out.resize(n);
    for (std::size_t i = 0; i < n; ++i) out[i] = i;
    return out;
  }
  std::vector<std::vector<std::size_t>> by_class;
  for (std::size_t i = 0; i < n; ++i) {
    DB_CHECK(strata[i] >= 0, "subsample strata: row {} has label id {}; expected a class id >= 0",
             i, strata[i]);
    const auto c = static_cast<std::size_t>(strata[i]);
    if (c >= by_class.size()) by_class.resize(c + 1);
    by_class[c].push_back(i);
  }
  // Quotas: floor of each class's share, then the leftover rows to the largest remainders.
  std::vector<std::size_t> quota(by_class.size());
  std::vector<std::pair<double, std::size_t>> remainders;
  std::size_t given = 0;
  for (std::size_t c = 0; c < by_class.size(); ++c) {
    const double share = static_cast<double>(rows) * static_cast<double>(by_class[c].size()) /
                         static_cast<double>(n);
    quota[c] = static_cast<std::size_t>(std::floor(share));
    given += quota[c];
    remainders.emplace_back(share - static_cast<double>(quota[c]), c);
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t k = 0; given < rows; ++k, ++given) ++quota[remainders[k].second];
  for (std::size_t c = 0; c < by_class.size(); ++c) {
    if (quota[c] == 0) continue;
    Rng rng(mix_seed(seed, c));
    rng.shuffle(by_class[c].data(), by_class[c].size());
    out.insert(out.end(), by_class[c].begin(),
               by_class[c].begin() + static_cast<std::ptrdiff_t>(quota[c]));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int> stratified_folds(const std::vector<LabelId>& teacher, int folds,
                                  std::uint64_t seed) {
  std::vector<std::size_t> order(teacher.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  Rng rng(seed);
  rng.shuffle(order.data(), order.size());
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return teacher[a] < teacher[b]; });
  std::vector<int> fold(teacher.size());
  for (std::size_t i = 0; i < order.size(); ++i) fold[order[i]] = static_cast<int>(i % folds);
  return fold;
}

}  // namespace deferbench
