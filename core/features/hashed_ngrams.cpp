#include "core/features/hashed_ngrams.h"

#include <algorithm>

#include <utf8proc.h>
#include <xxhash.h>

#include "core/features/text_normalize.h"
#include "core/util/error.h"

namespace deferbench {

namespace {

bool is_word_char(utf8proc_int32_t cp) {
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

bool is_mark(utf8proc_int32_t cp) {
  auto c = utf8proc_category(cp);
  return c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_MC || c == UTF8PROC_CATEGORY_ME;
}

// One word of the normalized text: its byte range.
struct Word {
  std::size_t begin = 0, end = 0;
};

// Splits normalized (valid) UTF-8 into words (see hashed_ngrams.h).
void split_words(const std::string& text, std::vector<Word>& words) {
  words.clear();
  const auto* s = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  const auto n = static_cast<utf8proc_ssize_t>(text.size());
  utf8proc_ssize_t pos = 0;
  bool in_word = false;
  while (pos < n) {
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t len = 1;
    if (s[pos] < 0x80) {
      cp = s[pos];
    } else {
      len = utf8proc_iterate(s + pos, n - pos, &cp);
      if (len <= 0) {  // cannot happen after normalize_text; treat the byte as a separator
        len = 1;
        cp = -1;
      }
    }
    bool word_char;
    if (cp < 0x80) {
      word_char = (cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z');
    } else {
      word_char = is_word_char(cp) || (in_word && is_mark(cp));
    }
    if (word_char) {
      if (!in_word) words.push_back({static_cast<std::size_t>(pos), 0});
      in_word = true;
      words.back().end = static_cast<std::size_t>(pos + len);
    } else {
      in_word = false;
    }
    pos += len;
  }
}

// Start offsets of the code points of valid UTF-8 `s`, plus its length.
void code_point_offsets(const std::string& s, std::vector<std::size_t>& offsets) {
  offsets.clear();
  for (std::size_t i = 0; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) offsets.push_back(i);
  offsets.push_back(s.size());
}

struct Scratch {
  std::vector<Word> words;
  std::vector<std::size_t> offsets;
  std::string gram;
  std::string padded;
  std::vector<std::uint32_t> buckets;
};

// The sorted bucket ids of every n-gram of one text (with repeats).
void row_buckets(const std::string& raw, const HashingOptions& o, Scratch& sc) {
  sc.buckets.clear();
  const std::string text = normalize_text(raw);
  split_words(text, sc.words);
  const std::uint64_t nb = o.buckets;
  auto add = [&](const char* data, std::size_t len, std::uint64_t seed) {
    sc.buckets.push_back(static_cast<std::uint32_t>(XXH3_64bits_withSeed(data, len, seed) % nb));
  };
  if (o.word_max > 0) {
    const std::size_t nw = sc.words.size();
    for (int n = std::max(1, o.word_min); n <= o.word_max; ++n) {
      const auto un = static_cast<std::size_t>(n);
      for (std::size_t i = 0; i + un <= nw; ++i) {
        if (n == 1) {
          add(text.data() + sc.words[i].begin, sc.words[i].end - sc.words[i].begin, kWordNgramSeed);
          continue;
        }
        sc.gram.clear();
        for (std::size_t w = i; w < i + un; ++w) {
          if (w > i) sc.gram.push_back(' ');
          sc.gram.append(text, sc.words[w].begin, sc.words[w].end - sc.words[w].begin);
        }
        add(sc.gram.data(), sc.gram.size(), kWordNgramSeed);
      }
    }
  }
  if (o.char_max > 0) {
    for (const Word& w : sc.words) {
      sc.padded.assign(1, ' ');
      sc.padded.append(text, w.begin, w.end - w.begin);
      sc.padded.push_back(' ');
      code_point_offsets(sc.padded, sc.offsets);
      const std::size_t len = sc.offsets.size() - 1;  // code points
      for (int n = std::max(1, o.char_min); n <= o.char_max; ++n) {
        const auto un = static_cast<std::size_t>(n);
        if (len <= un) {  // the whole padded word, once, and no longer n
          add(sc.padded.data(), sc.padded.size(), kCharNgramSeed);
          break;
        }
        for (std::size_t off = 0; off + un <= len; ++off) {
          const std::size_t b = sc.offsets[off], e = sc.offsets[off + un];
          add(sc.padded.data() + b, e - b, kCharNgramSeed);
        }
      }
    }
  }
  std::sort(sc.buckets.begin(), sc.buckets.end());
}

}  // namespace

SparseRows hash_ngrams(const std::vector<std::string>& texts, const HashingOptions& options,
                       int threads) {
  DB_CHECK(options.buckets >= 1, "hashing: buckets must be at least 1");
  DB_CHECK(options.word_min >= 0 && options.word_min <= options.word_max,
           "hashing: word n-gram range [{}, {}] is not a range", options.word_min,
           options.word_max);
  DB_CHECK(options.char_min >= 0 && options.char_min <= options.char_max,
           "hashing: char n-gram range [{}, {}] is not a range", options.char_min,
           options.char_max);
  const std::size_t rows = texts.size();
  std::vector<std::vector<std::uint32_t>> row_idx(rows);
  std::vector<std::vector<float>> row_val(rows);
  const auto n = static_cast<std::ptrdiff_t>(rows);
#pragma omp parallel num_threads(std::max(1, threads))
  {
    Scratch sc;
#pragma omp for schedule(dynamic, 64)
    for (std::ptrdiff_t i = 0; i < n; ++i) {
      const auto r = static_cast<std::size_t>(i);
      row_buckets(texts[r], options, sc);
      auto& idx = row_idx[r];
      auto& val = row_val[r];
      for (std::size_t p = 0; p < sc.buckets.size();) {
        std::size_t q = p;
        while (q < sc.buckets.size() && sc.buckets[q] == sc.buckets[p]) ++q;
        idx.push_back(sc.buckets[p]);
        val.push_back(static_cast<float>(q - p));
        p = q;
      }
    }
  }
  SparseRows out;
  out.cols = options.buckets;
  out.indptr.resize(rows + 1);
  out.indptr[0] = 0;
  for (std::size_t r = 0; r < rows; ++r) out.indptr[r + 1] = out.indptr[r] + row_idx[r].size();
  out.indices.resize(out.indptr[rows]);
  out.values.resize(out.indptr[rows]);
#pragma omp parallel for num_threads(std::max(1, threads)) schedule(static)
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const auto r = static_cast<std::size_t>(i);
    std::copy(row_idx[r].begin(), row_idx[r].end(), out.indices.begin() + out.indptr[r]);
    std::copy(row_val[r].begin(), row_val[r].end(), out.values.begin() + out.indptr[r]);
    std::vector<std::uint32_t>().swap(row_idx[r]);
    std::vector<float>().swap(row_val[r]);
  }
  return out;
}

}  // namespace deferbench
