#include "worker/metrics.h"

#include <gtest/gtest.h>

#include <cmath>

namespace perflaw::worker {
namespace {

TEST(MetricsTest, HandComputedRanks) {
  // Ranks 1, 2, 11, 60.
  RankMetrics m = ComputeRankMetrics({1, 2, 11, 60}, {10, 50});
  EXPECT_EQ(m.users, 4u);
  EXPECT_DOUBLE_EQ(m.Hr(10), 0.5);
  EXPECT_DOUBLE_EQ(m.Hr(50), 0.75);
  EXPECT_DOUBLE_EQ(m.Ndcg(10), (1.0 + 1.0 / std::log2(3.0)) / 4);
  EXPECT_DOUBLE_EQ(m.Ndcg(50), (1.0 + 1.0 / std::log2(3.0) + 1.0 / std::log2(12.0)) / 4);
  EXPECT_DOUBLE_EQ(m.mrr, (1.0 + 0.5 + 1.0 / 11 + 1.0 / 60) / 4);
  EXPECT_TRUE(std::isnan(m.Hr(20)));
}

TEST(MetricsTest, RankAtKBoundaryCounts) {
  RankMetrics m = ComputeRankMetrics({10, 11}, {10});
  EXPECT_DOUBLE_EQ(m.Hr(10), 0.5);
  EXPECT_DOUBLE_EQ(m.Ndcg(10), 0.5 / std::log2(11.0));
}

}  // namespace
}  // namespace perflaw::worker
