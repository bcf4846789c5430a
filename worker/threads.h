// How many CPU threads LibTorch and the system BLAS use (internal header: needs LibTorch at link).
#pragma once

#include <cstdint>

namespace perflaw::worker {

// Sets LibTorch's intra-op threads and OpenBLAS's own pool, which LibTorch's setting does not reach
// (Debian's LibTorch calls the system BLAS; its idle threads spin and doubled the CPU time of a
// 1-thread run). 0 leaves the libraries' defaults.
void SetComputeThreads(uint32_t threads);

// A point's `threads` key as a count: 0 (the libraries' default) is one per core.
uint32_t ResolveThreads(uint32_t threads);

}  // namespace perflaw::worker
