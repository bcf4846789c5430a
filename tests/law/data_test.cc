// CSV input, row filters and grouping.
#include "law/data.h"

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace perflaw::law {
namespace {

using perflaw::testing::TempDir;

const char kHeader[] = "dataset,max_seq_len,layers,d_model,metric,value\n";

StatusOr<std::vector<Observation>> Read(const TempDir& dir, const std::string& text) {
  dir.Write("in.csv", text);
  return ReadCsv(dir.File("in.csv"));
}

TEST(DataTest, ReadsColumnsInAnyOrderWithOptionalOnes) {
  TempDir dir;
  auto rows = Read(dir,
                   "value,metric,d_model,layers,max_seq_len,dataset,tokens,apen,extra\n"
                   "0.5,HR@10,64,4,50,ml-1m,1000,1.5,x\n"
                   "0.25,NDCG@10,32,8,100,ml-1m,,,y\n");
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].dataset, "ml-1m");
  EXPECT_EQ((*rows)[0].layers, 4);
  EXPECT_EQ((*rows)[0].d_model, 64);
  EXPECT_EQ((*rows)[0].tokens, 1000);
  EXPECT_EQ((*rows)[0].apen, 1.5);
  EXPECT_TRUE(std::isnan((*rows)[1].tokens));
  EXPECT_EQ((*rows)[1].origin, dir.File("in.csv") + ":3");
}

struct BadCase {
  std::string body;
  std::string expect;  // substring of the error
};

TEST(DataTest, RejectsBadInputWithFileAndLine) {
  TempDir dir;
  const std::vector<BadCase> cases = {
      {"dataset,layers,d_model,metric,value\nx,4,64,HR,0.5\n", ":1: missing column 'max_seq_len'"},
      {std::string(kHeader) + "x,50,four,64,HR,0.5\n",
       ":2: column 'layers' is not a finite number"},
      {std::string(kHeader) + "x,50,4,64,HR,0.5\nx,50,0,64,HR,0.5\n",
       ":3: column 'layers' must be > 0"},
      {std::string(kHeader) + "x,50,4,-8,HR,0.5\n", ":2: column 'd_model' must be > 0"},
      {std::string(kHeader) + "x,50,4,64,HR,nan\n", ":2: column 'value' is not a finite number"},
      {std::string(kHeader) + "x,50,4,64,HR,\n", ":2: column 'value' is not a finite number"},
      {std::string(kHeader) + "x,50,4,64,HR\n", ":2: expected 6 cells, got 5"},
      {std::string(kHeader), "no data rows"},
  };
  for (const BadCase& c : cases) {
    auto rows = Read(dir, c.body);
    ASSERT_FALSE(rows.ok()) << c.body;
    EXPECT_EQ(rows.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(rows.status().message().find(c.expect), std::string::npos) << rows.status().message();
    EXPECT_EQ(rows.status().message().find('\n'), std::string::npos);
  }
  auto missing = ReadCsv(dir.File("absent.csv"));
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
}

TEST(DataTest, WriteThenReadRoundTrips) {
  TempDir dir;
  Observation o;
  o.dataset = "d";
  o.max_seq_len = 50;
  o.layers = 8;
  o.d_model = 25;
  o.metric = "HR@10";
  o.value = 0.123456789012345;
  ASSERT_TRUE(WriteCsv(dir.File("o.csv"), {o}).ok());
  auto rows = ReadCsv(dir.File("o.csv"));
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ((*rows)[0].value, o.value);
  EXPECT_TRUE(std::isnan((*rows)[0].apen));
}

TEST(DataTest, RowFilter) {
  Observation o;
  o.layers = 16;
  o.d_model = 50;
  o.dataset = "ml-1m";
  auto f = RowFilter::Parse("layers<=16");
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->Matches(o));
  o.layers = 24;
  EXPECT_FALSE(f->Matches(o));
  auto g = RowFilter::Parse(" layers > 8 && d_model != 25 && dataset == ml-1m ");
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_TRUE(g->Matches(o));
  o.dataset = "other";
  EXPECT_FALSE(g->Matches(o));
  for (const char* bad :
       {"layers", "layers<=", "depth<4", "layers<=x", "dataset<x", "layers=4", "<=4"}) {
    auto b = RowFilter::Parse(bad);
    EXPECT_FALSE(b.ok()) << bad;
    EXPECT_EQ(b.status().code(), Status::Code::kInvalidArgument);
  }
}

TEST(DataTest, GroupingAlwaysKeysOnMetric) {
  std::vector<Observation> rows(4);
  rows[0].metric = rows[1].metric = "HR@10";
  rows[2].metric = rows[3].metric = "NDCG@10";
  rows[0].max_seq_len = rows[2].max_seq_len = 50;
  rows[1].max_seq_len = rows[3].max_seq_len = 100;
  auto by = GroupBy::Parse("max_seq_len");
  ASSERT_TRUE(by.ok());
  auto groups = GroupRows(rows, *by);
  EXPECT_EQ(groups.size(), 4u);
  groups = GroupRows(rows, *GroupBy::Parse("none"));
  EXPECT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups.begin()->first.Label(), "metric=HR@10");
  EXPECT_FALSE(GroupBy::Parse("dataset,layers").ok());
}

}  // namespace
}  // namespace perflaw::law
