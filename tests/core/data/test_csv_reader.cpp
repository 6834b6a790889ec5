#include "core/data/csv_reader.h"

#include <cmath>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/util/error.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

CsvColumns text_and_label() {
  CsvColumns c;
  c.text = "text";
  c.teacher = "label";
  return c;
}

std::string read_error(const std::filesystem::path& p, const CsvColumns& columns) {
  try {
    read_csv_traces(p, columns);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "reading " << p << " did not throw";
  return "";
}

TEST(CsvReaderTest, QuotedCommasNewlinesAndDoubledQuotes) {
  testing::TempDir dir;
  auto p = dir.write("q.csv",
                     "text,label\n"
                     "\"hello, world\",a\n"
                     "\"line one\nline two\",b\n"
                     "\"she said \"\"hi\"\"\",c\n"
                     "  spaces kept  ,d\n"
                     "plain,e\n");
  Traces t = read_csv_traces(p, text_and_label());
  EXPECT_EQ(t.source, p.string());
  EXPECT_THAT(t.texts, ElementsAre("hello, world", "line one\nline two", "she said \"hi\"",
                                   "  spaces kept  ", "plain"));
  EXPECT_THAT(t.teacher, ElementsAre("a", "b", "c", "d", "e"));
  // Ids are physical line numbers: the record after the two-line one starts on line 5.
  EXPECT_THAT(t.ids, ElementsAre("q.csv:2", "q.csv:3", "q.csv:5", "q.csv:6", "q.csv:7"));
  EXPECT_TRUE(t.gold.empty());
  EXPECT_TRUE(t.times.empty());
  EXPECT_TRUE(t.slices.empty());
  EXPECT_FALSE(t.has_embeddings());
}

TEST(CsvReaderTest, BomCrlfAndNoFinalNewline) {
  testing::TempDir dir;
  auto p = dir.write("w.csv",
                     "\xEF\xBB\xBFtext,label\r\n"
                     "\"a\r\nb\",x\r\n"
                     "\r\n"
                     "c,y");
  Traces t = read_csv_traces(p, text_and_label());
  EXPECT_THAT(t.texts, ElementsAre("a\r\nb", "c"));
  EXPECT_THAT(t.teacher, ElementsAre("x", "y"));  // no stray '\r'
  EXPECT_THAT(t.ids, ElementsAre("w.csv:2", "w.csv:5"));
}

TEST(CsvReaderTest, AllOptionalColumns) {
  testing::TempDir dir;
  auto p = dir.write("all.csv",
                     "id,text,pred,gold,when,domain\n"
                     "r1,first,a,a,100,web\n"
                     ",second,b,,1970-01-02,\n"
                     "r3,third,c,b,,news\n"
                     "r4,fourth,a,a, 2024-03-01T14:30:00+02:00 ,web\n");
  CsvColumns c;
  c.text = "text";
  c.teacher = "pred";
  c.gold = "gold";
  c.id = "id";
  c.time = "when";
  c.slice = "domain";
  Traces t = read_csv_traces(p, c);
  ASSERT_EQ(t.size(), 4u);
  EXPECT_THAT(t.texts, ElementsAre("first", "second", "third", "fourth"));
  EXPECT_THAT(t.teacher, ElementsAre("a", "b", "c", "a"));
  EXPECT_THAT(t.gold, ElementsAre("a", "", "b", "a"));  // empty gold: no gold for that row
  EXPECT_THAT(t.ids, ElementsAre("r1", "all.csv:3", "r3", "r4"));
  ASSERT_EQ(t.times.size(), 4u);
  EXPECT_EQ(t.times[0], 100.0);
  EXPECT_EQ(t.times[1], 86400.0);
  EXPECT_TRUE(std::isnan(t.times[2]));
  EXPECT_EQ(t.times[3], 1709296200.0);
  EXPECT_THAT(t.slices, ElementsAre("web", "", "news", "web"));
  // More columns kept for the audit's slices; one not in the header is an error naming it.
  c.fields = {"domain", "gold", "domain"};  // named twice: kept once
  t = read_csv_traces(p, c);
  ASSERT_EQ(t.fields.size(), 2u);
  EXPECT_EQ(t.fields["domain"].size(), 4u);
  EXPECT_THAT(t.fields["domain"], ElementsAre("web", "", "news", "web"));
  EXPECT_THAT(t.fields["gold"], ElementsAre("a", "", "b", "a"));
  c.fields = {"nope"};
  EXPECT_THAT(
      [&] { read_csv_traces(p, c); },
      ::testing::ThrowsMessage<Error>(::testing::HasSubstr("column 'nope' is not in the header")));
}

TEST(CsvReaderTest, SameColumnForTeacherAndGold) {
  testing::TempDir dir;
  auto p = dir.write("s.csv", "text,category\nhi,greet\nbye,leave\n");
  CsvColumns c;
  c.text = "text";
  c.teacher = "category";
  c.gold = "category";
  Traces t = read_csv_traces(p, c);
  EXPECT_THAT(t.teacher, ElementsAre("greet", "leave"));
  EXPECT_THAT(t.gold, ElementsAre("greet", "leave"));
}

TEST(CsvReaderTest, TabDelimiter) {
  testing::TempDir dir;
  auto p = dir.write("t.tsv", "text\tlabel\na, b\tx\n");
  CsvColumns c = text_and_label();
  c.delimiter = '\t';
  Traces t = read_csv_traces(p, c);
  EXPECT_THAT(t.texts, ElementsAre("a, b"));
  EXPECT_THAT(t.teacher, ElementsAre("x"));
}

TEST(CsvReaderTest, MissingColumnListsAvailableColumns) {
  testing::TempDir dir;
  auto p = dir.write("m.csv", "text,label,gpt-label\nhi,1,2\n");
  CsvColumns c = text_and_label();
  c.teacher = "gpt4-label";
  EXPECT_THAT(read_error(p, c),
              AllOf(HasSubstr("m.csv"), HasSubstr("teacher_column"), HasSubstr("'gpt4-label'"),
                    HasSubstr("text, label, gpt-label")));
  c = text_and_label();
  c.gold = "gold";
  EXPECT_THAT(read_error(p, c), AllOf(HasSubstr("gold_column"), HasSubstr("'gold'"),
                                      HasSubstr("text, label, gpt-label")));
  c = text_and_label();
  c.text = "";
  EXPECT_THAT(read_error(p, c),
              AllOf(HasSubstr("m.csv"), HasSubstr("text_column"), HasSubstr("not set")));
}

TEST(CsvReaderTest, FieldCountMismatchNamesRecordLine) {
  testing::TempDir dir;
  auto p = dir.write("f.csv",
                     "text,label\n"
                     "\"multi\nline\nrecord\",a\n"  // lines 2-4
                     "ok,b\n"                       // line 5
                     "\n"                           // line 6
                     "too,many,fields\n");          // line 7
  EXPECT_THAT(
      read_error(p, text_and_label()),
      AllOf(HasSubstr(p.string() + ":7:"), HasSubstr("3 fields"), HasSubstr("header has 2")));
  // A short record that itself spans lines: named by its first line.
  p = dir.write("g.csv", "text,label\nok,a\n\"two\nlines\"\n");
  EXPECT_THAT(read_error(p, text_and_label()),
              AllOf(HasSubstr(p.string() + ":3:"), HasSubstr("has 1 field,")));
}

TEST(CsvReaderTest, MalformedQuotingNamesLine) {
  testing::TempDir dir;
  auto p = dir.write("bad.csv", "text,label\nok,a\n\"closed\"junk,b\n");
  EXPECT_THAT(read_error(p, text_and_label()),
              AllOf(HasSubstr(p.string() + ":3:"), HasSubstr("malformed CSV")));
  p = dir.write("open.csv", "text,label\nok,a\n\"never\nclosed,b\n");
  EXPECT_THAT(read_error(p, text_and_label()),
              AllOf(HasSubstr(p.string() + ":3:"), HasSubstr("unterminated quoted field")));
}

TEST(CsvReaderTest, EmptyTeacherValue) {
  testing::TempDir dir;
  auto p = dir.write("e.csv", "text,label\na,x\nb,\n");
  EXPECT_THAT(read_error(p, text_and_label()),
              AllOf(HasSubstr(p.string() + ":3:"), HasSubstr("field 'label'"),
                    HasSubstr("empty teacher value")));
}

TEST(CsvReaderTest, BadTimeValue) {
  testing::TempDir dir;
  auto p = dir.write("t.csv", "text,label,ts\na,x,5\nb,y,last tuesday\n");
  CsvColumns c = text_and_label();
  c.time = "ts";
  EXPECT_THAT(read_error(p, c), AllOf(HasSubstr(p.string() + ":3:"), HasSubstr("field 'ts'"),
                                      HasSubstr("'last tuesday'")));
}

// Fuzzer finding 7 (tests/fuzz/README.md): messages quoted whole header lists, column names and
// time cells. Each is quoted through excerpt() now: a huge header or cell makes a short message.
TEST(CsvReaderTest, MessagesQuoteHeadersAndCellsCapped) {
  testing::TempDir dir;
  const std::string huge(100000, 'h');
  // A header of 5000 columns: the first 10 listed, each capped, then the count.
  std::string header = "text,label";
  for (int i = 0; i < 5000; ++i) header += ",c" + std::to_string(i) + huge.substr(0, 200);
  auto p = dir.write("wide.csv", header + "\n");
  CsvColumns c = text_and_label();
  c.gold = "gold" + huge;
  std::string msg = read_error(p, c);
  EXPECT_THAT(msg, AllOf(HasSubstr(p.string()), HasSubstr("field 'gold_column'"),
                         HasSubstr("column 'goldhhhh"), HasSubstr("text, label, c0hhh"),
                         HasSubstr("… (5002 columns in all)"), Not(HasSubstr("c10h"))));
  EXPECT_LT(msg.size(), 1024 + p.string().size()) << msg.size();
  // The same column twice, its name huge.
  p = dir.write("twice.csv", "text," + huge + ",label," + huge + "\na,b,c,d\n");
  c = text_and_label();
  c.gold = huge;
  msg = read_error(p, c);
  EXPECT_THAT(msg, AllOf(HasSubstr("field 'gold_column'"), HasSubstr("appears more than once")));
  EXPECT_LT(msg.size(), 400 + p.string().size()) << msg.size();
  // A huge column name as a message's field, and a huge time cell.
  p = dir.write("t.csv", "text,label," + huge + "\na,x,5\nb,y,last tuesday" + huge + "\n");
  c = text_and_label();
  c.time = huge;
  msg = read_error(p, c);
  EXPECT_THAT(msg, AllOf(HasSubstr(p.string() + ":3:"), HasSubstr("field 'hhhh"),
                         HasSubstr("bad time value 'last tuesdayhhh"), HasSubstr("…")));
  EXPECT_LT(msg.size(), 400 + p.string().size()) << msg.size();
  p = dir.write("e.csv", "text," + huge + "\na,x\nb,\n");
  c = text_and_label();
  c.teacher = huge;
  msg = read_error(p, c);
  EXPECT_THAT(msg, AllOf(HasSubstr(p.string() + ":3:"), HasSubstr("empty teacher value")));
  EXPECT_LT(msg.size(), 400 + p.string().size()) << msg.size();
}

TEST(CsvReaderTest, EmptyFileAndHeaderOnly) {
  testing::TempDir dir;
  for (const std::string content : {"", "\xEF\xBB\xBF", "\n\r\n"}) {
    auto p = dir.write("empty.csv", content);
    EXPECT_THAT(read_error(p, text_and_label()),
                AllOf(HasSubstr("empty.csv"), HasSubstr("empty file")));
  }
  auto p = dir.write("header.csv", "text,label\n");
  EXPECT_THAT(read_error(p, text_and_label()),
              AllOf(HasSubstr("header.csv"), HasSubstr("no records")));
}

TEST(CsvReaderTest, NoAnswerRowsDropped) {
  testing::TempDir dir;
  auto p = dir.write("n.csv", "text,label,gold\na,1,1\nb,77,2\nc,3,\nd,77,4\ne,5,5\n");
  CsvColumns c = text_and_label();
  c.gold = "gold";
  c.no_answer = {"77"};
  Traces t = read_csv_traces(p, c);
  EXPECT_EQ(t.dropped_no_answer, 2u);
  EXPECT_THAT(t.texts, ElementsAre("a", "c", "e"));
  EXPECT_THAT(t.teacher, Not(::testing::Contains("77")));
  EXPECT_THAT(t.gold, ElementsAre("1", "", "5"));
  EXPECT_THAT(t.ids, ElementsAre("n.csv:2", "n.csv:4", "n.csv:6"));
}

TEST(CsvReaderTest, LargeFileIsRead) {
  testing::TempDir dir;
  std::string content = "text,label,gold\n";
  const std::size_t n = 100000;
  content.reserve(n * 48);
  for (std::size_t i = 0; i < n; ++i)
    content += "\"some text, number " + std::to_string(i) + "\"," + std::to_string(i % 77) + "," +
               std::to_string(i % 7) + "\n";
  auto p = dir.write("big.csv", content);
  CsvColumns c = text_and_label();
  c.gold = "gold";
  Traces t = read_csv_traces(p, c);
  ASSERT_EQ(t.size(), n);
  EXPECT_EQ(t.texts[n - 1], "some text, number 99999");
  EXPECT_EQ(t.ids[n - 1], "big.csv:100001");
  EXPECT_EQ(t.teacher[n - 1], std::to_string((n - 1) % 77));
}

TEST(CsvReaderTest, Banking77TestTraces) {
  REQUIRE_SHARED_FILE("banking77/llm_traces_test.csv");
  const auto path = testing::shared_data() / "banking77/llm_traces_test.csv";
  CsvColumns c;
  c.text = "text";
  c.teacher = "gpt-label";
  c.gold = "label";
  c.no_answer = {"77"};
  Traces t = read_csv_traces(path, c);
  EXPECT_EQ(t.size(), 3080u);
  EXPECT_EQ(t.dropped_no_answer, 0u);
  EXPECT_EQ(t.gold.size(), 3080u);
  EXPECT_EQ(t.texts[0], "How do I locate my card?");
  EXPECT_EQ(t.texts[1], "I still have not received my new card, I ordered over a week ago.");
  EXPECT_EQ(t.ids[0], "llm_traces_test.csv:2");

  c.teacher = "gpt4-label_nonrep";
  Traces t4 = read_csv_traces(path, c);
  EXPECT_EQ(t4.dropped_no_answer, 22u);
  EXPECT_EQ(t4.size(), 3058u);
  EXPECT_THAT(t4.teacher, Not(::testing::Contains("77")));
}

TEST(CsvReaderTest, Banking77DevTraces) {
  REQUIRE_SHARED_FILE("banking77/llm_traces_dev.csv");
  CsvColumns c;
  c.text = "text";
  c.teacher = "gpt-label";
  c.gold = "label";
  c.no_answer = {"77"};
  Traces t = read_csv_traces(testing::shared_data() / "banking77/llm_traces_dev.csv", c);
  EXPECT_EQ(t.size(), 1001u);
  EXPECT_EQ(t.dropped_no_answer, 0u);
}

TEST(CsvReaderTest, Banking77TrainMissingColumn) {
  REQUIRE_SHARED_FILE("banking77/train.csv");
  CsvColumns c;
  c.text = "text";
  c.teacher = "gpt-label";
  EXPECT_THAT(read_error(testing::shared_data() / "banking77/train.csv", c),
              AllOf(HasSubstr("train.csv"), HasSubstr("teacher_column"),
                    HasSubstr("the file has the columns: text, category")));
}

}  // namespace
}  // namespace deferbench
