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

// The xxhash seeds of the two n-gram kinds (part of the feature definition: changing them
// changes every fitted featurizer).
inline constexpr std::uint64_t kWordNgramSeed = 0x776f72645f6e6772ULL;  // "word_ngr"
inline constexpr std::uint64_t kCharNgramSeed = 0x636861725f6e6772ULL;  // "char_ngr"

// Raw counts: row i holds the n-gram counts of texts[i] (texts are normalized here, with
// normalize_text). A gram's bucket is XXH3_64bits_withSeed(its UTF-8 bytes, seed) % buckets.
//  - Words are maximal runs of code points of the Unicode categories L* and N* (a mark, M*,
//    directly after such a run continues the word, so scripts with combining vowel signs keep
//    their words whole). A word n-gram is n consecutive words joined by one space.
//  - Character n-grams are taken over " " + word + " " per word, in code points; a padded word
//    no longer than n is counted once, as a whole, and no longer n is tried for it (exactly
//    scikit-learn's char_wb).
// Word and character n-grams use different seeds, so the same bytes in the two roles land in
// unrelated buckets. Parallel over rows; the output does not depend on `threads`.
SparseRows hash_ngrams(const std::vector<std::string>& texts, const HashingOptions& options,
                       int threads);

}  // namespace deferbench
