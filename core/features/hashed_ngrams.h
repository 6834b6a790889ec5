// Word and character n-grams of normalized text, hashed (xxhash) into a fixed number of buckets.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/features/sparse.h"

namespace deferbench {

struct HashingOptions {
  std::uint32_t buckets = 1u << 18;
  int word_min = 1, word_max = 2;  // word n-grams (words: runs of letters/digits after
                                   // normalization); 0/0 turns them off
  int char_min = 3, char_max = 5;  // character n-grams over each word padded with spaces, as
                                   // scikit-learn's analyzer="char_wb"; 0/0 turns them off
};

// Raw counts: row i holds the n-gram counts of texts[i] (texts are normalized here, with
// normalize_text). Word and character n-grams are hashed with different seeds, so they do not
// share buckets by construction. Parallel over rows, deterministic.
SparseRows hash_ngrams(const std::vector<std::string>& texts, const HashingOptions& options,
                       int threads);

}  // namespace deferbench
