#include "worker/threads.h"

#include <dlfcn.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <thread>

namespace perflaw::worker {
namespace {

std::atomic<uint32_t> g_compute_threads{0};

using SetBlasThreadsFn = void (*)(int);

// OpenBLAS's own setter, when the process's BLAS is OpenBLAS (Debian's LibTorch calls the system
// BLAS); null otherwise (e.g. MKL, which follows LibTorch's OpenMP setting).
SetBlasThreadsFn OpenBlasSetter() {
  return reinterpret_cast<SetBlasThreadsFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
}

}  // namespace

void SetComputeThreads(uint32_t threads) {
  const uint32_t t = ResolveThreads(threads);
  g_compute_threads.store(t);
  if (SetBlasThreadsFn set_blas = OpenBlasSetter()) {
    // One pool computes. Debian's OpenBLAS is the pthreads build: its pool and LibTorch's OpenMP
    // pool both busy-wait between jobs, and with both at t > 1 they fought over the cores (the
    // reference point's 2-thread epoch took 2.6x its 1-thread epoch; scripts/bench/threads.sh). The
    // matrix products, most of a step's work beyond the smallest models, get the threads.
    torch::set_num_threads(1);
    set_blas(static_cast<int>(t));
  } else {
    torch::set_num_threads(static_cast<int>(t));
  }
}

uint32_t ComputeThreads() { return g_compute_threads.load(); }

uint32_t ResolveThreads(uint32_t threads) {
  if (threads > 0) return threads;
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace perflaw::worker
