#include "worker/batches.h"

#include <algorithm>
#include <numeric>

namespace perflaw::worker {

// Seed tags: distinct streams from one run seed.
constexpr uint64_t kOrderTag = 0x6f72646572ULL;  // "order"
constexpr uint64_t kNegativeTag = 0x6e6567ULL;   // "neg"

std::vector<int64_t> LayoutRows(const std::vector<apen::ItemSpan>& seqs, uint32_t max_len,
                                bool packing, Batch* b) {
  size_t len = 1;
  for (const auto& s : seqs) len = std::max(len, s.size);
  // Row of each sequence: its own, or first-fit decreasing over rows of `len` slots.
  std::vector<size_t> row_of(seqs.size());
  std::vector<size_t> fill;  // used slots per row
  if (!packing) {
    std::iota(row_of.begin(), row_of.end(), 0);
    fill.assign(seqs.size(), 0);
  } else {
    std::vector<size_t> order(seqs.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t c) { return seqs[a].size > seqs[c].size; });
    for (size_t i : order) {
      size_t r = 0;
      while (r < fill.size() && fill[r] + seqs[i].size > len) ++r;
      if (r == fill.size()) fill.push_back(0);
      row_of[i] = r;
      fill[r] += seqs[i].size;
    }
    std::fill(fill.begin(), fill.end(), 0);
  }
  b->rows = static_cast<int64_t>(std::max<size_t>(fill.size(), 1));
  b->len = static_cast<int64_t>(len);
  const size_t total = static_cast<size_t>(b->rows * b->len);
  b->items.assign(total, 0);
  b->positions.assign(total, 0);
  b->segments.assign(total, -1);
  std::vector<int64_t> start(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    // Rows fill from the right, so an unpacked row is left-padded and the last token is at the end.
    const size_t r = row_of[i], n = seqs[i].size;
    fill[r] += n;
    const size_t first = r * len + (len - fill[r]);
    start[i] = static_cast<int64_t>(first);
    for (size_t j = 0; j < n; ++j) {
      b->items[first + j] = seqs[i][j];
      b->positions[first + j] = static_cast<int64_t>(max_len - n + j);
      b->segments[first + j] = static_cast<int64_t>(i);
    }
  }
  return start;
}

HistorySets::HistorySets(const apen::LeaveOneOutSplit& split, bool include_valid) {
  std::vector<uint32_t> buf;
  offsets_.reserve(split.num_users() + 1);
  for (size_t u = 0; u < split.num_users(); ++u) {
    apen::ItemSpan h = include_valid && split.HasTargets(u) ? split.TestHistory(u) : split.Train(u);
    buf.assign(h.begin(), h.end());
    std::sort(buf.begin(), buf.end());
    buf.erase(std::unique(buf.begin(), buf.end()), buf.end());
    items_.insert(items_.end(), buf.begin(), buf.end());
    offsets_.push_back(items_.size());
  }
}

bool HistorySets::Contains(size_t u, uint32_t item) const {
  return std::binary_search(items_.begin() + offsets_[u], items_.begin() + offsets_[u + 1], item);
}

StatusOr<std::unique_ptr<TrainSet>> TrainSet::Create(const apen::Sequences& seqs,
                                                     uint32_t num_items, uint32_t max_len) {
  std::unique_ptr<TrainSet> owned(new TrainSet(seqs, num_items, max_len));
  TrainSet& set = *owned;
  set.history_ = HistorySets(set.split_, /*include_valid=*/false);
  for (size_t u = 0; u < seqs.num_users(); ++u) {
    if (set.split_.Train(u).size < 2) continue;
    if (set.history_.Size(u) >= num_items)
      return Status::FailedPrecondition(
          "user " + std::to_string(u) +
          " has interacted with every item: no negative can be sampled");
    set.users_.push_back(static_cast<uint32_t>(u));
    set.total_targets_ += set.NumTargets(u);
  }
  if (set.users_.empty())
    return Status::FailedPrecondition("no user has two training interactions: nothing to train on");
  return owned;
}

