// Data-quality measures of item sequences: ApEn, SampEn, Lempel-Ziv entropy rate, Shannon entropy,
// zlib compression ratio, the dataset's transition entropy (apen/transition.h), and the law's data
// term D' = tokens x ApEn.
//
// All per-user measures are computed on each user's sequence truncated to its last L items
// (max_seq_len), then aggregated over users. Item ids are compared as raw integers (Chebyshev
// distance |a - b|), exactly as the Performance Law authors' code does, so a tolerance r < 1 means
// exact pattern matching. Definitions, conventions and algorithms: docs/measures.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "apen/sequences.h"
#include "apen/transition.h"

namespace perflaw::apen {

// ---- Per-sequence measures (exact; see quality.cc for the algorithms) ----
// Each returns NaN for invalid parameters (m < 1, r < 0 or NaN).

// Pincus approximate entropy, ApEn(m, r) = |Phi^{m+1} - Phi^m| with
// Phi^k = (1 / (n-k+1)) * sum_i ln(C_i^k), C_i^k = #{j : max_t |x[i+t] - x[j+t]| <= r} / (n-k+1),
// over all n-k+1 templates of length k, self-matches counted. Defined for n >= m + 1; returns NaN
// otherwise (Phi^{m+1} would average over zero templates).
// Cost: O(n log n) for r < 1; for r >= 1, O(n log n + P m) where P is the number of template
// pairs whose first items are within r (quadratic only when r spans most of the id range).
double ApproximateEntropy(ItemSpan x, int m, double r);

// Sample entropy (Richman & Moorman), SampEn(m, r) = -ln(A / B): B = matching pairs i != j of
// length-m templates, A = of length m+1, both over the first n-m templates, self-matches
// excluded. Returns NaN when n <= m or B = 0, +infinity when A = 0 < B. Same cost as ApEn.
double SampleEntropy(ItemSpan x, int m, double r);

// Lempel-Ziv (Kontoyiannis) entropy-rate estimate in bits per item:
// H = n log2(n) / sum_i Lambda_i, Lambda_i = length of the shortest substring starting at i that
// does not occur starting at any j < i (occurrences may overlap i; when every such prefix occurs,
// Lambda_i = n - i + 1). Computed exactly with a suffix array in O(n log n). Returns NaN for n < 2.
double LempelZivEntropy(ItemSpan x);

// The sum of Lambda_i above (exposed for tests and for pooled estimates); 0 for n = 0.
uint64_t LempelZivLambdaSum(ItemSpan x);

// ---- Dataset-level summary ----

// The kept id stream (every user's truncated sequence, users in order, each id as 4 bytes
// little-endian) is compressed in independent chunks of this many raw bytes (the last one may be
// shorter); the ratio is the sum of compressed sizes over the raw size. Chunks make the ratio
// independent of the thread count and cost little against one stream (deflate's window is 32 KiB).
inline constexpr size_t kZlibChunkBytes = size_t{1} << 20;

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
  // H(next item | previous item) over all pairs of the kept stream (apen/transition.h).
  bool transition = true;
  // zlib compression level, 1..9. Level 1 by default: on item-id streams zlib's default level 6
  // is ~6x slower (lazy matching over long hash chains) for a ratio within 0.1% (docs/measures.md).
  int zlib_level = 1;
  // Worker threads (0 = hardware concurrency). Results do not depend on it.
  int threads = 0;

  // Rejects m < 1, r < 0 or non-finite, zlib_level outside 1..9, threads < 0, with a message
  // naming the option
  // (as the CLI spells it, e.g. "--m must be >= 1, got 0").
  bool IsValid(std::string* why) const;
};

// An aggregate over users of one per-user measure. Means are NaN when the measure was not
// computed or no user has a finite value.
struct UserAggregate {
  // Unweighted mean over the users with a finite value.
  double mean = std::numeric_limits<double>::quiet_NaN();
  // Mean over the same users weighted by each user's (truncated) length.
  double weighted_mean = std::numeric_limits<double>::quiet_NaN();
  uint64_t users_defined = 0;    // users contributing to the means
  uint64_t users_undefined = 0;  // users where the measure is NaN (too short, B = 0, ...)
  uint64_t users_infinite = 0;   // users where it is +infinity (SampEn with A = 0); excluded
};

struct QualitySummary {
  // False until ComputeQuality finished; `message` then says "ok" or why it did not run
  // (invalid options).
  bool ok = false;
  std::string message = "not run";
  QualityOptions options;
  uint64_t users = 0;
  uint64_t tokens = 0;  // interactions kept after truncation
  UserAggregate apen;
  UserAggregate sampen;
  UserAggregate lz;  // bits per item
  // Entropy of the item distribution over kept tokens, bits; NaN if not computed or no tokens.
  double shannon_bits = std::numeric_limits<double>::quiet_NaN();
  // Compressed / raw bytes of the kept id stream (see kZlibChunkBytes); NaN if not computed or
  // no tokens.
  double zlib_ratio = std::numeric_limits<double>::quiet_NaN();
  // Transition entropy of the kept stream; all NaN / 0 if not computed.
  TransitionEntropy transition;
  // tokens x apen.mean: the Performance Law's data term; NaN when apen.mean is.
  double d_prime = std::numeric_limits<double>::quiet_NaN();
};

// Computes every enabled measure over `seqs`. With invalid options it returns ok = false and the
// reason in `message`, computing nothing.
QualitySummary ComputeQuality(const Sequences& seqs, const QualityOptions& options);

}  // namespace perflaw::apen
