#include "core/features/text_featurizer.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <fstream>
#include <type_traits>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "core/config/fields.h"
#include "core/data/binary_io.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"

namespace deferbench {

namespace {

constexpr const char* kMagic = "deferbench.text_featurizer";
constexpr std::uint32_t kVersion = 1;

constexpr std::int64_t kMinBuckets = std::int64_t{1} << 10, kMaxBuckets = std::int64_t{1} << 24;
constexpr int kMaxWordN = 5, kMaxCharN = 8, kMaxDim = 4096, kMaxOversampling = 1000,
              kMaxPowerIterations = 50;

// An n-gram range: [0, 0] (off) or 1 ≤ min ≤ max ≤ limit. Returns "" when valid, else what is
// expected.
std::string range_problem(int lo, int hi, int limit) {
  if ((lo == 0 && hi == 0) || (lo >= 1 && lo <= hi && hi <= limit)) return "";
  return fmt::format("expected [min, max] with 1 ≤ min ≤ max ≤ {}, or [0, 0] (off), got [{}, {}]",
                     limit, lo, hi);
}

// Reads `key` as a two-integer list [min, max] into lo/hi (left alone when absent).
void read_range(FieldReader& r, const std::string& key, int limit, int& lo, int& hi) {
  if (!r.has(key)) {
    r.allow(key);
    return;
  }
  std::vector<std::string> items = r.get_string_list(key, {});
  int v[2] = {0, 0};
  bool ok = items.size() == 2;
  for (std::size_t i = 0; ok && i < 2; ++i) {
    const std::string& s = items[i];
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v[i]);
    ok = ec == std::errc() && ptr == s.data() + s.size();
  }
  if (!ok)
    DB_THROW("config: '{}': expected a list of two integers [min, max], got [{}]", r.key_path(key),
             fmt::join(items, ", "));
  std::string problem = range_problem(v[0], v[1], limit);
  if (!problem.empty()) DB_THROW("config: '{}': {}", r.key_path(key), problem);
  lo = v[0];
  hi = v[1];
}

// Everything from_yaml enforces, for a loaded file; "" when valid.
std::string options_problem(const TextFeaturizerOptions& o) {
  const HashingOptions& h = o.hashing;
  if (h.buckets < kMinBuckets || h.buckets > kMaxBuckets)
    return fmt::format("buckets {} out of range", h.buckets);
  std::string p = range_problem(h.word_min, h.word_max, kMaxWordN);
  if (!p.empty()) return "word n-grams: " + p;
  p = range_problem(h.char_min, h.char_max, kMaxCharN);
  if (!p.empty()) return "char n-grams: " + p;
  if (h.word_max == 0 && h.char_max == 0) return "both word and char n-grams are off";
  if (o.lsa.dim < 1 || o.lsa.dim > kMaxDim) return fmt::format("dim {} out of range", o.lsa.dim);
  if (o.lsa.oversampling < 0 || o.lsa.oversampling > kMaxOversampling)
    return fmt::format("oversampling {} out of range", o.lsa.oversampling);
  if (o.lsa.power_iterations < 0 || o.lsa.power_iterations > kMaxPowerIterations)
    return fmt::format("power_iterations {} out of range", o.lsa.power_iterations);
  return "";
}

void normalize_rows(Matrix& m, int threads) {
  const auto n = static_cast<std::ptrdiff_t>(m.rows());
  const std::size_t k = m.cols();
#pragma omp parallel for num_threads(std::max(1, threads)) schedule(static)
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    float* r = m.row(static_cast<std::size_t>(i));
    double sq = 0.0;
    for (std::size_t d = 0; d < k; ++d) sq += static_cast<double>(r[d]) * r[d];
    if (sq <= 0.0) continue;
    const auto inv = static_cast<float>(1.0 / std::sqrt(sq));
    for (std::size_t d = 0; d < k; ++d) r[d] *= inv;
  }
}

}  // namespace

TextFeaturizerOptions TextFeaturizerOptions::from_yaml(const YAML::Node& node,
                                                       const std::string& path) {
  TextFeaturizerOptions o;
  FieldReader r(node, path);
  o.hashing.buckets =
      static_cast<std::uint32_t>(r.get_int("buckets", o.hashing.buckets, kMinBuckets, kMaxBuckets));
  read_range(r, "word_ngrams", kMaxWordN, o.hashing.word_min, o.hashing.word_max);
  read_range(r, "char_ngrams", kMaxCharN, o.hashing.char_min, o.hashing.char_max);
  o.sublinear_tf = r.get_bool("sublinear_tf", o.sublinear_tf);
  o.lsa.dim = static_cast<int>(r.get_int("dim", o.lsa.dim, 1, kMaxDim));
  o.lsa.oversampling =
      static_cast<int>(r.get_int("oversampling", o.lsa.oversampling, 0, kMaxOversampling));
  o.lsa.power_iterations = static_cast<int>(
      r.get_int("power_iterations", o.lsa.power_iterations, 0, kMaxPowerIterations));
  o.normalize_output = r.get_bool("normalize_output", o.normalize_output);
  r.finish();
  if (o.hashing.word_max == 0 && o.hashing.char_max == 0)
    DB_THROW("config: '{}': word_ngrams and char_ngrams cannot both be [0, 0] (no features)", path);
  return o;
}

