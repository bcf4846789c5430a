// Readers and preprocessing on small hand-written files, one per format and option.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "apen/cache.h"
#include "apen/dataset.h"
#include "apen/hash.h"
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

TEST_F(LoadTest, NonFiniteTimestampsAndRatingsAreRejected) {
  const std::string inter = "user_id:token\titem_id:token\ttimestamp:float\n1\t2\t5\n";
  for (const char* v : {"nan", "NaN", "inf", "-inf", "+inf", "infinity", "-nan"}) {
    std::string msg = LoadError("a.inter", inter + "1\t3\t" + v + "\n");
    EXPECT_NE(
        msg.find("a.inter:3: non-finite timestamp '" + std::string(v) + "' in column 'timestamp'"),
        std::string::npos)
        << msg;
  }
  EXPECT_NE(LoadError("b.csv", "user_id,item_id,timestamp\n1,2,1\n1,3,inf\n")
                .find("b.csv:3: non-finite timestamp 'inf' in column 'timestamp'"),
            std::string::npos);
  EXPECT_NE(LoadError("c.dat", "1::2::5::10\n1::3::4::nan\n")
                .find("c.dat:2: non-finite timestamp 'nan' in column 'timestamp'"),
            std::string::npos);
  DataOptions o;
  o.min_rating = 3;
  EXPECT_NE(LoadError("d.csv", "user_id,item_id,rating,timestamp\n1,2,nan,1\n", o)
                .find("d.csv:2: non-finite rating 'nan' in column 'rating'"),
            std::string::npos);
  EXPECT_NE(LoadError("e.dat", "1::2::inf::10\n", o)
                .find("e.dat:1: non-finite rating 'inf' in column 'rating'"),
            std::string::npos);
  // Finite decimals and exponents still load.
  EXPECT_EQ(MustLoad("f.inter", inter + "1\t3\t1e3\n2\t3\t-2.5\n").num_interactions(), 3u);
}

// True when `s` has a byte a terminal could act on (C0 controls, DEL).
bool HasControlBytes(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7F) return true;
  return false;
}

TEST_F(LoadTest, ErrorsEscapeControlBytesFromTheFile) {
  std::string msg = LoadError("a.txt", std::string("1 2\n\x7f"
                                                   "ELF\x01\x02\x1b[2J 3\n"));
  EXPECT_NE(msg.find("a.txt:2: non-numeric user id '\\x7fELF\\x01\\x02\\x1b[2J'"),
            std::string::npos)
      << msg;
  EXPECT_FALSE(HasControlBytes(msg)) << msg;
  msg = LoadError("b.txt", std::string("1 2\n1 a\0b\xff\r\n", 12));
  EXPECT_NE(msg.find("b.txt:2: non-numeric item id 'a\\x00b\\xff'"), std::string::npos) << msg;
  EXPECT_FALSE(HasControlBytes(msg)) << msg;
  // Valid UTF-8 stays readable.
  msg = LoadError("c.txt", "1 2\n1 caf\xc3\xa9\n");
  EXPECT_NE(msg.find("'caf\xc3\xa9'"), std::string::npos) << msg;
  // Header names listed in an unknown-column error are escaped too.
  msg = LoadError("d.csv", std::string("us\x1b[31mer,item_id\x07\n1,2\n"));
  EXPECT_NE(msg.find("d.csv:1: unknown column 'user_id'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("us\\x1b[31mer, item_id\\x07"), std::string::npos) << msg;
  EXPECT_FALSE(HasControlBytes(msg)) << msg;
}

TEST_F(LoadTest, NonRegularFilesAreRefusedWithoutReading) {
  // A FIFO: must be refused up front. Should a reader open it anyway (the bug), a helper
  // thread opens the write end so that the read sees end-of-file instead of blocking forever.
  const std::string fifo = dir_.File("pipe.txt");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::atomic<bool> done{false};
  std::thread unblock([&] {
    while (!done) {
      int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
      if (fd >= 0) ::close(fd);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  DataOptions o;
  o.path = fifo;
  StatusOr<Dataset> d = LoadDataset(o, CacheOptions{false, ""});
  o.format = Format::kSasrec;
  StatusOr<Dataset> text = LoadDataset(o, CacheOptions{false, ""});
  StatusOr<Dataset> bin = ReadBinaryDataset(fifo);
  StatusOr<uint64_t> hash = HashFile(fifo);
  done = true;
  unblock.join();
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(d.status().message(), fifo + ": not a regular file (is a fifo)");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().message(), fifo + ": not a regular file (is a fifo)");
  ASSERT_FALSE(bin.ok());
  EXPECT_NE(bin.status().message().find("not a regular file (is a fifo)"), std::string::npos);
  ASSERT_FALSE(hash.ok());
  EXPECT_NE(hash.status().message().find("not a regular file (is a fifo)"), std::string::npos);

  // Character devices: /dev/null would read as empty, /dev/zero would read until memory runs
  // out (checked only after /dev/null is refused, so the bug fails here instead of hanging).
  o.format = Format::kAuto;
  o.path = "/dev/null";
  d = LoadDataset(o, CacheOptions{false, ""});
  ASSERT_FALSE(d.ok());
  ASSERT_EQ(d.status().message(), "/dev/null: not a regular file (is a character device)");
  o.path = "/dev/zero";
  d = LoadDataset(o, CacheOptions{false, ""});
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().message(), "/dev/zero: not a regular file (is a character device)");
  EXPECT_TRUE(d.status().IsUserError());
  o.format = Format::kBinary;
  d = LoadDataset(o, CacheOptions{false, ""});
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().message(), "/dev/zero: not a regular file (is a character device)");

  o.format = Format::kAuto;
  o.path = dir_.path().string();
  d = LoadDataset(o, CacheOptions{false, ""});
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().message(), o.path + ": not a regular file (is a directory)");
  EXPECT_TRUE(d.status().IsUserError());
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
