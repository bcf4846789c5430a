// The binary dataset format, the preprocessing cache, and user subsampling.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "apen/cache.h"
#include "apen/dataset.h"
#include "apen/hash.h"
#include "apen/synth.h"
#include "tests/test_util.h"

namespace perflaw::apen {
namespace {

namespace fs = std::filesystem;
using perflaw::testing::TempDir;

bool SameSequences(const Dataset& a, const Dataset& b) {
  return a.sequences.offsets == b.sequences.offsets && a.sequences.items == b.sequences.items &&
         a.num_items == b.num_items;
}

size_t FilesIn(const fs::path& dir) {
  if (!fs::exists(dir)) return 0;
  return std::distance(fs::directory_iterator(dir), fs::directory_iterator());
}

void FlipByte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(offset);
  char c;
  f.get(c);
  f.seekp(offset);
  f.put(static_cast<char>(c ^ 0x5A));
}

// Overwrites a header field (`width` bytes at `offset`) and re-stamps the header checksum, as a
// forger would: the file then passes the checksum and only its counts are wrong.
void ForgeHeader(const std::string& path, size_t offset, uint64_t value, size_t width) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  char h[kBinaryHeaderSize];
  f.read(h, sizeof(h));
  std::memcpy(h + offset, &value, width);
  const uint64_t checksum = HashBytes(h, 88);
  std::memcpy(h + 88, &checksum, 8);
  f.seekp(0);
  f.write(h, sizeof(h));
}

// Header field offsets (cache.h).
constexpr size_t kUsersAt = 32, kInteractionsAt = 40, kItemsAt = 48;

class CacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.Write("data.txt", "1 10\n1 11\n2 10\n2 12\n2 13\n3 11\n");
    options_.path = dir_.File("data.txt");
    cache_.dir = dir_.File("cache");
  }
  Dataset Load() {
    StatusOr<Dataset> d = LoadDataset(options_, cache_);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? std::move(d).value() : Dataset{};
  }
  TempDir dir_;
  DataOptions options_;
  CacheOptions cache_;
};

TEST_F(CacheTest, BuildThenHit) {
  Dataset first = Load();
  EXPECT_EQ(first.cache_status, CacheStatus::kBuilt);
  ASSERT_FALSE(first.cache_path.empty());
  EXPECT_TRUE(fs::exists(first.cache_path));
  EXPECT_EQ(FilesIn(cache_.dir), 1u) << "no temp files may be left behind";
  Dataset second = Load();
  EXPECT_EQ(second.cache_status, CacheStatus::kHit);
  EXPECT_EQ(second.cache_path, first.cache_path);
  EXPECT_TRUE(SameSequences(first, second));
  EXPECT_EQ(second.user_ids, first.user_ids);
  EXPECT_EQ(second.item_ids, first.item_ids);
  EXPECT_EQ(second.options, first.options);
  EXPECT_EQ(second.source_hash, first.source_hash);
}

TEST_F(CacheTest, SubsampleAndLengthDoNotChangeTheCacheFile) {
  Dataset full = Load();
  options_.user_fraction = 0.5;
  options_.max_seq_len = 2;
  Dataset sub = Load();
  EXPECT_EQ(sub.cache_status, CacheStatus::kHit);
  EXPECT_EQ(sub.cache_path, full.cache_path);
  options_.drop_repeats = true;
  Dataset core = Load();
  EXPECT_EQ(core.cache_status, CacheStatus::kBuilt);
  EXPECT_NE(core.cache_path, full.cache_path);
}

TEST_F(CacheTest, StaleCacheIsRebuilt) {
  Dataset first = Load();
  dir_.Write("data.txt", "1 10\n1 11\n2 10\n");
  Dataset second = Load();
  EXPECT_EQ(second.cache_status, CacheStatus::kRebuiltStale) << second.cache_message;
  EXPECT_EQ(second.num_interactions(), 3u);
  EXPECT_EQ(Load().cache_status, CacheStatus::kHit);
}

TEST_F(CacheTest, CorruptCacheIsRebuilt) {
  Dataset first = Load();
  const uint64_t size = fs::file_size(first.cache_path);
  for (uint64_t offset : {uint64_t{3}, uint64_t{40}, kBinaryHeaderSize + 9, size - 2}) {
    FlipByte(first.cache_path, offset);
    Dataset d = Load();
    EXPECT_EQ(d.cache_status, CacheStatus::kRebuiltCorrupt) << "offset " << offset;
    EXPECT_TRUE(SameSequences(first, d));
    EXPECT_EQ(Load().cache_status, CacheStatus::kHit);
  }
  fs::resize_file(first.cache_path, size - 5);  // truncated
  EXPECT_EQ(Load().cache_status, CacheStatus::kRebuiltCorrupt);
}

