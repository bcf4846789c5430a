#include "worker/evaluator.h"

#include <algorithm>
#include <exception>
#include <functional>
#include <limits>
#include <thread>

#include "worker/rng.h"
#include "worker/threads.h"

namespace perflaw::worker {
namespace {

constexpr uint64_t kUsersTag = 0x7573657273ULL;     // "users"
constexpr uint64_t kCandidatesTag = 0x63616e64ULL;  // "cand"

torch::Tensor ToTensor(const std::vector<int64_t>& v, std::vector<int64_t> shape,
                       const torch::Device& device) {
  return torch::from_blob(const_cast<int64_t*>(v.data()), shape, torch::kInt64)
      .to(device, /*non_blocking=*/false,
          /*copy=*/true);
}

}  // namespace

StatusOr<std::unique_ptr<Evaluator>> Evaluator::Create(const apen::LeaveOneOutSplit& split,
                                                       uint32_t num_items, uint32_t max_len,
                                                       const EvalConfig& config) {
  std::string why;
  if (!config.IsValid(&why)) return Status::InvalidArgument(why);
  std::unique_ptr<Evaluator> owned(new Evaluator(split, num_items, max_len, config));
  Evaluator& e = *owned;
  for (size_t u = 0; u < split.num_users(); ++u)
    if (split.HasTargets(u)) e.users_.push_back(static_cast<uint32_t>(u));
  if (e.users_.empty())
    return Status::FailedPrecondition("no user has 3 or more interactions: nothing to evaluate");
  if (config.users > 0 && config.users < e.users_.size()) {
    Rng rng(Seed({config.seed, kUsersTag}));
    for (size_t i = 0; i < config.users; ++i)
      std::swap(e.users_[i], e.users_[i + rng.Below(e.users_.size() - i)]);
    e.users_.resize(config.users);
    std::sort(e.users_.begin(), e.users_.end());
  }
  e.valid_history_ = HistorySets(split, /*include_valid=*/false);
  e.test_history_ = HistorySets(split, /*include_valid=*/true);
  if (config.sampled_negatives > 0) {
    for (uint32_t u : e.users_) {
      for (Split s : {Split::kValid, Split::kTest}) {
        const HistorySets& h = s == Split::kValid ? e.valid_history_ : e.test_history_;
        const uint32_t target = e.Target(u, s);
        const size_t excluded = h.Size(u) + (h.Contains(u, target) ? 0 : 1);
        if (num_items < excluded + config.sampled_negatives)
          return Status::FailedPrecondition("eval.protocol " + config.Protocol() + " needs " +
                                            std::to_string(config.sampled_negatives) +
                                            " negatives but user " + std::to_string(u) +
                                            " has only " + std::to_string(num_items - excluded) +
                                            " items outside its history");
      }
    }
  }
  return owned;
}

apen::ItemSpan Evaluator::History(uint32_t u, Split s) const {
  return (s == Split::kValid ? split_.ValidHistory(u) : split_.TestHistory(u)).Last(max_len_);
}

uint32_t Evaluator::Target(uint32_t u, Split s) const {
  return s == Split::kValid ? split_.ValidTarget(u) : split_.TestTarget(u);
}

RankMetrics Evaluator::Evaluate(SequenceModel& model, Split split, const torch::Device& device,
                                size_t users_per_chunk) const {
  RankMetrics m = ComputeRankMetrics(Ranks(model, split, device, users_per_chunk), config_.ks);
  m.split = split == Split::kValid ? "valid" : "test";
  m.protocol = config_.Protocol();
  m.eval_seed = config_.seed;
  return m;
}

// On CPU the user chunks are shared out over the point's threads, each a std::thread running
// LibTorch and the BLAS single-threaded: every chunk is computed exactly as on one thread (same
// metrics), and a busy machine slows it down gracefully, unlike LibTorch/OpenBLAS thread pools
// whose spinning barriers made full ranking 3.5x slower under load. Each thread reuses one scores
// buffer: a fresh [chunk, items] tensor per chunk (97 MB for amazon-video) came from mmap and spent
// more time in page faults than in the matrix product.
std::vector<uint32_t> Evaluator::Ranks(SequenceModel& model, Split split,
                                       const torch::Device& device, size_t users_per_chunk) const {
  const bool was_training = model.is_training();
  model.eval();
  const size_t chunks = (users_.size() + users_per_chunk - 1) / users_per_chunk;
  std::vector<std::vector<uint32_t>> chunk_ranks(chunks);
  auto run = [&](size_t first, size_t stride) {
    torch::NoGradGuard no_grad;  // thread-local
    torch::Tensor scratch;
    for (size_t c = first; c < chunks; c += stride) {
      const size_t begin = c * users_per_chunk;
      const size_t end = std::min(users_.size(), begin + users_per_chunk);
      std::vector<uint32_t> chunk(users_.begin() + begin, users_.begin() + end);
      chunk_ranks[c] = ChunkRanks(model, split, chunk, device, &scratch);
    }
  };
  const size_t workers = Workers(device, chunks);
  if (workers <= 1) {
    run(0, 1);
  } else {
    std::exception_ptr error = RunOnThreads(workers, run);
    if (error) {
      model.train(was_training);
      std::rethrow_exception(error);
    }
  }
  model.train(was_training);
  std::vector<uint32_t> ranks;
  ranks.reserve(users_.size());
  for (const std::vector<uint32_t>& r : chunk_ranks) ranks.insert(ranks.end(), r.begin(), r.end());
  return ranks;
}

// The libraries' thread settings are process-wide (a new thread takes LibTorch's last setting, the
// BLAS has one pool): they are set to 1 while the workers run and put back after.
std::exception_ptr Evaluator::RunOnThreads(size_t workers,
                                           const std::function<void(size_t, size_t)>& run) {
  const uint32_t lib_threads = ComputeThreads();
  SetComputeThreads(1);
  std::vector<std::exception_ptr> errors(workers);
  std::vector<std::thread> threads;
  for (size_t w = 0; w < workers; ++w)
    threads.emplace_back([&, w] {
      try {
        at::set_num_threads(1);  // this thread's OpenMP teams too
        run(w, workers);
      } catch (...) {
        errors[w] = std::current_exception();
      }
    });
  for (std::thread& t : threads) t.join();
  SetComputeThreads(lib_threads);
  for (const std::exception_ptr& e : errors)
    if (e) return e;
  return nullptr;
}

size_t Evaluator::Workers(const torch::Device& device, size_t chunks) const {
  return std::max<size_t>(1, std::min<size_t>(threads(device), chunks));
}

uint32_t Evaluator::threads(const torch::Device& device) const {
  return device.is_cpu() ? ResolveThreads(threads_) : 1;
}

std::vector<uint32_t> Evaluator::ChunkRanks(SequenceModel& model, Split s,
                                            const std::vector<uint32_t>& users,
                                            const torch::Device& device,
                                            torch::Tensor* scratch) const {
  std::vector<apen::ItemSpan> histories;
  for (uint32_t u : users) histories.push_back(History(u, s));
  Batch b;
  std::vector<int64_t> start = LayoutRows(histories, max_len_, /*packing=*/true, &b);
  std::vector<int64_t> last(users.size());
  for (size_t i = 0; i < users.size(); ++i)
    last[i] = start[i] + static_cast<int64_t>(histories[i].size) - 1;
  ModelInput in{ToTensor(b.items, {b.rows, b.len}, device),
                ToTensor(b.positions, {b.rows, b.len}, device),
                ToTensor(b.segments, {b.rows, b.len}, device)};
  torch::Tensor h = model.Hidden(in);  // fp32: scores and ranks in fp32 at any precision
  torch::Tensor hidden =
      h.reshape({-1, h.size(2)}).index_select(0, ToTensor(last, {int64_t(last.size())}, device));
  torch::Tensor scores, target;
  if (config_.sampled_negatives == 0) {
    scores = FullScores(model, s, users, hidden, scratch, &target);
  } else {
    scores = SampledScores(model, s, users, hidden, device);
    target = scores.narrow(1, 0, 1);
  }
  return CountRanks(scores, target);
}

// rank = number of candidates not scoring below the target (the target itself included): ties and
// NaNs count against the target. On CPU a plain loop: LibTorch's compare + bool-sum took 2-3x the
// time of the users x items product itself.
std::vector<uint32_t> Evaluator::CountRanks(const torch::Tensor& scores,
                                            const torch::Tensor& target) {
  const int64_t users = scores.size(0), width = scores.size(1);
  std::vector<uint32_t> out(users);
  if (!scores.device().is_cpu()) {
    torch::Tensor rank = (scores < target).logical_not().sum(1).to(torch::kCPU);
    const int64_t* r = rank.data_ptr<int64_t>();
    for (int64_t i = 0; i < users; ++i) out[i] = static_cast<uint32_t>(std::max<int64_t>(1, r[i]));
    return out;
  }
  const torch::Tensor s = scores.contiguous(), t = target.reshape({-1}).contiguous();
  const float* sp = s.data_ptr<float>();
  const float* tp = t.data_ptr<float>();
  at::parallel_for(0, users, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* row = sp + i * width;
      const float target_score = tp[i];
      int32_t count = 0;
      for (int64_t j = 0; j < width; ++j) count += !(row[j] < target_score);
      out[i] = static_cast<uint32_t>(std::max<int32_t>(1, count));
    }
  });
  return out;
}

