// Loader tests on the real datasets in ../shared/data (skipped when that folder is absent).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "apen/dataset.h"
#include "tests/test_util.h"

namespace perflaw::apen {
namespace {

using perflaw::testing::HaveSharedData;
using perflaw::testing::SharedData;

#define SKIP_WITHOUT_SHARED_DATA()                              \
  if (!HaveSharedData())                                        \
  GTEST_SKIP() << "shared data folder " PERFLAW_SHARED_DATA_DIR \
                  " is absent; real-data loader tests skipped"

// The default options for a file of the shared data folder.
DataOptions SharedDataOptions(const std::string& name) {
  DataOptions o;
  o.path = SharedData(name);
  return o;
}

Dataset LoadOrDie(DataOptions o) {
  StatusOr<Dataset> d = LoadDataset(o, CacheOptions{false, ""});
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? std::move(d).value() : Dataset{};
}

// The sizes of a dataset that is known exactly.
void ExpectCounts(const Dataset& d, uint64_t users, uint64_t items, uint64_t interactions) {
  EXPECT_EQ(d.num_users(), users);
  EXPECT_EQ(d.num_items, items);
  EXPECT_EQ(d.num_interactions(), interactions);
}

TEST(RealDataTest, Ml100kExactCounts) {
  SKIP_WITHOUT_SHARED_DATA();
  Dataset d = LoadOrDie(SharedDataOptions("ml-100k.inter"));
  ExpectCounts(d, 943, 1682, 100000);
  // Numeric ids 1..943 / 1..1682 keep their values after dense re-indexing.
  ASSERT_EQ(d.user_ids.size(), 943u);
  ASSERT_EQ(d.item_ids.size(), 1682u);
  EXPECT_EQ(d.user_ids.front(), "1");
  EXPECT_EQ(d.user_ids.back(), "943");
  EXPECT_EQ(d.item_ids[99], "100");
  EXPECT_EQ(d.cache_status, CacheStatus::kDisabled);
}

// Every user's sequence equals a direct parse stably sorted by timestamp (ties in file order).
TEST(RealDataTest, Ml100kChronologicalWithTiesInFileOrder) {
  SKIP_WITHOUT_SHARED_DATA();
  const DataOptions o = SharedDataOptions("ml-100k.inter");
  Dataset d = LoadOrDie(o);
  std::ifstream in(o.path);
  std::string line;
  std::getline(in, line);  // header
  struct Row {
    long time;
    std::string item;
  };
  std::map<long, std::vector<Row>> by_user;
  long user, item, rating, time;
  while (in >> user >> item >> rating >> time)
    by_user[user].push_back({time, std::to_string(item)});
  ASSERT_EQ(by_user.size(), d.num_users());
  size_t users_with_ties = 0;
  size_t u = 0;
  for (auto& [raw_user, rows] : by_user) {
    std::stable_sort(rows.begin(), rows.end(),
                     [](const Row& a, const Row& b) { return a.time < b.time; });
    ASSERT_EQ(d.user_ids[u], std::to_string(raw_user));
    ItemSpan x = d.sequences.user(u);
    ASSERT_EQ(x.size, rows.size());
    for (size_t t = 0; t < x.size; ++t) {
      ASSERT_EQ(d.item_ids[x[t] - 1], rows[t].item) << "user " << raw_user << " position " << t;
    }
    for (size_t t = 1; t < rows.size(); ++t) {
      if (rows[t].time == rows[t - 1].time) {
        ++users_with_ties;
        break;
      }
    }
    ++u;
  }
  EXPECT_GT(users_with_ties, 100u) << "the tie-order check needs users with tied timestamps";
}

TEST(RealDataTest, AmazonVideoExactCountsAndIdsKept) {
  SKIP_WITHOUT_SHARED_DATA();
  Dataset d = LoadOrDie(SharedDataOptions("amazon-video.txt"));
  ExpectCounts(d, 31013, 23715, 287107);
  // Already dense 1-based ids keep their values; file order is kept.
  for (uint32_t i = 1; i <= d.num_items; i += 997) EXPECT_EQ(d.item_ids[i - 1], std::to_string(i));
  ItemSpan first = d.sequences.user(0);
  ASSERT_GE(first.size, 3u);
  EXPECT_EQ(first[0], 6393u);
  EXPECT_EQ(first[1], 13504u);
  EXPECT_EQ(first[2], 14087u);
  EXPECT_NEAR(static_cast<double>(d.num_interactions()) / d.num_users(), 9.26, 0.01);
  LeaveOneOutSplit split(d.sequences);
  // Users with >= 3 interactions give two targets each; the others are train only.
  size_t with_targets = 0;
  for (size_t u = 0; u < d.num_users(); ++u) with_targets += d.sequences.user(u).size >= 3;
  EXPECT_EQ(split.NumUsersWithTargets(), with_targets);
  EXPECT_GT(with_targets, d.num_users() * 99 / 100);
  EXPECT_EQ(split.NumTrainInteractions(), d.num_interactions() - 2 * with_targets);
}

}  // namespace
}  // namespace perflaw::apen
