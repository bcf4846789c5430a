#include "worker/threads.h"

#include <dlfcn.h>
#include <torch/torch.h>

#include <algorithm>
#include <thread>

namespace perflaw::worker {

void SetComputeThreads(uint32_t threads) {
  if (threads == 0) return;
  torch::set_num_threads(static_cast<int>(threads));
  using SetFn = void (*)(int);
  if (auto set = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set(static_cast<int>(threads));
}

uint32_t ResolveThreads(uint32_t threads) {
  if (threads > 0) return threads;
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace perflaw::worker
