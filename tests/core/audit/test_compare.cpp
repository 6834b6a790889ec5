// Two policies on the same traffic, compared per teacher class, by hand.
#include "core/audit/compare.h"

#include <gtest/gtest.h>

#include "core/audit/temporal.h"
#include "core/util/error.h"

namespace deferbench {
namespace {

// Class 0: 10 rows, A handles 2, B handles 9 (7 moved to handled, none back).
// Class 1: 10 rows, A handles 5 and B the same 5 (nothing moved).
// Class 2: 4 rows, A handles rows 0-1, B rows 2-3 (2 moved each way).
PolicyPair constructed() {
  PolicyPair p;
  auto add = [&](LabelId label, bool ha, bool hb, bool aa, bool ab) {
    p.teacher.push_back(label);
    p.handled_a.push_back(ha);
    p.handled_b.push_back(hb);
    p.agrees_a.push_back(aa);
    p.agrees_b.push_back(ab);
  };
  for (int i = 0; i < 10; ++i) add(0, i < 2, i < 9, true, i != 8);
  for (int i = 0; i < 10; ++i) add(1, i < 5, i < 5, i != 0, i != 0);
  for (int i = 0; i < 4; ++i) add(2, i < 2, i >= 2, true, true);
  return p;
}

TEST(AuditCompare, CountsMovesPerClassAndOverall) {
  const PolicyComparison c = compare_policies(constructed(), 0.1);
  EXPECT_EQ(c.coverage_a.k, 9u);
  EXPECT_EQ(c.coverage_b.k, 16u);
  EXPECT_EQ(c.coverage_a.n, 24u);
  // Agreement on handled: A 8 of 9 (class 1's row 0 disagrees); B 14 of 16 (class 0 row 8,
  // class 1 row 0).
  EXPECT_EQ(c.agreement_a.k, 8u);
  EXPECT_EQ(c.agreement_b.k, 14u);
  EXPECT_EQ(c.to_handled, 9u);  // 7 of class 0, 2 of class 2
  EXPECT_EQ(c.to_deferred, 2u);
  ASSERT_EQ(c.classes.size(), 3u);
  // Largest |change| first: class 0 (+0.7), then class 2 (0) and class 1 (0) in label order.
  EXPECT_EQ(c.classes[0].label, 0);
  EXPECT_NEAR(c.classes[0].coverage_change, 0.7, 1e-12);
  EXPECT_EQ(c.classes[0].to_handled, 7u);
  EXPECT_EQ(c.classes[0].to_deferred, 0u);
  EXPECT_EQ(c.classes[1].label, 1);
  EXPECT_EQ(c.classes[2].label, 2);
  EXPECT_EQ(c.classes[2].to_handled, 2u);
  EXPECT_EQ(c.classes[2].to_deferred, 2u);
  EXPECT_DOUBLE_EQ(c.classes[2].coverage_change, 0.0);
  // Class 0: 7 rows moved to handled, none back: exact McNemar p = 2 · 0.5^7 = 0.015625; class 2
  // (2 each way) and class 1 (none) p = 1. BH at 0.1 over three: 0.015625 ≤ 0.1/3, so class 0
  // alone is flagged.
  EXPECT_DOUBLE_EQ(c.classes[0].p_value, 0.015625);
  EXPECT_DOUBLE_EQ(c.classes[1].p_value, 1.0);
  EXPECT_TRUE(c.classes[0].flagged);
  EXPECT_FALSE(c.classes[1].flagged);
  EXPECT_FALSE(c.classes[2].flagged);
  EXPECT_EQ(c.flagged, 1u);
}

// Exact McNemar by hand: 3 moved one way, 0 the other: 2 · 0.5^3 = 0.25 (a pooled z-test on
// 0/3 against 3/3 would say 0.014); 10 against 2: 2 · P(X ≤ 2 | 12, 1/2) = 2 · 79/4096.
TEST(AuditCompare, McNemarExact) {
  EXPECT_DOUBLE_EQ(mcnemar_exact_p_value(3, 0), 0.25);
  EXPECT_DOUBLE_EQ(mcnemar_exact_p_value(0, 3), 0.25);
  EXPECT_NEAR(mcnemar_exact_p_value(10, 2), 2.0 * 79.0 / 4096.0, 1e-12);
  EXPECT_DOUBLE_EQ(mcnemar_exact_p_value(4, 4), 1.0);
  EXPECT_DOUBLE_EQ(mcnemar_exact_p_value(0, 0), 1.0);
}

TEST(AuditCompare, APolicyAgainstItselfMovesNothing) {
  PolicyPair p = constructed();
  p.handled_b = p.handled_a;
  p.agrees_b = p.agrees_a;
  const PolicyComparison c = compare_policies(p, 0.1);
  EXPECT_EQ(c.to_handled, 0u);
  EXPECT_EQ(c.to_deferred, 0u);
  EXPECT_EQ(c.flagged, 0u);
  for (const ClassShift& s : c.classes) EXPECT_DOUBLE_EQ(s.coverage_change, 0.0);
}

TEST(AuditCompare, MismatchedLengthsAreAnError) {
  PolicyPair p = constructed();
  p.handled_b.pop_back();
  EXPECT_THROW(compare_policies(p, 0.1), Error);
}

}  // namespace
}  // namespace deferbench
