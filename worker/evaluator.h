// Leave-one-out ranking evaluation of a SequenceModel (internal header: includes LibTorch).
//
// Each evaluated user's history (valid: the training part; test: training part + valid item),
// truncated to the last max_seq_len items, is encoded; the last token's hidden vector scores the
// candidates:
//   full:      every item 1..num_items; with exclude_history the user's history items (other than
//   the
//              target itself) are removed from the candidates;
//   sampled:K: the target plus K distinct items drawn uniformly from the items outside the history
//   and
//              the target, seeded by (eval seed, split, user), so every epoch and every point of a
//              sweep sees the same candidates.
// Users: those with a valid and test target; with `users` > 0 a seeded subsample of at most that
// many (the same users for valid and test). Work is batched: users x candidates matrix products.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "apen/dataset.h"
#include "apen/status.h"
#include "worker/batches.h"
#include "worker/metrics.h"
#include "worker/model.h"
#include "worker/point_config.h"

namespace perflaw::worker {

enum class Split { kValid, kTest };

class Evaluator {
 public:
  // Fails when a sampled protocol needs more negatives than some user has items outside its
  // history.
  static StatusOr<std::unique_ptr<Evaluator>> Create(const apen::LeaveOneOutSplit& split,
                                                     uint32_t num_items, uint32_t max_len,
                                                     const EvalConfig& config);
  RankMetrics Evaluate(SequenceModel& model, Split split, const torch::Device& device,
                       size_t users_per_chunk = 256) const;
  // The rank of each evaluated user's target (in users() order); exposed for tests.
  std::vector<uint32_t> Ranks(SequenceModel& model, Split split, const torch::Device& device,
                              size_t users_per_chunk = 256) const;
  const std::vector<uint32_t>& users() const { return users_; }
  // The point's `threads` (0: one per core): on CPU the user chunks are scored on that many
  // std::threads. Default 1.
  void set_threads(uint32_t threads) { threads_ = threads; }
  // The threads an evaluation on `device` uses (1 on a GPU).
  uint32_t threads(const torch::Device& device) const;
  // sampled:K: user u's candidates for `split`, the target first, then K distinct negatives.
  std::vector<int64_t> Candidates(uint32_t u, Split split) const;

 private:
  Evaluator(const apen::LeaveOneOutSplit& split, uint32_t num_items, uint32_t max_len,
            const EvalConfig& config)
      : split_(split), num_items_(num_items), max_len_(max_len), config_(config) {}
  apen::ItemSpan History(uint32_t u, Split s) const;
  uint32_t Target(uint32_t u, Split s) const;
  std::vector<uint32_t> ChunkRanks(SequenceModel& model, Split s,
                                   const std::vector<uint32_t>& users, const torch::Device& device,
                                   torch::Tensor* scratch) const;
  // Scores into `scratch` (reallocated when too small): the caller's buffer for all its chunks.
  torch::Tensor FullScores(SequenceModel& model, Split s, const std::vector<uint32_t>& users,
                           const torch::Tensor& hidden, torch::Tensor* scratch,
                           torch::Tensor* target_scores) const;
  // std::threads that score user chunks: the point's threads on CPU (at most one per chunk), 1 on
  // a GPU.
  size_t Workers(const torch::Device& device, size_t chunks) const;
  // Calls run(w, workers) on `workers` threads; the first exception thrown, if any.
  static std::exception_ptr RunOnThreads(size_t workers,
                                         const std::function<void(size_t, size_t)>& run);
  static std::vector<uint32_t> CountRanks(const torch::Tensor& scores, const torch::Tensor& target);
  void AppendCandidates(uint32_t u, Split s, std::vector<uint8_t>* taken,
                        std::vector<int64_t>* cands) const;
  torch::Tensor SampledScores(SequenceModel& model, Split s, const std::vector<uint32_t>& users,
                              const torch::Tensor& hidden, const torch::Device& device) const;

  apen::LeaveOneOutSplit split_;
  uint32_t num_items_, max_len_;
  EvalConfig config_;
  uint32_t threads_ = 1;
  std::vector<uint32_t> users_;
  HistorySets valid_history_, test_history_;
};

}  // namespace perflaw::worker
