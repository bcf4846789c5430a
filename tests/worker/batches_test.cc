#include "worker/batches.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace perflaw::worker {
namespace {

apen::Sequences MakeSeqs(const std::vector<std::vector<uint32_t>>& users) {
  apen::Sequences s;
  for (const auto& u : users) s.AddUser(u.data(), u.size());
  return s;
}

TEST(LayoutRowsTest, UnpackedRowsAreLeftPaddedWithLeftPaddedPositions) {
  std::vector<uint32_t> a = {7, 8, 9}, b = {4}, c = {5, 6};
  Batch batch;
  std::vector<int64_t> start = LayoutRows({{a.data(), 3}, {b.data(), 1}, {c.data(), 2}},
                                          /*max_len=*/5, /*packing=*/false, &batch);
  EXPECT_EQ(batch.rows, 3);
  EXPECT_EQ(batch.len, 3);
  EXPECT_EQ(batch.items, (std::vector<int64_t>{7, 8, 9, 0, 0, 4, 0, 5, 6}));
  EXPECT_EQ(batch.positions, (std::vector<int64_t>{2, 3, 4, 0, 0, 4, 0, 3, 4}));
  EXPECT_EQ(batch.segments, (std::vector<int64_t>{0, 0, 0, -1, -1, 1, -1, 2, 2}));
  EXPECT_EQ(start, (std::vector<int64_t>{0, 5, 7}));
}

TEST(LayoutRowsTest, PackingSharesRowsAndKeepsPositions) {
  std::vector<uint32_t> a = {7, 8, 9}, b = {4}, c = {5, 6};
  Batch batch;
  std::vector<int64_t> start = LayoutRows({{a.data(), 3}, {b.data(), 1}, {c.data(), 2}},
                                          /*max_len=*/5, /*packing=*/true, &batch);
  EXPECT_EQ(batch.rows, 2);  // first-fit decreasing: [7 8 9] and {b, c}
  EXPECT_EQ(batch.len, 3);
  // Sequences are placed in input order from the right end of their row: b, then c to its left.
  EXPECT_EQ(batch.items, (std::vector<int64_t>{7, 8, 9, 5, 6, 4}));
  EXPECT_EQ(batch.positions, (std::vector<int64_t>{2, 3, 4, 3, 4, 4}));
  EXPECT_EQ(batch.segments, (std::vector<int64_t>{0, 0, 0, 2, 2, 1}));
  EXPECT_EQ(start, (std::vector<int64_t>{0, 5, 3}));
}

TEST(TrainSetTest, TargetsAreNextItemsOfTheTrainingPart) {
  // n=5: train = [1 2 3], inputs [1 2] -> targets [2 3]. n=2: train only = [4 5]: input [4] -> 5.
  // n=1: nothing to train on.
  apen::Sequences seqs = MakeSeqs({{1, 2, 3, 4, 5}, {4, 5}, {6}});
  auto set = TrainSet::Create(seqs, /*num_items=*/10, /*max_len=*/50);
  ASSERT_TRUE(set.ok()) << set.status().message();
  EXPECT_EQ((*set)->users(), (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ((*set)->TotalTargets(), 3u);
  TrainBatcher batcher(set->get(), /*batch_size=*/8, /*packing=*/false, /*seed=*/1, 0, 1);
  EXPECT_EQ(batcher.BatchesPerEpoch(), 1u);
  Batch b = batcher.Make({0, 1}, 0, 0);
  EXPECT_EQ(b.global_targets, 3);
  ASSERT_EQ(b.target_index.size(), 3u);
  std::vector<int64_t> inputs, targets;
  for (size_t i = 0; i < 3; ++i) {
    inputs.push_back(b.items[b.target_index[i]]);
    targets.push_back(b.positives[i]);
  }
  EXPECT_EQ(inputs, (std::vector<int64_t>{1, 2, 4}));
  EXPECT_EQ(targets, (std::vector<int64_t>{2, 3, 5}));
  // Negatives avoid the user's training items.
  EXPECT_TRUE(b.negatives[0] != 1 && b.negatives[0] != 2 && b.negatives[0] != 3);
  EXPECT_TRUE(b.negatives[2] != 4 && b.negatives[2] != 5);
}

TEST(TrainSetTest, TruncatesToTheLastMaxLenInputs) {
  apen::Sequences seqs = MakeSeqs({{1, 2, 3, 4, 5, 6, 7, 8}});  // train [1..6], inputs [1..5]
  auto set = TrainSet::Create(seqs, 10, /*max_len=*/3);
  ASSERT_TRUE(set.ok());
  TrainBatcher batcher(set->get(), 4, false, 1, 0, 1);
  Batch b = batcher.Make({0}, 0, 0);
  EXPECT_EQ(b.items, (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(b.positives, (std::vector<int64_t>{4, 5, 6}));
}

TEST(TrainSetTest, RejectsDataWithoutTrainingPairsOrNegatives) {
  apen::Sequences none = MakeSeqs({{1}, {2}});
  EXPECT_FALSE(TrainSet::Create(none, 5, 10).ok());
  apen::Sequences all = MakeSeqs({{1, 2, 3, 1, 2}});  // train [1 2 3] covers all 3 items
  auto set = TrainSet::Create(all, 3, 10);
  ASSERT_FALSE(set.ok());
  EXPECT_NE(set.status().message().find("every item"), std::string::npos);
}

TEST(TrainBatcherTest, NegativesAvoidHistoryAndAreSeeded) {
  std::vector<std::vector<uint32_t>> users;
  for (uint32_t u = 0; u < 50; ++u)
    users.push_back({1 + u % 7, 2 + u % 5, 3 + u % 11, 4, 5, 6 + u % 3, 9});
  apen::Sequences seqs = MakeSeqs(users);
  auto set = TrainSet::Create(seqs, 20, 50);
  ASSERT_TRUE(set.ok());
  TrainBatcher a(set->get(), 16, true, 5, 0, 1), b(set->get(), 16, true, 5, 0, 1),
      c(set->get(), 16, true, 6, 0, 1);
  EXPECT_EQ(a.BatchesPerEpoch(), 4u);
  std::vector<uint32_t> order = a.EpochOrder(3);
  EXPECT_EQ(order, b.EpochOrder(3));
  EXPECT_NE(order, a.EpochOrder(4));
  std::vector<uint32_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (*set)->users());
  Batch x = a.Make(order, 3, 1), y = b.Make(order, 3, 1), z = c.Make(order, 3, 1);
  EXPECT_EQ(x.negatives, y.negatives);
  EXPECT_NE(x.negatives, z.negatives);
  for (size_t i = 0; i < x.negatives.size(); ++i) {
    const int64_t seg = x.segments[x.target_index[i]];
    const uint32_t u = order[16 + seg];
    EXPECT_FALSE((*set)->history().Contains(u, static_cast<uint32_t>(x.negatives[i])));
    EXPECT_GE(x.negatives[i], 1);
    EXPECT_LE(x.negatives[i], 20);
  }
}

// The shards of two ranks hold exactly the one-rank batch's examples.
TEST(TrainBatcherTest, ShardsPartitionTheGlobalBatch) {
  std::vector<std::vector<uint32_t>> users;
  for (uint32_t u = 0; u < 37; ++u) {
    std::vector<uint32_t> s;
    for (uint32_t j = 0; j < 3 + u % 9; ++j) s.push_back(1 + (u * 7 + j * 3) % 40);
    users.push_back(s);
  }
  apen::Sequences seqs = MakeSeqs(users);
  auto set = TrainSet::Create(seqs, 40, 6);
  ASSERT_TRUE(set.ok());
  TrainBatcher one(set->get(), 10, true, 9, 0, 1), r0(set->get(), 10, true, 9, 0, 2),
      r1(set->get(), 10, true, 9, 1, 2);
  std::vector<uint32_t> order = one.EpochOrder(0);
  for (uint64_t i = 0; i < one.BatchesPerEpoch(); ++i) {
    Batch g = one.Make(order, 0, i), a = r0.Make(order, 0, i), b = r1.Make(order, 0, i);
    EXPECT_EQ(a.global_targets, g.global_targets);
    EXPECT_EQ(b.global_targets, g.global_targets);
    auto examples = [](const Batch& x) {
      std::multiset<std::tuple<int64_t, int64_t, int64_t, int64_t>> out;
      for (size_t k = 0; k < x.target_index.size(); ++k)
        out.emplace(x.items[x.target_index[k]], x.positions[x.target_index[k]], x.positives[k],
                    x.negatives[k]);
      return out;
    };
    auto ea = examples(a), eb = examples(b);
    ea.insert(eb.begin(), eb.end());
    EXPECT_EQ(ea, examples(g));
  }
}

TEST(BatchPrefetcherTest, YieldsTheEpochsBatchesInOrder) {
  std::vector<std::vector<uint32_t>> users(30, std::vector<uint32_t>{1, 2, 3, 4});
  apen::Sequences seqs = MakeSeqs(users);
  auto set = TrainSet::Create(seqs, 10, 50);
  ASSERT_TRUE(set.ok());
  TrainBatcher batcher(set->get(), 7, false, 2, 0, 1);
  std::vector<uint32_t> order = batcher.EpochOrder(1);
  BatchPrefetcher prefetch(&batcher, 1, 2, 2);  // from batch 2 of epoch 1
  uint64_t expected = 2;
  while (auto b = prefetch.Next()) {
    EXPECT_EQ(b->index, expected);
    EXPECT_EQ(b->negatives, batcher.Make(order, 1, expected).negatives);
    ++expected;
  }
  EXPECT_EQ(expected, batcher.BatchesPerEpoch());
}

TEST(BatchPrefetcherTest, StopsCleanlyWhenAbandoned) {
  std::vector<std::vector<uint32_t>> users(100, std::vector<uint32_t>{1, 2, 3, 4});
  apen::Sequences seqs = MakeSeqs(users);
  auto set = TrainSet::Create(seqs, 10, 50);
  ASSERT_TRUE(set.ok());
  TrainBatcher batcher(set->get(), 1, false, 2, 0, 1);
  BatchPrefetcher prefetch(&batcher, 0, 0, 2);
  EXPECT_TRUE(prefetch.Next().has_value());
}  // destructor joins the thread with batches still pending

}  // namespace
}  // namespace perflaw::worker
