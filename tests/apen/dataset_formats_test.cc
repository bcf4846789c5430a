// Readers and preprocessing on small hand-written files, one per format and option.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "apen/dataset.h"
#include "tests/test_util.h"

namespace perflaw::apen {
namespace {

using perflaw::testing::TempDir;
using Seqs = std::vector<std::vector<uint32_t>>;

Seqs ToVectors(const Sequences& s) {
  Seqs out;
  for (size_t u = 0; u < s.num_users(); ++u) {
    ItemSpan x = s.user(u);
    out.emplace_back(x.begin(), x.end());
  }
  return out;
}

// Writes `content` to a temp file and loads it without the cache.
class LoadTest : public ::testing::Test {
 protected:
  StatusOr<Dataset> Load(const std::string& name, const std::string& content,
                         DataOptions o = DataOptions()) {
    dir_.Write(name, content);
    o.path = dir_.File(name);
    return LoadDataset(o, CacheOptions{false, ""});
  }
  Dataset MustLoad(const std::string& name, const std::string& content,
                   DataOptions o = DataOptions()) {
    StatusOr<Dataset> d = Load(name, content, o);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? std::move(d).value() : Dataset{};
  }
  // The error message of a load that must fail with a user error.
  std::string LoadError(const std::string& name, const std::string& content,
                        DataOptions o = DataOptions()) {
    StatusOr<Dataset> d = Load(name, content, o);
    EXPECT_FALSE(d.ok());
    EXPECT_TRUE(d.status().IsUserError()) << d.status().ToString();
    return d.status().message();
  }
  TempDir dir_;
};

TEST(FormatTest, NamesRoundTrip) {
  for (const char* name : {"auto", "sasrec", "atomic", "movielens", "csv", "binary"}) {
    std::optional<Format> f = ParseFormat(name);
    ASSERT_TRUE(f.has_value()) << name;
    EXPECT_STREQ(FormatName(*f), name);
  }
  EXPECT_FALSE(ParseFormat("parquet").has_value());
}

TEST_F(LoadTest, SasrecKeepsFileOrderAndReindexesNumerically) {
  Dataset d = MustLoad("s.txt", "3 10\n1 5\n1 7\n3 2\n2 5\n\n");
  EXPECT_EQ(d.num_items, 4u);  // raw 2, 5, 7, 10 -> 1..4
  EXPECT_EQ(ToVectors(d.sequences), (Seqs{{2, 3}, {2}, {4, 1}}));
  EXPECT_EQ(d.user_ids, (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(d.item_ids, (std::vector<std::string>{"2", "5", "7", "10"}));
  EXPECT_NE(d.options.find("format=sasrec"), std::string::npos) << d.options;
}

TEST_F(LoadTest, AtomicSortsByTimeWithTiesInFileOrder) {
  const std::string file =
      "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
      "u\ta\t5\t100\n"
      "u\tb\t3\t50\n"
      "u\tc\t4\t100\n"
      "v\ta\t1\t10\n";
  Dataset d = MustLoad("x.inter", file);
  EXPECT_EQ(d.user_ids, (std::vector<std::string>{"u", "v"}));
  EXPECT_EQ(d.item_ids, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(ToVectors(d.sequences), (Seqs{{2, 1, 3}, {1}}));

  DataOptions o;
  o.min_rating = 4;  // keeps u:a and u:c; v disappears
  Dataset f = MustLoad("x.inter", file, o);
  EXPECT_EQ(f.user_ids, (std::vector<std::string>{"u"}));
  EXPECT_EQ(f.item_ids, (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(ToVectors(f.sequences), (Seqs{{1, 2}}));
}

TEST_F(LoadTest, MovieLensRatingsDat) {
  Dataset d = MustLoad("ratings.dat", "1::10::5::300\n1::20::3::100\n2::10::4::200\n");
  EXPECT_EQ(ToVectors(d.sequences), (Seqs{{2, 1}, {1}}));
  DataOptions o;
  o.min_rating = 4;
  o.format = Format::kMovieLens;
  Dataset f = MustLoad("ratings.dat", "1::10::5::300\n1::20::3::100\n2::10::4::200\n", o);
  EXPECT_EQ(ToVectors(f.sequences), (Seqs{{1}, {1}}));
}

TEST_F(LoadTest, CsvWithNamedColumnsInAnyOrder) {
  DataOptions o;
  o.user_column = "user";
  o.item_column = "movie";
  o.time_column = "ts";
  Dataset d = MustLoad("x.csv",
                       "ts,movie,note,user\n"
                       "30,\"m2\",x,7\n"
                       "10,m1,y,7\n"
                       "20,m3,z,12\n",
                       o);
  EXPECT_EQ(d.user_ids, (std::vector<std::string>{"7", "12"}));  // numeric order
  EXPECT_EQ(d.item_ids, (std::vector<std::string>{"m1", "m2", "m3"}));
  EXPECT_EQ(ToVectors(d.sequences), (Seqs{{1, 2}, {3}}));
}

TEST_F(LoadTest, TsvDetectedFromHeaderAndFileOrderWithoutTimeColumn) {
  DataOptions o;
  o.time_column = "";
  Dataset d = MustLoad("x.tsv", "user_id\titem_id\nb\t9\nb\t10\na\t100\n", o);
  EXPECT_EQ(d.user_ids, (std::vector<std::string>{"a", "b"}));          // lexicographic
  EXPECT_EQ(d.item_ids, (std::vector<std::string>{"9", "10", "100"}));  // numeric
  EXPECT_EQ(ToVectors(d.sequences), (Seqs{{3}, {1, 2}}));
}

TEST_F(LoadTest, CsvWithByteOrderMarkAndCrlf) {
  Dataset d = MustLoad("bom.csv", "\xEF\xBB\xBFuser_id,item_id,timestamp\r\n1,5,2\r\n1,6,1\r\n");
  EXPECT_EQ(ToVectors(d.sequences), (Seqs{{2, 1}}));
}

TEST_F(LoadTest, MixedIdsSortLexicographically) {
  DataOptions o;
  o.time_column = "";
  o.delimiter = ";";
  Dataset d = MustLoad("x.csv", "user_id;item_id\n1;a\n1;10\n1;9\n", o);
  EXPECT_EQ(d.item_ids, (std::vector<std::string>{"10", "9", "a"}));
  EXPECT_EQ(ToVectors(d.sequences), (Seqs{{3, 1, 2}}));
}

TEST_F(LoadTest, DropRepeatsCollapsesRunsOnly) {
  DataOptions o;
  o.drop_repeats = true;
  Dataset d = MustLoad("s.txt", "1 5\n1 5\n1 6\n1 5\n1 5\n2 6\n2 6\n", o);
  EXPECT_EQ(ToVectors(d.sequences), (Seqs{{1, 2, 1}, {2}}));
  Dataset keep = MustLoad("s.txt", "1 5\n1 5\n1 6\n1 5\n1 5\n2 6\n2 6\n");
  EXPECT_EQ(keep.num_interactions(), 7u);
}

TEST_F(LoadTest, KCoreIteratesToAFixedPoint) {
  DataOptions o;
  o.k_core = 2;
  // Pass 1 drops items 5 and 6 (once each), so user 5 = [4] is too short; pass 2 drops item 4,
  // so user 4 = [3] goes; pass 3 drops item 3 from user 3. Only items 1 and 2 remain.
  Dataset d = MustLoad("s.txt",
                       "1 1\n1 2\n1 5\n"
                       "2 1\n2 2\n"
                       "3 1\n3 2\n3 3\n"
                       "4 3\n4 4\n"
                       "5 4\n5 6\n",
                       o);
  EXPECT_EQ(d.user_ids, (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(d.item_ids, (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(ToVectors(d.sequences), (Seqs{{1, 2}, {1, 2}, {1, 2}}));
}

TEST_F(LoadTest, KCoreHoldsOnRandomData) {
  std::string file;
  uint64_t x = 12345;
  for (int r = 0; r < 3000; ++r) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    file += std::to_string((x >> 33) % 200) + " " + std::to_string((x >> 20) % 300) + "\n";
  }
  DataOptions o;
  o.k_core = 5;
  Dataset d = MustLoad("s.txt", file, o);
  ASSERT_GT(d.num_users(), 0u);
  std::vector<int> count(d.num_items + 1, 0);
  for (size_t u = 0; u < d.num_users(); ++u) {
    EXPECT_GE(d.sequences.user(u).size, 5u);
    for (uint32_t i : d.sequences.user(u)) ++count[i];
  }
  for (uint32_t i = 1; i <= d.num_items; ++i) EXPECT_GE(count[i], 5) << "item " << i;
}

TEST_F(LoadTest, KCoreThatRemovesEverythingIsAnError) {
  DataOptions o;
  o.k_core = 2;
  std::string msg = LoadError("s.txt", "1 1\n1 2\n2 2\n2 3\n3 3\n3 4\n", o);
  EXPECT_NE(msg.find("no interactions left"), std::string::npos) << msg;
}

TEST_F(LoadTest, TruncateToLast) {
  Dataset d = MustLoad("s.txt", "1 1\n1 2\n1 3\n1 4\n2 5\n");
  EXPECT_EQ(ToVectors(TruncateToLast(d.sequences, 2)), (Seqs{{3, 4}, {5}}));
  EXPECT_EQ(ToVectors(TruncateToLast(d.sequences, 0)), ToVectors(d.sequences));
  EXPECT_EQ(ToVectors(TruncateToLast(d.sequences, 10)), ToVectors(d.sequences));
}

TEST_F(LoadTest, LeaveOneOutSplit) {
  Dataset d = MustLoad("s.txt", "1 1\n2 1\n2 2\n3 1\n3 2\n3 3\n4 1\n4 2\n4 3\n4 4\n4 5\n");
  LeaveOneOutSplit split(d.sequences);
  ASSERT_EQ(split.num_users(), 4u);
  // 1 and 2 interactions: train only, the whole sequence.
  EXPECT_FALSE(split.HasTargets(0));
  EXPECT_EQ(split.Train(0).size, 1u);
  EXPECT_FALSE(split.HasTargets(1));
  EXPECT_EQ(split.Train(1).size, 2u);
  // 3 interactions: train [1], valid 2 after [1], test 3 after [1, 2].
  ASSERT_TRUE(split.HasTargets(2));
  EXPECT_EQ(std::vector<uint32_t>(split.Train(2).begin(), split.Train(2).end()),
            (std::vector<uint32_t>{1}));
  EXPECT_EQ(split.ValidTarget(2), 2u);
  EXPECT_EQ(split.ValidHistory(2).size, 1u);
  EXPECT_EQ(split.TestTarget(2), 3u);
  EXPECT_EQ(split.TestHistory(2).size, 2u);
  // 5 interactions; the views point into the dataset (no copies).
  EXPECT_EQ(split.Train(3).size, 3u);
  EXPECT_EQ(split.ValidTarget(3), 4u);
  EXPECT_EQ(split.TestTarget(3), 5u);
  EXPECT_EQ(split.TestHistory(3).data, d.sequences.user(3).data);
  EXPECT_EQ(split.TestHistory(3).Last(2).size, 2u);
  EXPECT_EQ(split.TestHistory(3).Last(2)[0], 3u);
  EXPECT_EQ(split.NumUsersWithTargets(), 2u);
  EXPECT_EQ(split.NumTrainInteractions(), 1u + 2u + 1u + 3u);
}

TEST_F(LoadTest, BadInputNamesFileAndLine) {
  EXPECT_NE(LoadError("a.txt", "1 2\n1 2 3\n", DataOptions{}).find("a.txt:2: expected 2 fields"),
            std::string::npos);
  EXPECT_NE(LoadError("b.txt", "1 2\n\n1 x\n").find("b.txt:3: non-numeric item id 'x'"),
            std::string::npos);
  EXPECT_NE(LoadError("c.txt", "").find("c.txt: empty file"), std::string::npos);
  EXPECT_NE(LoadError("d.inter", "user_id:token\titem_id:token\ttimestamp:float\n")
                .find("d.inter: no interactions after the header"),
            std::string::npos);
  EXPECT_NE(LoadError("e.inter", "user_id:token\titem_id:token\ttimestamp:float\n1\t2\n")
                .find("e.inter:2: expected 3 fields, got 2"),
            std::string::npos);
  DataOptions o;
  o.user_column = "uid";
  std::string msg = LoadError("f.csv", "user,item_id,timestamp\n1,2,3\n", o);
  EXPECT_NE(msg.find("f.csv:1: unknown column 'uid'"), std::string::npos) << msg;
  EXPECT_NE(LoadError("g.csv", "user_id,item_id,timestamp\n1,2,yesterday\n")
                .find("g.csv:2: non-numeric timestamp 'yesterday'"),
            std::string::npos);
  EXPECT_NE(LoadError("h.dat", "1::2::3\n").find("h.dat:1: expected 4 fields"), std::string::npos);
  EXPECT_NE(LoadError("i.txt", "hello\n").find("i.txt:1: cannot detect"), std::string::npos);
  o = DataOptions();
  o.min_rating = 3;
  EXPECT_NE(LoadError("j.txt", "1 2\n", o).find("min_rating"), std::string::npos);

  DataOptions missing;
  missing.path = dir_.File("does-not-exist.txt");
  StatusOr<Dataset> d = LoadDataset(missing, CacheOptions{false, ""});
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Status::Code::kNotFound);
  EXPECT_NE(d.status().message().find("does-not-exist.txt"), std::string::npos);
}

TEST(DataOptionsTest, IsValidNamesTheKey) {
  DataOptions o;
  std::string why;
  EXPECT_FALSE(o.IsValid(&why));
  EXPECT_EQ(why.rfind("path", 0), 0u) << why;
  o.path = "x";
  EXPECT_TRUE(o.IsValid(&why)) << why;
  for (double f : {0.0, -0.5, 1.5, std::nan("")}) {
    o.user_fraction = f;
    EXPECT_FALSE(o.IsValid(&why));
    EXPECT_EQ(why.rfind("user_fraction", 0), 0u) << why;
  }
  o.user_fraction = 1;
  o.delimiter = ",,";
  EXPECT_FALSE(o.IsValid(&why));
  EXPECT_EQ(why.rfind("delimiter", 0), 0u) << why;
  o.delimiter = "tab";
  o.min_rating = std::numeric_limits<double>::infinity();
  EXPECT_FALSE(o.IsValid(&why));
  EXPECT_EQ(why.rfind("min_rating", 0), 0u) << why;
}

TEST(DataOptionsTest, CacheKeyIgnoresConsumerSideOptions) {
  DataOptions a, b;
  a.path = b.path = "x";
  b.max_seq_len = 50;
  b.user_fraction = 0.5;
  b.subsample_seed = 9;
  EXPECT_EQ(a.CacheKeyString(Format::kSasrec), b.CacheKeyString(Format::kSasrec));
  EXPECT_NE(a.CanonicalString(), b.CanonicalString());
  b.k_core = 5;
  EXPECT_NE(a.CacheKeyString(Format::kSasrec), b.CacheKeyString(Format::kSasrec));
}

}  // namespace
}  // namespace perflaw::apen
