// Ranking metrics from the target's rank among its candidates.
//
// Rank convention: rank = 1 + the number of other candidates whose score is NOT below the target's,
// i.e. strictly higher scores and ties both count against the target (a model that scores
// everything equally gets the worst rank, never the best). NaN scores also count against the
// target.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace perflaw::worker {

// One evaluation of one split under one protocol. Every number carries how it was measured.
struct RankMetrics {
  std::string split;       // "valid" or "test"
  std::string protocol;    // "full" or "sampled:K"
  uint64_t users = 0;      // users evaluated
  uint64_t eval_seed = 0;  // seed of the user subsample and sampled negatives
  double mrr = 0.0;
  std::vector<std::pair<uint32_t, double>> hr;    // (K, HR@K)
  std::vector<std::pair<uint32_t, double>> ndcg;  // (K, NDCG@K)

  double Hr(uint32_t k) const;  // NaN when K was not computed
  double Ndcg(uint32_t k) const;
};

// HR@K = share of users with rank <= K; NDCG@K = mean of 1/log2(rank + 1) over users with rank <= K
// (one relevant item, so the ideal DCG is 1); MRR = mean 1/rank. `ranks` are 1-based.
RankMetrics ComputeRankMetrics(const std::vector<uint32_t>& ranks, const std::vector<uint32_t>& ks);

}  // namespace perflaw::worker
