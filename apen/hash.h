// Fast non-cryptographic 64-bit hashing: cache keys, payload checksums, user subsampling.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "apen/status.h"

namespace perflaw::apen {

// SplitMix64's finalizer: a bijective mix of one 64-bit word.
inline uint64_t Mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Maps a hash to [0, 1) with 53 bits of precision.
inline double UnitFromHash(uint64_t h) { return static_cast<double>(h >> 11) * 0x1.0p-53; }

// 64-bit hash of a byte range (four independent lanes, several GB/s). Stable across platforms
// of the same endianness; used for checksums and keys, not for security.
uint64_t HashBytes(const void* data, size_t size, uint64_t seed = 0);
inline uint64_t HashString(const std::string& s, uint64_t seed = 0) {
  return HashBytes(s.data(), s.size(), seed);
}

// Hash of a whole file's content (streamed). NotFound if it cannot be opened, InvalidArgument
// if it is not a regular file (see input_file.h).
StatusOr<uint64_t> HashFile(const std::string& path);

// 16 lowercase hex digits.
std::string Hex64(uint64_t x);

}  // namespace perflaw::apen
