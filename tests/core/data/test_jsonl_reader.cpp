#include "core/data/jsonl_reader.h"

#include <cmath>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/data/npy.h"
#include "core/util/error.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A matrix whose row i is (i, 10 + i): each row says which line it came from.
Matrix numbered_rows(std::size_t rows) {
  Matrix m(rows, 2);
  for (std::size_t i = 0; i < rows; ++i) {
    m(i, 0) = static_cast<float>(i);
    m(i, 1) = static_cast<float>(10 + i);
  }
  return m;
}

std::string read_error(const std::filesystem::path& p, const JsonlOptions& options = {}) {
  try {
    read_jsonl_traces(p, options);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "reading " << p << " did not throw";
  return "";
}

TEST(JsonlReaderTest, AllFieldsAndBlankLines) {
  testing::TempDir dir;
  auto p = dir.write(
      "traces.jsonl",
      "{\"id\": \"a\", \"input\": \"hello\", \"teacher\": \"pos\", \"ground_truth\": \"pos\", "
      "\"metadata\": {\"timestamp\": 100, \"slice\": \"web\"}}\n"
      "\n"
      "   \r\n"
      "{\"id\": 7, \"input\": \"bye\", \"teacher\": 3, \"ground_truth\": 4, "
      "\"metadata\": {\"timestamp\": \"1970-01-02\"}}\r\n"
      "{\"input\": \"\", \"teacher\": \"neg\", \"ground_truth\": null, \"metadata\": {}}\n"
      "{\"input\": \"x\", \"teacher\": \"neg\"}");  // no final newline
  Traces t = read_jsonl_traces(p, {});
  EXPECT_EQ(t.source, p.string());
  ASSERT_EQ(t.size(), 4u);
  EXPECT_THAT(t.texts, ElementsAre("hello", "bye", "", "x"));
  EXPECT_THAT(t.teacher, ElementsAre("pos", "3", "neg", "neg"));
  EXPECT_THAT(t.gold, ElementsAre("pos", "4", "", ""));
  // Physical line numbers: the blank lines 2 and 3 count.
  EXPECT_THAT(t.ids, ElementsAre("a", "7", "traces.jsonl:5", "traces.jsonl:6"));
  ASSERT_EQ(t.times.size(), 4u);
  EXPECT_EQ(t.times[0], 100.0);
  EXPECT_EQ(t.times[1], 86400.0);
  EXPECT_TRUE(std::isnan(t.times[2]));
  EXPECT_TRUE(std::isnan(t.times[3]));
  EXPECT_THAT(t.slices, ElementsAre("web", "", "", ""));
  EXPECT_FALSE(t.has_embeddings());
  EXPECT_EQ(t.dropped_no_answer, 0u);
}

TEST(JsonlReaderTest, OptionalColumnsStayEmptyWhenNoRowHasThem) {
  testing::TempDir dir;
  auto p = dir.write("t.jsonl",
                     "{\"input\": \"a\", \"teacher\": \"x\", \"ground_truth\": null}\n"
                     "{\"input\": \"b\", \"teacher\": \"y\", \"metadata\": {\"other\": 1}}\n");
  Traces t = read_jsonl_traces(p, {});
  EXPECT_EQ(t.size(), 2u);
  EXPECT_TRUE(t.gold.empty());
  EXPECT_TRUE(t.times.empty());
  EXPECT_TRUE(t.slices.empty());
}

TEST(JsonlReaderTest, CustomMetadataKeys) {
  testing::TempDir dir;
  auto p =
      dir.write("t.jsonl",
                "{\"input\": \"a\", \"teacher\": \"x\", \"metadata\": "
                "{\"ts\": \"2024-03-01T12:30:00Z\", \"domain\": \"news\", \"slice\": \"no\"}}\n");
  JsonlOptions o;
  o.time_key = "ts";
  o.slice_key = "domain";
  Traces t = read_jsonl_traces(p, o);
  EXPECT_THAT(t.times, ElementsAre(1709296200.0));
  EXPECT_THAT(t.slices, ElementsAre("news"));
}

// Metadata fields named for the audit's slices: strings, numbers and booleans as text, "" where
// absent or null; an object is an error naming the line and the key.
TEST(JsonlReaderTest, MetadataFieldsForSlices) {
  testing::TempDir dir;
  auto p = dir.write("t.jsonl",
                     "{\"input\": \"a\", \"teacher\": \"x\", \"metadata\": {\"domain\": "
                     "\"news\", \"len\": 3, \"vip\": true}}\n"
                     "{\"input\": \"b\", \"teacher\": \"y\"}\n"
                     "{\"input\": \"c\", \"teacher\": \"y\", \"metadata\": {\"domain\": null, "
                     "\"len\": 2.5}}\n");
  JsonlOptions o;
  o.field_keys = {"domain", "len", "vip"};
  Traces t = read_jsonl_traces(p, o);
  ASSERT_EQ(t.fields.size(), 3u);
  EXPECT_THAT(t.fields["domain"], ElementsAre("news", "", ""));
  EXPECT_THAT(t.fields["len"], ElementsAre("3", "", "2.5"));
  EXPECT_THAT(t.fields["vip"], ElementsAre("true", "", ""));
  auto bad = dir.write("bad.jsonl",
                       "{\"input\": \"a\", \"teacher\": \"x\", \"metadata\": {\"domain\": {}}}\n");
  EXPECT_THAT([&] { read_jsonl_traces(bad, o); },
              ::testing::ThrowsMessage<Error>(
                  ::testing::HasSubstr("bad.jsonl:1: field 'metadata.domain'")));
}

TEST(JsonlReaderTest, EmbeddingsBesideTheFile) {
  testing::TempDir dir;
  auto p = dir.write("run.jsonl",
                     "{\"input\": \"a\", \"teacher\": \"x\"}\n\n"
                     "{\"input\": \"b\", \"teacher\": \"y\"}\n"
                     "{\"input\": \"c\", \"teacher\": \"z\"}\n");
  write_npy(dir / "run.npy", numbered_rows(3));
  Traces t = read_jsonl_traces(p, {});
  ASSERT_TRUE(t.has_embeddings());
  EXPECT_EQ(t.embeddings.rows(), 3u);
  EXPECT_EQ(t.embeddings.values(), numbered_rows(3).values());
}

TEST(JsonlReaderTest, EmbeddingsFromExplicitPath) {
  testing::TempDir dir;
  auto p = dir.write("run.jsonl",
                     "{\"input\": \"a\", \"teacher\": \"x\"}\n"
                     "{\"input\": \"b\", \"teacher\": \"y\"}\n");
  write_npy(dir / "run.npy", numbered_rows(5));  // ignored: the explicit path wins
  write_npy(dir / "other" / "emb.npy", numbered_rows(2));
  JsonlOptions o;
  o.embeddings = dir / "other" / "emb.npy";
  Traces t = read_jsonl_traces(p, o);
  EXPECT_EQ(t.embeddings.values(), numbered_rows(2).values());
}

TEST(JsonlReaderTest, RequiredEmbeddingsMissing) {
  testing::TempDir dir;
  auto p = dir.write("run.jsonl", "{\"input\": \"a\", \"teacher\": \"x\"}\n");
  JsonlOptions o;
  o.require_embeddings = true;
  EXPECT_THAT(read_error(p, o), AllOf(HasSubstr("run.jsonl"), HasSubstr("embeddings are required"),
                                      HasSubstr("run.npy")));
  o.require_embeddings = false;
  o.embeddings = dir / "missing.npy";
  EXPECT_THAT(read_error(p, o), AllOf(HasSubstr("missing.npy"), HasSubstr("not found")));
}

TEST(JsonlReaderTest, EmbeddingRowCountMismatch) {
  testing::TempDir dir;
  auto p = dir.write("run.jsonl",
                     "{\"input\": \"a\", \"teacher\": \"x\"}\n"
                     "\n"
                     "{\"input\": \"b\", \"teacher\": \"y\"}\n");
  write_npy(dir / "run.npy", numbered_rows(3));
  EXPECT_THAT(read_error(p), AllOf(HasSubstr("run.npy"), HasSubstr("has 3 rows"),
                                   HasSubstr("run.jsonl"), HasSubstr("has 2 traces")));
}

TEST(JsonlReaderTest, NoAnswerDropsRowsAndEmbeddingRows) {
  testing::TempDir dir;
  auto p = dir.write("run.jsonl",
                     "{\"input\": \"a\", \"teacher\": \"x\"}\n"
                     "{\"input\": \"b\", \"teacher\": 77}\n"
                     "\n"
                     "{\"input\": \"c\", \"teacher\": \"y\"}\n"
                     "{\"input\": \"d\", \"teacher\": \"UNKNOWN\"}\n"
                     "{\"input\": \"e\", \"teacher\": \"z\"}\n");
  write_npy(dir / "run.npy", numbered_rows(5));
  JsonlOptions o;
  o.no_answer = {"77", "UNKNOWN"};
  Traces t = read_jsonl_traces(p, o);
  EXPECT_EQ(t.dropped_no_answer, 2u);
  EXPECT_THAT(t.texts, ElementsAre("a", "c", "e"));
  EXPECT_THAT(t.ids, ElementsAre("run.jsonl:1", "run.jsonl:4", "run.jsonl:6"));
  ASSERT_EQ(t.embeddings.rows(), 3u);
  EXPECT_EQ(t.embeddings(0, 0), 0.0f);
  EXPECT_EQ(t.embeddings(1, 0), 2.0f);  // the third non-blank line
  EXPECT_EQ(t.embeddings(2, 0), 4.0f);
  EXPECT_EQ(t.embeddings(2, 1), 14.0f);
}

struct BadLine {
  std::string line;
  std::string field;      // expected in "field '...'" ("" = none)
  std::string substring;  // expected in the message
};

TEST(JsonlReaderTest, ErrorsNameFileLineAndField) {
  const std::string good = "{\"input\": \"ok\", \"teacher\": \"x\"}\n";
  const std::vector<BadLine> cases = {
      {"{\"input\": \"a\", \"teacher\": ", "", "malformed JSON"},
      {"{\"input\": \"a\" \"teacher\": \"x\"}", "", "malformed JSON: column"},
      {"[1, 2]", "", "expected a JSON object, got a list"},
      {"\"just a string\"", "", "expected a JSON object, got a string"},
      {"{\"teacher\": \"x\"}", "input", "missing"},
      {"{\"input\": 3, \"teacher\": \"x\"}", "input", "expected a string, got an integer 3"},
      {"{\"input\": \"a\"}", "teacher", "missing"},
      {"{\"input\": \"a\", \"teacher\": [\"x\"]}", "teacher", "got a list"},
      {"{\"input\": \"a\", \"teacher\": 3.5}", "teacher", "got a float 3.5"},
      {"{\"input\": \"a\", \"teacher\": null}", "teacher", "got null"},
      {"{\"input\": \"a\", \"teacher\": true}", "teacher", "got a boolean true"},
      {"{\"input\": \"a\", \"teacher\": {}}", "teacher", "got an object"},
      {"{\"input\": \"a\", \"teacher\": \"x\", \"ground_truth\": [1]}", "ground_truth",
       "expected a string, an integer or null, got a list"},
      {"{\"input\": \"a\", \"teacher\": \"x\", \"ground_truth\": 1.5}", "ground_truth",
       "got a float 1.5"},
      {"{\"input\": \"a\", \"teacher\": \"x\", \"id\": [1]}", "id", "got a list"},
      {"{\"input\": \"a\", \"teacher\": \"x\", \"metadata\": \"m\"}", "metadata",
       "expected an object, got a string"},
      {"{\"input\": \"a\", \"teacher\": \"x\", \"metadata\": {\"timestamp\": \"yesterday\"}}",
       "metadata.timestamp", "bad time value \"yesterday\""},
      {"{\"input\": \"a\", \"teacher\": \"x\", \"metadata\": {\"timestamp\": \"2024-02-30\"}}",
       "metadata.timestamp", "bad time value"},
      {"{\"input\": \"a\", \"teacher\": \"x\", \"metadata\": {\"timestamp\": [1]}}",
       "metadata.timestamp", "bad time value"},
      {"{\"input\": \"a\", \"teacher\": \"x\", \"metadata\": {\"slice\": [1]}}", "metadata.slice",
       "got a list"},
  };
  testing::TempDir dir;
  for (const BadLine& c : cases) {
    SCOPED_TRACE(c.line);
    // Line 1 good, line 2 blank, line 3 bad: the message names physical line 3.
    auto p = dir.write("bad.jsonl", good + "\n" + c.line + "\n" + good);
    const std::string msg = read_error(p);
    EXPECT_THAT(msg, HasSubstr(p.string() + ":3: "));
    if (!c.field.empty()) {
      EXPECT_THAT(msg, HasSubstr("field '" + c.field + "'"));
    }
    EXPECT_THAT(msg, HasSubstr(c.substring));
    EXPECT_EQ(msg.find('\n'), std::string::npos);
  }
}

TEST(JsonlReaderTest, ErrorEmptyFile) {
  testing::TempDir dir;
  for (const std::string content : {"", "\n\n  \n"}) {
    auto p = dir.write("empty.jsonl", content);
    EXPECT_THAT(read_error(p), AllOf(HasSubstr("empty.jsonl"), HasSubstr("empty file")));
  }
  EXPECT_THAT(read_error(dir / "absent.jsonl"),
              AllOf(HasSubstr("absent.jsonl"), HasSubstr("not found")));
}

TEST(JsonlIso8601Test, HandComputedEpochSeconds) {
  struct Case {
    const char* text;
    double seconds;
  };
  const Case cases[] = {
      {"1970-01-01", 0},
      {"1970-01-02", 86400},
      {"2024-03-01T12:30:00Z", 1709296200},
      {"2024-03-01 12:30:00", 1709296200},
      {"2024-03-01t12:30:00z", 1709296200},
      {"2024-03-01T12:30", 1709296200},
      {"2024-03-01T14:30:00+02:00", 1709296200},
      {"2024-03-01T10:30:00-0200", 1709296200},
      {"2024-03-01T14:30:00+02", 1709296200},
      {"2024-03-01T12:30:00.25Z", 1709296200.25},
      {"2000-02-29T00:00:00Z", 951782400},  // leap day (divisible by 400)
      {"1969-12-31T23:59:59Z", -1},
      {"2024-03-01T24:00:00Z", 1709337600},  // end of day = next midnight
  };
  for (const Case& c : cases) {
    double s = -12345;
    EXPECT_TRUE(parse_iso8601(c.text, s)) << c.text;
    EXPECT_DOUBLE_EQ(s, c.seconds) << c.text;
  }
}

TEST(JsonlIso8601Test, RejectsNonTimes) {
  for (const char* text :
       {"", "2024", "2024-3-1", "2024-13-01", "2023-02-29", "2024-03-00", "2024-03-01T25:00:00",
        "2024-03-01T12:60", "2024-03-01T12:30:00+", "2024-03-01T12:30:00 UTC",
        "2024-03-01T12:30:00.Z", "yesterday", "1709296200", "2024-03-01T", " 2024-03-01"}) {
    double s = 0;
    EXPECT_FALSE(parse_iso8601(text, s)) << text;
  }
}

// ---- hostile input (what the fuzzer of tests/fuzz/ checks, kept as regression tests) ----

TEST(ErrorExcerpt, CapsQuotedInputAtACharacterBoundary) {
  EXPECT_EQ(excerpt("short"), "short");
  EXPECT_EQ(excerpt(std::string(80, 'a')), std::string(80, 'a'));  // exactly the cap: kept
  EXPECT_EQ(excerpt(std::string(81, 'a')), std::string(80, 'a') + "…");
  EXPECT_EQ(excerpt("two\nlines\r"), "two lines ");
  // "é" is two bytes (C3 A9): a cut after the C3 backs off to before it.
  EXPECT_EQ(excerpt("abcé", 4), "abc…");
  EXPECT_EQ(excerpt("abcé", 5), "abcé");
}

TEST(JsonlReaderTest, HugeMalformedLineGivesAShortErrorNamingFileAndLine) {
  testing::TempDir dir;
  // Line 2 is a 5 MB string that never ends: the parser's message quotes it ("last read").
  auto p = dir.write("big.jsonl", "{\"input\": \"a\", \"teacher\": \"x\"}\n{\"input\": \"" +
                                      std::string(5u << 20, 'z') + "\n");
  const std::string message = read_error(p);
  EXPECT_LT(message.size(), 300u) << message.substr(0, 1000);
  EXPECT_THAT(message, AllOf(HasSubstr(p.string() + ":2:"), HasSubstr("malformed JSON"),
                             HasSubstr("last read"), HasSubstr("…")));
}

TEST(JsonlReaderTest, QuotedTokenThatLooksLikeTheMessageStaysShort) {
  // Found by tests/fuzz/fuzz_jsonl: a token holding "'; expected " and a control character
  // made the message's tail (taken as what follows the token) input-sized.
  testing::TempDir dir;
  auto p = dir.write("t.jsonl", "{\"input\": \"((((1234=67" + std::string(2000, '$') +
                                    "'; expected " + std::string(2000, '$') + "\x1b<<\n");
  const std::string message = read_error(p);
  EXPECT_LT(message.size(), 300u + p.string().size()) << message.substr(0, 1000);
  EXPECT_THAT(message,
              AllOf(HasSubstr(p.string() + ":1:"), HasSubstr("control character"), HasSubstr("…")));
}

TEST(JsonlReaderTest, HugeBadTimeValueIsQuotedShort) {
  testing::TempDir dir;
  auto p = dir.write("t.jsonl",
                     "{\"input\": \"a\", \"teacher\": \"x\", \"metadata\": "
                     "{\"timestamp\": \"" +
                         std::string(5u << 20, '9') + "x\"}}\n");
  const std::string message = read_error(p);
  EXPECT_LT(message.size(), 300u + p.string().size()) << message.substr(0, 1000);
  EXPECT_THAT(message, AllOf(HasSubstr(p.string() + ":1:"), HasSubstr("metadata.timestamp"),
                             HasSubstr("bad time value \"999"), HasSubstr("…")));
  // A list is described, not dumped.
  p = dir.write("l.jsonl",
                "{\"input\": \"a\", \"teacher\": \"x\", \"metadata\": "
                "{\"timestamp\": [[[1, 2]]]}}\n");
  EXPECT_THAT(read_error(p), HasSubstr("bad time value a list"));
}

TEST(JsonlReaderTest, NumberOverflowIsAnErrorNotAJsonException) {
  // nlohmann's parser throws out_of_range (not parse_error) for a number beyond a double: it
  // escaped the reader as a foreign exception (found by tests/fuzz/fuzz_jsonl).
  testing::TempDir dir;
  auto p = dir.write("n.jsonl",
                     "{\"input\": \"a\", \"teacher\": \"x\"}\n"
                     "{\"input\": \"b\", \"teacher\": \"x\", \"id\": 1e999}\n");
  EXPECT_THAT(read_error(p), AllOf(HasSubstr(p.string() + ":2:"), HasSubstr("malformed JSON"),
                                   HasSubstr("number overflow")));
}

}  // namespace
}  // namespace deferbench