torch::Tensor Evaluator::FullScores(SequenceModel& model, Split s,
                                    const std::vector<uint32_t>& users, const torch::Tensor& hidden,
                                    torch::Tensor* scratch, torch::Tensor* target_scores) const {
  const int64_t width = int64_t{num_items_} + 1;
  const int64_t rows = hidden.size(0);
  if (!scratch->defined() || scratch->size(0) < rows || scratch->device() != hidden.device())
    *scratch = torch::empty({rows, width}, hidden.options());
  torch::Tensor scores = scratch->narrow(0, 0, rows);  // [U, num_items + 1], rows contiguous
  torch::mm_out(scores, hidden, model.ItemTable().t());
  std::vector<int64_t> targets(users.size()), excluded;
  const HistorySets& hist = s == Split::kValid ? valid_history_ : test_history_;
  for (size_t i = 0; i < users.size(); ++i) {
    const uint32_t u = users[i];
    targets[i] = static_cast<int64_t>(i) * width + Target(u, s);
    excluded.push_back(static_cast<int64_t>(i) * width);  // item 0: padding
    if (!config_.exclude_history) continue;
    for (const uint32_t* it = hist.Begin(u); it != hist.Begin(u) + hist.Size(u); ++it)
      if (*it != Target(u, s)) excluded.push_back(static_cast<int64_t>(i) * width + *it);
  }
  const torch::Device device = scores.device();
  torch::Tensor flat = scores.view({-1});
  *target_scores =
      flat.index_select(0, ToTensor(targets, {int64_t(targets.size())}, device)).unsqueeze(1);
  flat.index_fill_(0, ToTensor(excluded, {int64_t(excluded.size())}, device),
                   -std::numeric_limits<float>::infinity());
  return scores;
}

