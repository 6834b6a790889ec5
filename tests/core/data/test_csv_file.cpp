// The general CSV reader (libcsv) and the CSV writing helpers: quoting round-trips, line numbers.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/data/csv_reader.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

TEST(CsvFile, QuotedFieldsRoundTripThroughTheReader) {
  const std::vector<std::string> hostile = {"plain",      "",         "a,b",        "say \"hi\"",
                                            "two\nlines", "cr\r\nlf", "  spaces  ", "\"",
                                            ",,",         "é|<x>"};
  std::string text = "name,value\n";
  for (std::size_t i = 0; i < hostile.size(); ++i)
    text += csv_field(hostile[i]) + "," + csv_field(std::to_string(i)) + "\n";
  testing::TempDir dir;
  const CsvFile csv = read_csv_file(dir.write("t.csv", text));
  EXPECT_EQ(csv.header, (std::vector<std::string>{"name", "value"}));
  ASSERT_EQ(csv.records.size(), hostile.size());
  std::size_t line = 2;
  for (std::size_t i = 0; i < hostile.size(); ++i) {
    ASSERT_EQ(csv.records[i].fields.size(), 2u) << i;
    EXPECT_EQ(csv.records[i].fields[0], hostile[i]) << i;
    EXPECT_EQ(csv.records[i].fields[1], std::to_string(i));
    EXPECT_EQ(csv.records[i].line, line) << i;  // the line the record starts on
    for (char c : hostile[i]) line += c == '\n';
    ++line;
  }
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("plain"), "plain");
}

TEST(CsvFile, LineNumbersAndErrors) {
  const CsvFile csv = parse_csv("\xEF\xBB\xBFh1,h2\r\n\r\n1,2\r\n\"x\ny\",3\n4\n", "mem.csv");
  EXPECT_EQ(csv.header, (std::vector<std::string>{"h1", "h2"}));
  ASSERT_EQ(csv.records.size(), 3u);
  EXPECT_EQ(csv.records[0].line, 3u);  // a blank line is skipped, not a record
  EXPECT_EQ(csv.records[1].line, 4u);
  EXPECT_EQ(csv.records[1].fields[0], "x\ny");
  EXPECT_EQ(csv.records[2].line, 6u);
  EXPECT_EQ(csv.records[2].fields.size(), 1u);  // field counts are the caller's to check
  EXPECT_TRUE(parse_csv("", "empty.csv").header.empty());

  const std::string bad = testing::error_of([] { parse_csv("a,b\n1,x\"y\"\n", "bad.csv"); });
  EXPECT_NE(bad.find("bad.csv:2:"), std::string::npos) << bad;
  EXPECT_NE(bad.find("quote out of place"), std::string::npos) << bad;
  const std::string open =
      testing::error_of([] { parse_csv("a,b\n1,2\n3,\"never\nclosed\n", "open.csv"); });
  EXPECT_NE(open.find("open.csv:3:"), std::string::npos) << open;
  EXPECT_NE(open.find("unterminated"), std::string::npos) << open;
}

TEST(CsvFile, NumbersReadBackExactlyOrToTheAskedDigits) {
  for (double x : {0.1 + 0.2, 1.0 / 3, 1e-300, 0.8, 123456789.0}) {
    const std::string s = format_csv_number(x);
    EXPECT_EQ(std::stod(s), x) << s;
  }
  EXPECT_EQ(format_csv_number(0.8), "0.8");
  EXPECT_EQ(format_csv_number(1.0 / 3, 6), "0.333333");
  EXPECT_EQ(format_csv_number(std::numeric_limits<double>::quiet_NaN()), "");
}

}  // namespace
}  // namespace deferbench