TEST_F(CacheTest, ForgedHeaderCountsRebuildTheCache) {
  const Dataset first = Load();
  const std::string original = [&] {
    std::ifstream f(first.cache_path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }();
  struct Forgery {
    size_t offset;
    uint64_t value;
    size_t width;
  };
  // 2^61 users: (users + 1) * 8 wraps to 8 bytes; 2^62 interactions: * 4 wraps to 0; ~0 users:
  // + 1 wraps to 0; 2^32 - 1 items with raw ids present: billions of id strings.
  const std::vector<std::vector<Forgery>> forgeries = {
      {{kUsersAt, uint64_t{1} << 61, 8}, {kInteractionsAt, uint64_t{1} << 62, 8}},
      {{kUsersAt, ~uint64_t{0}, 8}},
      {{kInteractionsAt, uint64_t{1} << 40, 8}},
      {{kItemsAt, 0xFFFFFFFFu, 4}},
  };
  for (size_t k = 0; k < forgeries.size(); ++k) {
    std::ofstream(first.cache_path, std::ios::binary | std::ios::trunc) << original;
    for (const Forgery& f : forgeries[k]) ForgeHeader(first.cache_path, f.offset, f.value, f.width);
    Dataset d = Load();
    EXPECT_EQ(d.cache_status, CacheStatus::kRebuiltCorrupt) << "forgery " << k;
    EXPECT_NE(d.cache_message.find(first.cache_path), std::string::npos) << d.cache_message;
    EXPECT_EQ(d.cache_message.find("unreadable cache file"), std::string::npos)
        << "the header checks, not the exception fallback, must catch it: " << d.cache_message;
    EXPECT_TRUE(SameSequences(first, d)) << "forgery " << k;
    EXPECT_EQ(d.user_ids, first.user_ids);
    EXPECT_EQ(Load().cache_status, CacheStatus::kHit) << "the rebuilt file must be valid";
  }
}

TEST_F(CacheTest, DisabledCacheWritesNothing) {
  cache_.enabled = false;
  Dataset d = Load();
  EXPECT_EQ(d.cache_status, CacheStatus::kDisabled);
  EXPECT_FALSE(fs::exists(cache_.dir));
}

TEST_F(CacheTest, BadInputWritesNoCache) {
  dir_.Write("data.txt", "1 10\n1 eleven\n");
  StatusOr<Dataset> d = LoadDataset(options_, cache_);
  EXPECT_FALSE(d.ok());
  EXPECT_FALSE(fs::exists(cache_.dir));
}

TEST_F(CacheTest, UnwritableCacheDirStillLoads) {
  dir_.Write("blocker", "a file where the cache directory should be");
  cache_.dir = dir_.File("blocker") + "/sub";
  Dataset d = Load();
  EXPECT_EQ(d.cache_status, CacheStatus::kWriteFailed);
  EXPECT_FALSE(d.cache_message.empty());
  EXPECT_EQ(d.num_interactions(), 6u);
}

TEST(BinaryFormatTest, RoundTripAndAutoDetection) {
  TempDir dir;
  SynthOptions so;
  so.users = 500;
  so.items = 300;
  Dataset d = GenerateSynthetic(so);
  const std::string path = dir.File("s.bin");
  ASSERT_TRUE(WriteBinaryDataset(path, d, 0).ok());
  DataOptions o;
  o.path = path;
  StatusOr<Dataset> back = LoadDataset(o, CacheOptions{true, dir.File("cache")});
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(SameSequences(d, *back));
  EXPECT_EQ(back->cache_status, CacheStatus::kNotApplicable);
  EXPECT_FALSE(fs::exists(dir.File("cache")));
  EXPECT_NE(back->options.find("format=binary"), std::string::npos);

  // The SASRec text of the same dataset reads back to the same sequences when every item
  // occurs (otherwise dense re-indexing closes the gaps).
  so.items = 50;
  Dataset dense = GenerateSynthetic(so);
  ASSERT_TRUE(WriteSasrecDataset(dir.File("s.txt"), dense).ok());
  o.path = dir.File("s.txt");
  StatusOr<Dataset> text = LoadDataset(o, CacheOptions{false, ""});
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  ASSERT_EQ(text->num_items, 50u);
  EXPECT_TRUE(SameSequences(dense, *text));
}

TEST(BinaryFormatTest, KCoreOnBinaryInput) {
  TempDir dir;
  Dataset d;
  d.num_items = 4;
  std::vector<uint32_t> a{1, 2, 1}, b{2, 1}, c{3, 4};
  d.sequences.AddUser(a.data(), a.size());
  d.sequences.AddUser(b.data(), b.size());
  d.sequences.AddUser(c.data(), c.size());
  ASSERT_TRUE(WriteBinaryDataset(dir.File("d.bin"), d, 0).ok());
  DataOptions o;
  o.path = dir.File("d.bin");
  o.k_core = 2;
  StatusOr<Dataset> back = LoadDataset(o, CacheOptions{false, ""});
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->num_users(), 2u);
  EXPECT_EQ(back->num_items, 2u);
  o.k_core = 3;
  StatusOr<Dataset> none = LoadDataset(o, CacheOptions{false, ""});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no interactions left"), std::string::npos);
}

