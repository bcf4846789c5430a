#include "worker/heap.h"

#include <malloc.h>

#include <cstdint>

namespace perflaw::worker {

bool HeapOptions::IsValid(std::string* why) const {
  constexpr size_t kMaxMmapThreshold = size_t{32} << 20;  // glibc's limit on 64-bit systems
  if (mmap_threshold == 0 || mmap_threshold > kMaxMmapThreshold) {
    *why = "heap mmap_threshold must be in (0, 32 MiB], got " + std::to_string(mmap_threshold);
    return false;
  }
  // mallopt takes ints.
  if (trim_threshold < mmap_threshold || trim_threshold > INT32_MAX) {
    *why = "heap trim_threshold must be in [mmap_threshold, 2^31), got " +
           std::to_string(trim_threshold);
    return false;
  }
  if (top_pad > INT32_MAX) {
    *why = "heap top_pad must be below 2^31, got " + std::to_string(top_pad);
    return false;
  }
  return true;
}

StatusOr<HeapMode> ParseHeapMode(const std::string& name) {
  if (name == "glibc") return HeapMode::kGlibc;
  if (name == "tuned") return HeapMode::kTuned;
  return Status::InvalidArgument("--heap must be glibc or tuned, got '" + name + "'");
}

Status ConfigureHeap(const HeapOptions& options) {
  std::string why;
  if (!options.IsValid(&why)) return Status::InvalidArgument(why);
  if (options.mode == HeapMode::kGlibc) return Status::Ok();
  if (mallopt(M_MMAP_THRESHOLD, static_cast<int>(options.mmap_threshold)) != 1 ||
      mallopt(M_TRIM_THRESHOLD, static_cast<int>(options.trim_threshold)) != 1 ||
      mallopt(M_TOP_PAD, static_cast<int>(options.top_pad)) != 1)
    return Status::Internal("glibc refused the heap settings (mallopt)");
  return Status::Ok();
}

}  // namespace perflaw::worker
