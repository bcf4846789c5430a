// The commands' one table printer (orchestrator/cli/table.h).
#include "orchestrator/cli/table.h"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

namespace perflaw::orchestrator {
namespace {

using nlohmann::json;

Table Sample() {
  return {
      {"id", "value", "note"},
      {{json("a"), json(0.123456789), json(nullptr)}, {json("bb"), json(42), json("x, \"y\"")}}};
}

std::string Print(const Table& t, const std::string& format) {
  std::ostringstream out;
  PrintTable(t, format, out);
  return out.str();
}

TEST(TableTest, TextAlignsColumnsAndCountsRows) {
  EXPECT_EQ(Print(Sample(), "table"),
            "id  value     note\n"
            "a   0.123457\n"
            "bb  42        x, \"y\"\n"
            "(2 rows)\n");
  EXPECT_EQ(Print({{"n"}, {{json(1)}}}, "table"), "n\n1\n(1 row)\n");
}

TEST(TableTest, TextWidthIsColumnsAndGaps) {
  EXPECT_EQ(TextWidth(Sample()), std::string("bb  42        x, \"y\"").size());
}

TEST(TableTest, CsvIsExactAndQuoted) {
  EXPECT_EQ(Print(Sample(), "csv"),
            "id,value,note\n"
            "a,0.123456789,\n"
            "bb,42,\"x, \"\"y\"\"\"\n");
}

TEST(TableTest, JsonIsAnArrayOfObjects) {
  const json rows = json::parse(Print(Sample(), "json"));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["id"], "a");
  EXPECT_TRUE(rows[0]["note"].is_null());
  EXPECT_EQ(rows[1]["value"], 42);
}

TEST(TableTest, AlignedTextAndCsvLine) {
  EXPECT_EQ(AlignedText({{"L", "apen"}, {"all", "1.5"}, {"30", "0.25"}}),
            "L    apen\nall  1.5\n30   0.25\n");
  EXPECT_EQ(CsvLine({"a", "b,c", "d\re"}), "a,\"b,c\",\"d\re\"\n");
  EXPECT_EQ(CsvLine({"a", "d\re"}, ",\"\n"), "a,d\re\n");
}

TEST(TableTest, CellText) {
  EXPECT_EQ(CellText(json(nullptr), false), "");
  EXPECT_EQ(CellText(json(2.0 / 3), false), "0.666667");
  EXPECT_EQ(CellText(json(2.0 / 3), true), json(2.0 / 3).dump());
  EXPECT_EQ(CellText(json(7), false), "7");
}

TEST(JsonNumberTest, NullForNonFinite) {
  EXPECT_EQ(JsonNumber(1.5), json(1.5));
  EXPECT_TRUE(JsonNumber(NAN).is_null());
  EXPECT_TRUE(JsonNumber(-INFINITY).is_null());
}

}  // namespace
}  // namespace perflaw::orchestrator
