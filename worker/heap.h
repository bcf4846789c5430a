// The worker's heap, set up once at start-up (issue 20, item 1). With glibc's defaults, the large
// tensor buffers of a training step are above the dynamic mmap threshold until it has adapted, and
// the heap top is trimmed back to the kernel after each step: every buffer is mapped, faulted in
// and zeroed again, which made a point's first epoch about 5x its later ones. scripts/bench/heap.sh
// measures the choices side by side; docs/benchmarks.md has the figures that decided this one.
#pragma once

#include <string>

#include "apen/status.h"

namespace perflaw::worker {

enum class HeapMode {
  kGlibc,  // glibc's defaults (dynamic mmap threshold, trim at 128 KiB): the reference
  kTuned,  // glibc with a fixed mmap threshold and no trimming below trim_threshold (the default)
};

struct HeapOptions {
  HeapMode mode = HeapMode::kTuned;
  // Allocations up to this size come from the heap and are reused; larger ones are mmapped. glibc
  // accepts at most 32 MiB on 64-bit systems (HEAP_MAX_SIZE / 2); setting it turns the dynamic
  // threshold off.
  size_t mmap_threshold = size_t{32} << 20;
  // Free memory at the top of the heap is given back to the kernel only above this size.
  size_t trim_threshold = size_t{1} << 30;
  // Extra memory asked of the kernel each time the heap grows, so that growth is rare.
  size_t top_pad = size_t{64} << 20;

  bool IsValid(std::string* why) const;
};

// "glibc" or "tuned"; InvalidArgument naming the accepted values otherwise.
StatusOr<HeapMode> ParseHeapMode(const std::string& name);

// Applies `options` to the process's allocator (mallopt). Call it first thing in main, before the
// large allocations it is for. Internal if glibc refuses a value.
Status ConfigureHeap(const HeapOptions& options);

}  // namespace perflaw::worker
