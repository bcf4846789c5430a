// Training and evaluation batches as plain index arrays (no LibTorch here), and the sampler thread
// that prepares training batches while the model trains.
//
// Layout: each sequence (at most max_seq_len items) occupies a contiguous run of one row; rows are
// left-padded with item 0. Without packing every sequence gets its own row (the classic layout);
// with packing several sequences share a row (first-fit decreasing) and the attention mask keeps
// them apart (a token attends only to earlier tokens of its own sequence). Positions are assigned
// as in a left-padded row of length max_seq_len: a sequence of n items gets positions max_seq_len-n
// .. max_seq_len-1. Packed and unpacked batches therefore compute the same function; packing only
// skips padding work.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "apen/dataset.h"
#include "apen/sequences.h"
#include "apen/status.h"
#include "worker/rng.h"

namespace perflaw::worker {

struct Batch {
  uint64_t epoch = 0;  // 0-based
  uint64_t index = 0;  // batch index within the epoch
  int64_t rows = 0, len = 0;
  std::vector<int64_t> items;      // rows*len input item ids (0 = padding)
  std::vector<int64_t> positions;  // rows*len position ids in [0, max_seq_len)
  std::vector<int64_t> segments;   // rows*len sequence id of each token (-1 = padding)
  // Training: the flat token indices that carry a loss, their next items and sampled negatives
  // (negatives_per_target per target, target-major).
  std::vector<int64_t> target_index, positives, negatives;
  int64_t global_targets = 0;  // targets in the whole global batch over all ranks (loss scale)
  // Evaluation: the flat index of each sequence's last token, in input order.
  std::vector<int64_t> last_index;
};

// Lays out `seqs` (each 1..max_len items) into rows as described above; fills items, positions,
// segments, rows, len, and returns each sequence's flat start index.
std::vector<int64_t> LayoutRows(const std::vector<apen::ItemSpan>& seqs, uint32_t max_len,
                                bool packing, Batch* batch);

// Sorted distinct items of each user's training part: membership tests for negative sampling.
class HistorySets {
 public:
  HistorySets() = default;
  // history(u) for every user u of `split`; `include_valid` adds the valid target (test history).
  HistorySets(const apen::LeaveOneOutSplit& split, bool include_valid);
  bool Contains(size_t u, uint32_t item) const;
  size_t Size(size_t u) const { return offsets_[u + 1] - offsets_[u]; }
  const uint32_t* Begin(size_t u) const { return items_.data() + offsets_[u]; }

 private:
  std::vector<uint64_t> offsets_{0};
  std::vector<uint32_t> items_;
};

// The training examples of a leave-one-out split: for user u with train items t[0..m), inputs are
// the last min(L, m-1) items of t[0..m-1) and each input's target is the item after it.
class TrainSet {
 public:
  // Fails when no user has two training items or a user's history leaves no item to sample.
  static StatusOr<std::unique_ptr<TrainSet>> Create(const apen::Sequences& seqs, uint32_t num_items,
                                                    uint32_t max_len);

  const apen::LeaveOneOutSplit& split() const { return split_; }
  const std::vector<uint32_t>& users() const { return users_; }  // users with >= 2 train items
  uint32_t num_items() const { return num_items_; }
  uint32_t max_len() const { return max_len_; }
  uint32_t NumTargets(size_t u) const;
  uint64_t TotalTargets() const { return total_targets_; }
  // A uniform item in 1..num_items outside u's training history.
  uint32_t SampleNegative(size_t u, Rng& rng) const;
  const HistorySets& history() const { return history_; }

 private:
  TrainSet(const apen::Sequences& seqs, uint32_t num_items, uint32_t max_len)
      : split_(seqs), num_items_(num_items), max_len_(max_len) {}
  apen::LeaveOneOutSplit split_;
  uint32_t num_items_;
  uint32_t max_len_;
  std::vector<uint32_t> users_;
  HistorySets history_;
  uint64_t total_targets_ = 0;
};

// Deterministic batches: epoch e visits the training users in a permutation seeded by (seed, e), in
// global batches of batch_size users; rank r of world_size takes a contiguous shard of each global
// batch. Negatives depend only on (seed, epoch, user), so the union of the shards equals the 1-rank
// batch.
class TrainBatcher {
 public:
  TrainBatcher(const TrainSet* set, uint32_t batch_size, bool packing, uint64_t seed, int rank,
               int world_size, uint32_t negatives_per_target = 1);
  uint64_t BatchesPerEpoch() const;
  std::vector<uint32_t> EpochOrder(uint64_t epoch) const;
  Batch Make(const std::vector<uint32_t>& order, uint64_t epoch, uint64_t index) const;

 private:
  const TrainSet* set_;
  uint32_t batch_size_;
  bool packing_;
  uint64_t seed_;
  int rank_, world_size_;
  uint32_t negatives_per_target_;
};

// Prepares the batches [first, BatchesPerEpoch()) of one epoch on a background thread, a few ahead.
class BatchPrefetcher {
 public:
  BatchPrefetcher(const TrainBatcher* batcher, uint64_t epoch, uint64_t first, size_t depth = 4);
  ~BatchPrefetcher();
  BatchPrefetcher(const BatchPrefetcher&) = delete;
  BatchPrefetcher& operator=(const BatchPrefetcher&) = delete;
  // The next batch, or nullopt after the epoch's last one.
  std::optional<Batch> Next();

 private:
  void Run(uint64_t epoch, uint64_t first);
  const TrainBatcher* batcher_;
  size_t depth_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> queue_;
  bool done_ = false, stop_ = false;
  std::thread thread_;
};

}  // namespace perflaw::worker
