#include "core/features/text_normalize.h"

#include <gtest/gtest.h>

namespace deferbench {
namespace {

TEST(TextNormalize, CompatibilityFormsAreFolded) {
  EXPECT_EQ(normalize_text("\xEF\xAC\x81nd"), "find");  // U+FB01 "ﬁ" ligature
  EXPECT_EQ(normalize_text("\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\xA3"), "abc");  // fullwidth ＡＢＣ
  EXPECT_EQ(normalize_text("x\xC2\xB2"), "x2");                              // superscript two
}

TEST(TextNormalize, CaseFoldingIsFull) {
  EXPECT_EQ(normalize_text("Stra\xC3\x9F"
                           "e"),
            "strasse");  // Straße
  EXPECT_EQ(normalize_text("HELLO World"), "hello world");
  EXPECT_EQ(normalize_text("\xCE\xA3\xCE\x91"), "\xCF\x83\xCE\xB1");  // ΣΑ → σα
}

TEST(TextNormalize, ComposesCombiningSequences) {
  // "e" + U+0301 COMBINING ACUTE → U+00E9; the precomposed form is unchanged.
  EXPECT_EQ(normalize_text("Cafe\xCC\x81"), "caf\xC3\xA9");
  EXPECT_EQ(normalize_text("CAF\xC3\x89"), "caf\xC3\xA9");
}

TEST(TextNormalize, InvalidBytesAreReplacedNotRejected) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(normalize_text("a\xFF"
                           "b"),
            "a" + fffd + "b");                                               // impossible byte
  EXPECT_EQ(normalize_text("A\xE2\x82"), "a" + fffd + fffd);                 // truncated sequence
  EXPECT_EQ(normalize_text("\xC0\xAF"), fffd + fffd);                        // overlong '/'
  EXPECT_EQ(normalize_text("\xED\xA0\x80x"), fffd + fffd + fffd + "x");      // UTF-16 surrogate
  EXPECT_EQ(normalize_text("\x80Q"), fffd + "q");                            // stray continuation
  EXPECT_EQ(normalize_text("\xF4\x90\x80\x80"), fffd + fffd + fffd + fffd);  // above U+10FFFF
}

TEST(TextNormalize, EmptyAndPlainAscii) {
  EXPECT_EQ(normalize_text(""), "");
  EXPECT_EQ(normalize_text("pin 1234, ok?"), "pin 1234, ok?");
}

TEST(TextNormalize, DefaultIgnorablesAreDropped) {
  EXPECT_EQ(normalize_text("re\xC2\xAD"
                           "set"),
            "reset");                                   // soft hyphen
  EXPECT_EQ(normalize_text("pi\xE2\x80\x8Bn"), "pin");  // zero-width space
}

}  // namespace
}  // namespace deferbench
