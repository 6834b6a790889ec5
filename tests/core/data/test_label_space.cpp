#include "core/data/label_space.h"

#include <gtest/gtest.h>

#include "core/data/dataset.h"
#include "core/util/error.h"

namespace deferbench {
namespace {

TEST(LabelSpace, IdsFollowSortedOrderWhateverTheInputOrder) {
  LabelSpace a({"card", "atm", "card", "balance"});
  LabelSpace b({"balance", "card", "atm"});
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), 3u);
  EXPECT_EQ(a.id("atm"), 0);
  EXPECT_EQ(a.id("balance"), 1);
  EXPECT_EQ(a.id("card"), 2);
  EXPECT_EQ(a.name(2), "card");
  EXPECT_FALSE(a.find("loan").has_value());
  EXPECT_THROW(a.id("loan"), Error);
}

TEST(LabelSpace, IntegerLabelsSortNumerically) {
  LabelSpace s({"10", "2", "0", "76", "3"});
  EXPECT_EQ(s.names(), (std::vector<std::string>{"0", "2", "3", "10", "76"}));
  // Mixed: lexicographic.
  LabelSpace m({"10", "b", "2"});
  EXPECT_EQ(m.names(), (std::vector<std::string>{"10", "2", "b"}));
}

TEST(Traces, AppendFillsOptionalColumnsAndChecksEmbeddingWidth) {
  Traces a;
  a.source = "a";
  a.teacher = {"x", "y"};
  a.texts = {"t1", "t2"};
  a.ids = {"1", "2"};
  a.gold = {"x", "x"};
  Traces b;
  b.source = "b";
  b.teacher = {"z"};
  b.texts = {"t3"};
  b.ids = {"3"};
  b.slices = {"s"};
  b.dropped_no_answer = 4;
  a.append(std::move(b));
  EXPECT_EQ(a.size(), 3u);
  EXPECT_EQ(a.gold, (std::vector<std::string>{"x", "x", ""}));
  EXPECT_EQ(a.slices, (std::vector<std::string>{"", "", "s"}));
  EXPECT_EQ(a.dropped_no_answer, 4u);

  Traces e1, e2;
  e1.source = "e1";
  e1.teacher = {"x"};
  e1.embeddings = Matrix(1, 3);
  e2.source = "e2";
  e2.teacher = {"x"};
  e2.embeddings = Matrix(1, 4);
  EXPECT_THROW(e1.append(std::move(e2)), Error);
}

TEST(Dataset, ToDatasetMapsLabelsAndSubsetCopiesEveryColumn) {
  Traces t;
  t.source = "t";
  t.teacher = {"b", "a", "c"};
  t.gold = {"a", "", "c"};
  t.ids = {"r0", "r1", "r2"};
  t.texts = {"x0", "x1", "x2"};
  t.embeddings = Matrix(3, 2, std::vector<float>{0, 1, 2, 3, 4, 5});
  auto labels = std::make_shared<const LabelSpace>(label_space_of({&t}));
  Dataset d = to_dataset(t, labels);
  EXPECT_EQ(d.teacher, (std::vector<LabelId>{1, 0, 2}));
  EXPECT_EQ(d.gold, (std::vector<LabelId>{0, kNoLabel, 2}));
  Dataset s = d.subset({2, 0});
  EXPECT_EQ(s.teacher, (std::vector<LabelId>{2, 1}));
  EXPECT_EQ(s.ids, (std::vector<std::string>{"r2", "r0"}));
  EXPECT_EQ(s.texts, (std::vector<std::string>{"x2", "x0"}));
  EXPECT_EQ(s.features.values(), (std::vector<float>{4, 5, 0, 1}));
  EXPECT_EQ(s.n_classes(), 3u);
}

}  // namespace
}  // namespace deferbench
