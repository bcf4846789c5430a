// One way to spread independent tasks over threads, for the dataset measures (apen/quality.cc)
// and the law's fits and bootstrap (law/fit.cc).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace perflaw::apen {

// `threads` when > 0, else the machine's hardware threads (at least 1).
inline size_t ResolveThreads(int threads) {
  if (threads > 0) return static_cast<size_t>(threads);
  return std::max(1u, std::thread::hardware_concurrency());
}

// Runs fn(task, worker) for task in [0, tasks) on up to `threads` workers (worker in
// [0, workers)) taking tasks in order; with one worker, on the calling thread. A task that writes
// only its own slot gives results that do not depend on the thread count.
template <typename Fn>
void ParallelFor(size_t tasks, size_t threads, Fn fn) {
  const size_t workers = std::max<size_t>(1, std::min(threads, tasks));
  std::atomic<size_t> next{0};
  auto work = [&](size_t worker) {
    for (size_t t; (t = next.fetch_add(1)) < tasks;) fn(t, worker);
  };
  if (workers == 1) return work(0);
  std::vector<std::thread> pool;
  for (size_t w = 0; w < workers; ++w) pool.emplace_back(work, w);
  for (auto& t : pool) t.join();
}

}  // namespace perflaw::apen
