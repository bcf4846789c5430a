// Small, fast, seedable random numbers. Every random choice in the worker (batch order, negatives,
// dropout masks, evaluation users) derives from a counter-based seed such as Seed(run_seed, epoch,
// batch), so a run is reproducible and can resume mid-epoch without saving generator internals.
#pragma once

#include <cstdint>
#include <initializer_list>

#include "apen/hash.h"

namespace perflaw::worker {

using apen::Mix64;  // SplitMix64's finaliser: a bijective mix of 64 bits

// One seed from several counters (order matters).
inline uint64_t Seed(std::initializer_list<uint64_t> parts) {
  uint64_t h = 0x243f6a8885a308d3ULL;
  for (uint64_t p : parts) h = Mix64(h ^ Mix64(p));
  return h;
}

__extension__ typedef unsigned __int128 Uint128;  // __extension__: silences -Wpedantic.

// xoshiro256** (Blackman & Vigna).
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (uint64_t& w : s_) {
      seed = Mix64(seed);
      w = seed;
    }
  }
  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, n) without modulo bias (Lemire's multiply-shift with rejection); n > 0.
  uint64_t Below(uint64_t n) {
    uint64_t x = Next();
    Uint128 m = static_cast<Uint128>(x) * n;
    uint64_t low = static_cast<uint64_t>(m);
    if (low < n) {
      const uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        x = Next();
        m = static_cast<Uint128>(x) * n;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }
  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace perflaw::worker
