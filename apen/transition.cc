// Transition entropy: one sort of the packed (previous, next) pairs gives every count the
// estimators need; sums run in key order, so results do not depend on anything but the data.
#include "apen/transition.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace perflaw::apen {
namespace {

constexpr double kLn2 = 0.69314718055994530942;

double XLogX(uint64_t n) {
  return n > 1 ? static_cast<double>(n) * std::log(static_cast<double>(n)) : 0.0;
}

// n * G(n), tabulated for small n: most pair counts are small.
double XG(uint64_t n) {
  static const std::array<double, 256> kTable = [] {
    std::array<double, 256> t{};
    for (size_t i = 1; i < t.size(); ++i) t[i] = static_cast<double>(i) * GrassbergerG(i);
    return t;
  }();
  return n < kTable.size() ? kTable[n] : static_cast<double>(n) * GrassbergerG(n);
}

// Running sums (nats x N) of one entropy's estimators over the count classes of a histogram.
struct Sums {
  double xlogx = 0;  // sum of n_i ln n_i
  double xg = 0;     // sum of n_i G(n_i)
  uint64_t classes = 0;

  void Add(uint64_t n) { xlogx += XLogX(n), xg += XG(n), ++classes; }
};

// Estimates (bits) of the entropy of a histogram with `total` counts, given its sums and the
// log term (sum of n ln n of the contexts: N ln N for one context).
EntropyEstimates Finish(double context_xlogx, const Sums& s, uint64_t contexts, uint64_t total) {
  EntropyEstimates e;
  if (total == 0) return e;
  const double n = static_cast<double>(total);
  const double plugin = (context_xlogx - s.xlogx) / n;
  e.plugin = plugin / kLn2;
  e.miller_madow = (plugin + static_cast<double>(s.classes - contexts) / (2 * n)) / kLn2;
  e.grassberger = (context_xlogx - s.xg) / n / kLn2;
  return e;
}

// Every consecutive pair of kept items, as (previous << 32 | next), sorted.
std::vector<uint64_t> SortedPairs(const Sequences& seqs, size_t max_seq_len) {
  std::vector<uint64_t> keys;
  for (size_t u = 0; u < seqs.num_users(); ++u) {
    const ItemSpan x = seqs.user(u).Last(max_seq_len);
    for (size_t i = 1; i < x.size; ++i) keys.push_back((uint64_t{x[i - 1]} << 32) | x[i]);
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

}  // namespace

double Digamma(double x) {
  double shift = 0;
  for (; x < 10; x += 1) shift -= 1 / x;
  const double r = 1 / (x * x);
  const double series =
      r * (1.0 / 12 - r * (1.0 / 120 - r * (1.0 / 252 - r * (1.0 / 240 - r * (5.0 / 660)))));
  return shift + std::log(x) - 0.5 / x - series;
}

double GrassbergerG(uint64_t n) {
  const double x = static_cast<double>(n);
  const double sign = n % 2 == 0 ? 0.5 : -0.5;
  return Digamma(x) + sign * (Digamma((x + 1) / 2) - Digamma(x / 2));
}

TransitionEntropy ComputeTransitionEntropy(const Sequences& seqs, size_t max_seq_len) {
  const std::vector<uint64_t> keys = SortedPairs(seqs, max_seq_len);
  TransitionEntropy t;
  t.pairs = keys.size();
  Sums pair_sums;
  double context_xlogx = 0;
  uint64_t context_count = 0;
  for (size_t i = 0; i < keys.size();) {
    size_t j = i + 1;
    while (j < keys.size() && keys[j] == keys[i]) ++j;
    const uint64_t n = j - i;
    pair_sums.Add(n);
    t.singleton_pairs += n == 1;
    context_count += n;
    if (j == keys.size() || (keys[j] >> 32) != (keys[i] >> 32)) {
      context_xlogx += XLogX(context_count);
      ++t.contexts;
      context_count = 0;
    }
    i = j;
  }
  t.distinct_pairs = pair_sums.classes;
  t.conditional = Finish(context_xlogx, pair_sums, t.contexts, t.pairs);

  std::vector<uint32_t> next(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) next[i] = static_cast<uint32_t>(keys[i]);
  std::sort(next.begin(), next.end());
  Sums item_sums;
  for (size_t i = 0; i < next.size();) {
    size_t j = i + 1;
    while (j < next.size() && next[j] == next[i]) ++j;
    item_sums.Add(j - i);
    i = j;
  }
  t.marginal = Finish(XLogX(t.pairs), item_sums, t.pairs > 0 ? 1 : 0, t.pairs);
  return t;
}

}  // namespace perflaw::apen