std::vector<int64_t> Evaluator::Candidates(uint32_t u, Split s) const {
  std::vector<int64_t> cands;
  std::vector<uint8_t> taken(num_items_ + 1, 0);
  AppendCandidates(u, s, &taken, &cands);
  return cands;
}

// Draws K distinct items outside u's history and target; `taken` is all zeros before and after.
void Evaluator::AppendCandidates(uint32_t u, Split s, std::vector<uint8_t>* taken_ptr,
                                 std::vector<int64_t>* cands) const {
  std::vector<uint8_t>& taken = *taken_ptr;
  const uint32_t k = config_.sampled_negatives;
  const HistorySets& hist = s == Split::kValid ? valid_history_ : test_history_;
  const uint32_t target = Target(u, s);
  Rng rng(Seed({config_.seed, kCandidatesTag, static_cast<uint64_t>(s), u}));
  const uint32_t* h = hist.Begin(u);
  for (size_t j = 0; j < hist.Size(u); ++j) taken[h[j]] = 1;
  taken[target] = 1;
  const size_t first = cands->size();
  cands->push_back(target);
  while (cands->size() < first + 1 + k) {
    const uint32_t item = static_cast<uint32_t>(1 + rng.Below(num_items_));
    if (taken[item]) continue;
    taken[item] = 1;
    cands->push_back(item);
  }
  for (size_t j = 0; j < hist.Size(u); ++j) taken[h[j]] = 0;
  for (size_t j = first; j < cands->size(); ++j) taken[(*cands)[j]] = 0;
}

torch::Tensor Evaluator::SampledScores(SequenceModel& model, Split s,
                                       const std::vector<uint32_t>& users,
                                       const torch::Tensor& hidden,
                                       const torch::Device& device) const {
  const uint32_t k = config_.sampled_negatives;
  std::vector<int64_t> cands;
  cands.reserve(users.size() * (k + 1));
  std::vector<uint8_t> taken(num_items_ + 1, 0);
  for (uint32_t u : users) AppendCandidates(u, s, &taken, &cands);
  const int64_t n = static_cast<int64_t>(users.size());
  torch::Tensor c = ToTensor(cands, {n * (k + 1)}, device);
  torch::Tensor w =
      model.ItemTable().index_select(0, c).view({n, int64_t{k} + 1, -1});  // [U, K+1, d]
  return torch::bmm(w, hidden.unsqueeze(2)).squeeze(2);                    // [U, K+1]
}

}  // namespace perflaw::worker
