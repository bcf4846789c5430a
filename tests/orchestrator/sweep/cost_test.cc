// Cost estimates of a sweep's points.
#include <gtest/gtest.h>

#include <string>

#include "tests/orchestrator/sweep/sweep_test_util.h"

namespace perflaw::orchestrator::sweep_test {
namespace {

TEST(SweepCost, GrowsWithModelAndSequenceLength) {
  StatusOr<Sweep> s =
      Parse(SynthSweep("grid:\n  model.d_model: [8, 16]\n  data.max_seq_len: [2, 50]\n"));
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->points.size(), 4u);
  // d 8, h 8 (sasrec): layers 2 x (4 x 64 + 2 x 8 x 8 + 9 x 8 + 8) + 2 x 8 = 944 non-embedding
  // parameters (law::NonEmbeddingParams: what the worker counts).
  EXPECT_EQ(s->points[0].non_embedding_params, 944);
  EXPECT_LT(s->points[0].tokens, s->points[1].tokens);  // L 2 truncates, L 50 does not
  EXPECT_LE(s->points[0].tokens, 2.0 * 50 * 2);         // epochs x users x L
  EXPECT_EQ(s->points[0].tokens, s->points[2].tokens);
  EXPECT_LT(s->points[0].cost, s->points[2].cost);
  EXPECT_EQ(s->points[3].cost, s->points[3].non_embedding_params * s->points[3].tokens);
}

}  // namespace
}  // namespace perflaw::orchestrator::sweep_test
