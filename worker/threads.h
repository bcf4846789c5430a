// How many CPU threads LibTorch and the system BLAS use (internal header: needs LibTorch at link).
#pragma once

#include <cstdint>

namespace perflaw::worker {

// Gives a point's computation `threads` CPU threads (0: one per core). With OpenBLAS (a pool of
// its own, which LibTorch's setting does not reach) the BLAS gets them and LibTorch's intra-op pool
// runs on 1: two spinning pools on the same cores slowed a step down 2.6x. With a BLAS that follows
// LibTorch's OpenMP pool (MKL), LibTorch gets them.
void SetComputeThreads(uint32_t threads);

// The count the last SetComputeThreads resolved to (0 before any call).
uint32_t ComputeThreads();

// A point's `threads` key as a count: 0 (the libraries' default) is one per core.
uint32_t ResolveThreads(uint32_t threads);

}  // namespace perflaw::worker