void TextFeaturizer::fit(const std::vector<std::string>& texts, const DenseSolver& solver,
                         const Context& ctx) {
  DB_CHECK(!texts.empty(), "text featurizer: cannot fit on zero texts");
  std::string problem = options_problem(options_);
  DB_CHECK(problem.empty(), "text featurizer: invalid options: {}", problem);
  const auto start = std::chrono::steady_clock::now();
  SparseRows x = hash_ngrams(texts, options_.hashing, ctx.threads);
  DB_CHECK(x.nnz() > 0, "text featurizer: none of the {} training texts has a word to featurize",
           texts.size());
  // Into locals first: a failed fit leaves the featurizer as it was.
  Tfidf tfidf;
  tfidf.fit(x);
  x = tfidf.transform(x, options_.sublinear_tf);
  Lsa lsa;
  lsa.fit(x, solver, options_.lsa, ctx);
  tfidf_ = std::move(tfidf);
  lsa_ = std::move(lsa);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  spdlog::info(
      "text featurizer: fitted on {} texts in {:.2f} s ({} nonzeros, {} of {} buckets used), "
      "output dim {}",
      texts.size(), seconds, x.nnz(), lsa_.columns().size(), options_.hashing.buckets, dim());
}

Matrix TextFeaturizer::transform(const std::vector<std::string>& texts, const Context& ctx) const {
  DB_CHECK(fitted(), "text featurizer: transform called before fit (or load)");
  SparseRows x = hash_ngrams(texts, options_.hashing, ctx.threads);
  x = tfidf_.transform(x, options_.sublinear_tf);
  Matrix out = lsa_.transform(x, ctx.threads);
  if (options_.normalize_output) normalize_rows(out, ctx.threads);
  return out;
}

void TextFeaturizer::save(const std::filesystem::path& path) const {
  DB_CHECK(fitted(), "text featurizer: cannot save before fit ({})", path.string());
  AtomicFile file(path);
  BinaryWriter w(file.stream());
  w.header(kMagic, kVersion);
  const HashingOptions& h = options_.hashing;
  w.pod<std::uint32_t>(h.buckets);
  w.pod<std::int32_t>(h.word_min);
  w.pod<std::int32_t>(h.word_max);
  w.pod<std::int32_t>(h.char_min);
  w.pod<std::int32_t>(h.char_max);
  w.pod<std::uint8_t>(options_.sublinear_tf ? 1 : 0);
  w.pod<std::int32_t>(options_.lsa.dim);
  w.pod<std::int32_t>(options_.lsa.oversampling);
  w.pod<std::int32_t>(options_.lsa.power_iterations);
  w.pod<std::uint8_t>(options_.normalize_output ? 1 : 0);
  tfidf_.save(w);
  lsa_.save(w);
  file.commit();
}

TextFeaturizer TextFeaturizer::load(const std::filesystem::path& path) {
  const std::string source = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) fail({source, 0, ""}, "cannot open the text featurizer file");
  BinaryReader r(in, source);
  r.header(kMagic, kVersion);
  TextFeaturizerOptions o;
  o.hashing.buckets = r.pod<std::uint32_t>();
  o.hashing.word_min = r.pod<std::int32_t>();
  o.hashing.word_max = r.pod<std::int32_t>();
  o.hashing.char_min = r.pod<std::int32_t>();
  o.hashing.char_max = r.pod<std::int32_t>();
  o.sublinear_tf = r.pod<std::uint8_t>() != 0;
  o.lsa.dim = r.pod<std::int32_t>();
  o.lsa.oversampling = r.pod<std::int32_t>();
  o.lsa.power_iterations = r.pod<std::int32_t>();
  o.normalize_output = r.pod<std::uint8_t>() != 0;
  std::string problem = options_problem(o);
  if (!problem.empty()) fail({source, 0, "options"}, "corrupt text featurizer file: " + problem);
  TextFeaturizer f(o);
  f.tfidf_.load(r);
  if (f.tfidf_.idf().size() != o.hashing.buckets)
    fail({source, 0, "idf"}, "corrupt text featurizer file (idf length differs from buckets)");
  f.lsa_.load(r, o.hashing.buckets);
  if (f.lsa_.dim() < 1 || f.lsa_.dim() > o.lsa.dim)
    fail({source, 0, ""}, "corrupt text featurizer file (sizes disagree with the options)");
  if (in.peek() != std::char_traits<char>::eof())
    fail({source, 0, ""}, "corrupt text featurizer file (trailing data)");
  return f;
}

}  // namespace deferbench