TEST(BinaryFormatTest, CorruptBinaryInputIsAUserError) {
  TempDir dir;
  SynthOptions so;
  so.users = 20;
  ASSERT_TRUE(WriteBinaryDataset(dir.File("s.bin"), GenerateSynthetic(so), 0).ok());
  FlipByte(dir.File("s.bin"), kBinaryHeaderSize + 20);
  DataOptions o;
  o.path = dir.File("s.bin");
  StatusOr<Dataset> d = LoadDataset(o, CacheOptions{false, ""});
  ASSERT_FALSE(d.ok());
  EXPECT_TRUE(d.status().IsUserError());
  EXPECT_NE(d.status().message().find("checksum"), std::string::npos) << d.status().message();
}

TEST(BinaryFormatTest, ForgedHeaderCountsAreAOneLineUserError) {
  TempDir dir;
  SynthOptions so;
  so.users = 20;
  const std::string path = dir.File("s.bin");
  ASSERT_TRUE(WriteBinaryDataset(path, GenerateSynthetic(so), 0).ok());
  ForgeHeader(path, kUsersAt, uint64_t{1} << 61, 8);
  ForgeHeader(path, kInteractionsAt, uint64_t{1} << 62, 8);
  StatusOr<Dataset> direct = ReadBinaryDataset(path);
  ASSERT_FALSE(direct.ok());
  EXPECT_EQ(direct.status().code(), Status::Code::kCorruption);
  DataOptions o;
  o.path = path;
  StatusOr<Dataset> d = LoadDataset(o, CacheOptions{false, ""});
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Status::Code::kInvalidArgument);
  const std::string& msg = d.status().message();
  EXPECT_EQ(msg.rfind(path + ": corrupt binary dataset: header claims", 0), 0u) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

TEST(SubsampleTest, DeterministicNestedAndApproximate) {
  SynthOptions so;
  so.users = 20000;
  so.items = 100;
  so.mean_length = 4;
  Dataset d = GenerateSynthetic(so);
  for (double f : {0.1, 0.3, 0.7}) {
    size_t kept = SubsampleUsers(d, f, 7).num_users();
    EXPECT_NEAR(static_cast<double>(kept) / so.users, f, 0.02) << "fraction " << f;
    EXPECT_EQ(SubsampleUsers(d, f, 7).sequences.items, SubsampleUsers(d, f, 7).sequences.items);
  }
  size_t nested = 0, small = 0, differ = 0;
  for (uint64_t u = 0; u < so.users; ++u) {
    if (KeepUser(u, 0.3, 7)) {
      ++small;
      nested += KeepUser(u, 0.6, 7);
    }
    differ += KeepUser(u, 0.3, 7) != KeepUser(u, 0.3, 8);
  }
  EXPECT_EQ(nested, small) << "a smaller fraction must select a subset of a larger one";
  EXPECT_GT(differ, so.users / 10) << "the seed must change the selection";
  EXPECT_EQ(SubsampleUsers(d, 1.0, 7).num_users(), so.users);
  EXPECT_EQ(SubsampleUsers(d, 0.5, 7).num_items, d.num_items);
}

TEST(SubsampleTest, LoadDatasetAppliesUserFraction) {
  TempDir dir;
  std::string file;
  for (int u = 1; u <= 2000; ++u) file += std::to_string(u) + " 1\n" + std::to_string(u) + " 2\n";
  dir.Write("s.txt", file);
  DataOptions o;
  o.path = dir.File("s.txt");
  o.user_fraction = 0.25;
  o.subsample_seed = 3;
  StatusOr<Dataset> d = LoadDataset(o, CacheOptions{false, ""});
  ASSERT_TRUE(d.ok());
  EXPECT_NEAR(d->num_users() / 2000.0, 0.25, 0.04);
  EXPECT_EQ(d->user_ids.size(), d->num_users());
  for (size_t u = 0; u < d->num_users(); ++u) {
    EXPECT_TRUE(KeepUser(std::stoul(d->user_ids[u]) - 1, 0.25, 3));
  }
}

}  // namespace
}  // namespace perflaw::apen
