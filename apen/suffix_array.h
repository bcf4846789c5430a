// Suffix array + LCP array of an integer sequence, the suffix structure behind the exact
// Lempel-Ziv entropy estimate and the exact-matching (r < 1) ApEn / SampEn counts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "apen/sequences.h"

namespace perflaw::apen {

// Built by prefix doubling with counting sorts (Manber-Myers): one O(n log n) sort of the values,
// then O(n) per doubling round; rounds stop once every suffix is distinguished (after about
// log2(max LCP) + 1 rounds), so O(n log n) worst case and 1-2 rounds on unpredictable data.
// The LCP array follows by Kasai's O(n) algorithm. One object is reused across many sequences
// so its buffers are allocated once per thread. Sequences must be shorter than 2^32 items.
class SuffixArray {
 public:
  // Builds the arrays for x, replacing any previous content.
  void Build(ItemSpan x);

  size_t size() const { return n_; }
  // sa()[p]: start of the p-th smallest suffix (a suffix that is a proper prefix of another
  // sorts first).
  const uint32_t* sa() const { return sa_.data(); }
  // rank()[i]: position of suffix i in sa() (the inverse permutation).
  const uint32_t* rank() const { return rank_.data(); }
  // lcp()[p]: length of the longest common prefix of suffixes sa()[p-1] and sa()[p];
  // lcp()[0] = 0.
  const uint32_t* lcp() const { return lcp_.data(); }

 private:
  void SortByFirstItem(ItemSpan x);
  // One doubling round: orders suffixes by their first 2k items given the order by k items.
  // Returns the number of distinct classes after the round.
  uint32_t DoublingRound(uint32_t k, uint32_t classes);
  void ComputeLcp(ItemSpan x);

  size_t n_ = 0;
  std::vector<uint32_t> sa_, rank_, lcp_, tmp_, count_;
  std::vector<uint64_t> keys_;
};

}  // namespace perflaw::apen
