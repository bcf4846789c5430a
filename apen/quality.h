// Data-quality measures of item sequences: ApEn, SampEn, Lempel-Ziv entropy rate, Shannon entropy,
// zlib compression ratio, and the law's data term D' = tokens x ApEn.
//
// All per-user measures are computed on each user's sequence truncated to its last L items
// (max_seq_len), then aggregated over users. Item ids are compared as raw integers (Chebyshev
// distance |a - b|), exactly as the Performance Law authors' code does, so a tolerance r < 1 means
// exact pattern matching.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "apen/sequences.h"

namespace perflaw::apen {

// ---- Per-sequence measures (exact; see quality.cc for the algorithms) ----

// Pincus approximate entropy, ApEn(m, r) = |Phi^{m+1} - Phi^m| with
// Phi^k = (1 / (n-k+1)) * sum_i ln(C_i^k), C_i^k = #{j : max_t |x[i+t] - x[j+t]| <= r} / (n-k+1),
// self-matches counted. Defined for n >= m + 1; returns NaN otherwise.
double ApproximateEntropy(ItemSpan x, int m, double r);

// Sample entropy (Richman & Moorman), SampEn(m, r) = -ln(A / B): B = matching pairs i != j of
// length-m templates, A = of length m+1, both over the first n-m templates, self-matches
// excluded. Returns NaN when n <= m or B = 0, +infinity when A = 0 < B.
double SampleEntropy(ItemSpan x, int m, double r);

// Lempel-Ziv (Kontoyiannis) entropy-rate estimate in bits per item:
// H = n log2(n) / sum_i Lambda_i, Lambda_i = length of the shortest substring starting at i that
// does not occur starting at any j < i (when every such prefix occurs, Lambda_i = n - i + 1).
// Computed exactly with a suffix array. Returns NaN for n < 2.
double LempelZivEntropy(ItemSpan x);

// The sum of Lambda_i above (exposed for tests and for pooled estimates).
uint64_t LempelZivLambdaSum(ItemSpan x);

// ---- Dataset-level summary ----

struct QualityOptions {
  // Truncate each user to the last `max_seq_len` items; 0 keeps whole sequences.
  size_t max_seq_len = 0;
  // ApEn / SampEn embedding dimension; the authors use m in {1, 2, 4, 8}.
  int m = 2;
  // Absolute tolerance on raw item ids. r < 1 is exact matching.
  double r = 0.2;
  // Measures to compute; each can be switched off for speed.
  bool apen = true;
  bool sampen = true;
  bool lz = true;
  bool shannon = true;
  bool zlib = true;
  // Worker threads (0 = hardware concurrency).
  int threads = 0;

  // Rejects m < 1, r < 0 or non-finite, threads < 0, with a message naming the option.
  bool IsValid(std::string* why) const;
};

// An aggregate over users of one per-user measure.
struct UserAggregate {
  double mean = 0;           // unweighted mean over users where the measure is defined
  double weighted_mean = 0;  // mean weighted by each user's (truncated) length
  uint64_t users_defined = 0;    // users contributing to the means
  uint64_t users_undefined = 0;  // users where the measure is NaN (too short, B = 0, ...)
  uint64_t users_infinite = 0;   // users where it is +infinity (SampEn with A = 0); excluded
};

struct QualitySummary {
  QualityOptions options;
  uint64_t users = 0;
  uint64_t tokens = 0;  // interactions kept after truncation
  UserAggregate apen;
  UserAggregate sampen;
  UserAggregate lz;       // bits per item
  double shannon_bits = 0;      // entropy of the item distribution over kept tokens, bits
  double zlib_ratio = 0;        // compressed / raw bytes of the kept id stream (uint32 LE)
  double d_prime = 0;           // tokens x apen.mean: the Performance Law's data term
};

// Computes every enabled measure over `seqs`. Options must be valid.
QualitySummary ComputeQuality(const Sequences& seqs, const QualityOptions& options);

}  // namespace perflaw::apen
