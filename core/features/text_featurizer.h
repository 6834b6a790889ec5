// The built-in text featurizer for traces without embeddings:
//   NFKC + case folding → word 1–2-grams and char 3–5-grams hashed into 2^18 buckets →
//   TF-IDF (sublinear tf) → L2 → LSA to `lsa.dim` dimensions (→ optional L2 of the output).
// Fitted on the training split only, then applied to every split. Deterministic for a seed.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/features/hashed_ngrams.h"
#include "core/features/lsa.h"
#include "core/features/tfidf.h"

namespace deferbench {

struct TextFeaturizerOptions {
  HashingOptions hashing;
  bool sublinear_tf = true;
  LsaOptions lsa;
  bool normalize_output = true;  // L2-normalize each LSA row (as scikit-learn's LSA example)

  // Reads the `features.text` section (`path` names it in messages); unknown keys and
  // out-of-range values are errors (deferbench::Error; an unknown key's message lists the valid
  // ones). Keys: buckets (2^10…2^24), word_ngrams ([min, max], 1 ≤ min ≤ max ≤ 5, or [0, 0] for
  // none), char_ngrams ([min, max] up to 8, or [0, 0]), sublinear_tf, dim (1…4096),
  // oversampling (0…1000), power_iterations (0…50), normalize_output. Word and char n-grams
  // cannot both be off.
  static TextFeaturizerOptions from_yaml(const YAML::Node& node, const std::string& path);
};

class TextFeaturizer {
 public:
  TextFeaturizer() = default;
  explicit TextFeaturizer(TextFeaturizerOptions options) : options_(std::move(options)) {}

  // hash → TF-IDF fit → LSA fit (ctx.seed, ctx.threads; the solver carries the device). Logs the
  // fit time and the output dimension.
  void fit(const std::vector<std::string>& texts, const DenseSolver& solver, const Context& ctx);
  // texts.size() × dim(); uses ctx.threads only (the LSA projection runs on the CPU).
  Matrix transform(const std::vector<std::string>& texts, const Context& ctx) const;
  bool fitted() const { return lsa_.dim() > 0; }
  int dim() const { return lsa_.dim(); }
  const TextFeaturizerOptions& options() const { return options_; }

  // A binary file holding the options, the idf vector and the LSA components (atomic write).
  // load throws deferbench::Error naming the file when it is missing, foreign, truncated or
  // inconsistent.
  void save(const std::filesystem::path& path) const;
  static TextFeaturizer load(const std::filesystem::path& path);

 private:
  TextFeaturizerOptions options_;
  Tfidf tfidf_;
  Lsa lsa_;
};

}  // namespace deferbench