uint32_t TrainSet::NumTargets(size_t u) const {
  const size_t m = split_.Train(u).size;
  return m < 2 ? 0 : static_cast<uint32_t>(std::min<size_t>(max_len_, m - 1));
}

uint32_t TrainSet::SampleNegative(size_t u, Rng& rng) const {
  for (;;) {
    const uint32_t item = static_cast<uint32_t>(1 + rng.Below(num_items_));
    if (!history_.Contains(u, item)) return item;
  }
}

TrainBatcher::TrainBatcher(const TrainSet* set, uint32_t batch_size, bool packing, uint64_t seed,
                           int rank, int world_size, uint32_t negatives_per_target)
    : set_(set),
      batch_size_(batch_size),
      packing_(packing),
      seed_(seed),
      rank_(rank),
      world_size_(world_size),
      negatives_per_target_(negatives_per_target) {}

uint64_t TrainBatcher::BatchesPerEpoch() const {
  return (set_->users().size() + batch_size_ - 1) / batch_size_;
}

std::vector<uint32_t> TrainBatcher::EpochOrder(uint64_t epoch) const {
  std::vector<uint32_t> order = set_->users();
  Rng rng(Seed({seed_, kOrderTag, epoch}));
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.Below(i)]);
  return order;
}

Batch TrainBatcher::Make(const std::vector<uint32_t>& order, uint64_t epoch, uint64_t index) const {
  Batch b;
  b.epoch = epoch;
  b.index = index;
  const size_t begin = index * batch_size_;
  const size_t end = std::min(order.size(), begin + batch_size_);
  const size_t g = end - begin;
  const size_t shard_begin = begin + g * rank_ / world_size_;
  const size_t shard_end = begin + g * (rank_ + 1) / world_size_;
  for (size_t i = begin; i < end; ++i) b.global_targets += set_->NumTargets(order[i]);

  const uint32_t max_len = set_->max_len();
  std::vector<apen::ItemSpan> inputs;
  for (size_t i = shard_begin; i < shard_end; ++i) {
    apen::ItemSpan t = set_->split().Train(order[i]);
    inputs.push_back(apen::ItemSpan{t.data, t.size - 1}.Last(max_len));
  }
  std::vector<int64_t> start = LayoutRows(inputs, max_len, packing_, &b);
  for (size_t k = 0; k < inputs.size(); ++k) {
    const uint32_t u = order[shard_begin + k];
    Rng rng(Seed({seed_, kNegativeTag, epoch, u}));
    const apen::ItemSpan t = set_->split().Train(u);
    const size_t n = inputs[k].size, offset = t.size - n;  // input j's target is t[offset + j]
    for (size_t j = 0; j < n; ++j) {
      b.target_index.push_back(start[k] + static_cast<int64_t>(j));
      b.positives.push_back(t[offset + j]);
      for (uint32_t k = 0; k < negatives_per_target_; ++k)
        b.negatives.push_back(set_->SampleNegative(u, rng));
    }
  }
  return b;
}

BatchPrefetcher::BatchPrefetcher(const TrainBatcher* batcher, uint64_t epoch, uint64_t first,
                                 size_t depth)
    : batcher_(batcher), depth_(depth) {
  thread_ = std::thread([this, epoch, first] { Run(epoch, first); });
}

BatchPrefetcher::~BatchPrefetcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void BatchPrefetcher::Run(uint64_t epoch, uint64_t first) {
  const std::vector<uint32_t> order = batcher_->EpochOrder(epoch);
  const uint64_t n = batcher_->BatchesPerEpoch();
  for (uint64_t i = first; i < n; ++i) {
    Batch b = batcher_->Make(order, epoch, i);
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return stop_ || queue_.size() < depth_; });
    if (stop_) return;
    queue_.push_back(std::move(b));
    cv_.notify_all();
  }
  std::lock_guard<std::mutex> lock(mu_);
  done_ = true;
  cv_.notify_all();
}

std::optional<Batch> BatchPrefetcher::Next() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return done_ || !queue_.empty(); });
  if (queue_.empty()) return std::nullopt;
  Batch b = std::move(queue_.front());
  queue_.pop_front();
  cv_.notify_all();
  return b;
}

}  // namespace perflaw::worker
