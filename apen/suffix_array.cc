#include "apen/suffix_array.h"

#include <algorithm>
#include <utility>

namespace perflaw::apen {

void SuffixArray::Build(ItemSpan x) {
  n_ = x.size;
  sa_.resize(n_);
  rank_.resize(n_);
  lcp_.resize(n_);
  tmp_.resize(n_);
  if (n_ == 0) return;
  SortByFirstItem(x);
  uint32_t classes = rank_[sa_[n_ - 1]] + 1;
  for (uint32_t k = 1; classes < n_; k *= 2) classes = DoublingRound(k, classes);
  ComputeLcp(x);
}

// Orders suffixes by their first item; rank_ gets the dense rank of each value.
void SuffixArray::SortByFirstItem(ItemSpan x) {
  keys_.resize(n_);
  for (size_t i = 0; i < n_; ++i) keys_[i] = (uint64_t{x[i]} << 32) | i;
  std::sort(keys_.begin(), keys_.end());
  uint32_t cls = 0;
  for (size_t p = 0; p < n_; ++p) {
    if (p > 0 && (keys_[p] >> 32) != (keys_[p - 1] >> 32)) ++cls;
    sa_[p] = static_cast<uint32_t>(keys_[p]);
    rank_[sa_[p]] = cls;
  }
}

uint32_t SuffixArray::DoublingRound(uint32_t k, uint32_t classes) {
  const uint32_t n = static_cast<uint32_t>(n_);
  // Order by the second key rank[i + k]: suffixes shorter than k + 1 (no second half) first.
  uint32_t t = 0;
  for (uint32_t i = n > k ? n - k : 0; i < n; ++i) tmp_[t++] = i;
  for (uint32_t p = 0; p < n; ++p) {
    if (sa_[p] >= k) tmp_[t++] = sa_[p] - k;
  }
  // Stable counting sort by the first key rank[i].
  count_.assign(classes + 1, 0);
  for (uint32_t i = 0; i < n; ++i) ++count_[rank_[i] + 1];
  for (uint32_t c = 0; c < classes; ++c) count_[c + 1] += count_[c];
  for (uint32_t q = 0; q < n; ++q) sa_[count_[rank_[tmp_[q]]]++] = tmp_[q];
  // New ranks: equal iff both keys are equal ("no second half" is its own key).
  auto second = [&](uint32_t i) { return i + k < n ? rank_[i + k] : ~0u; };
  uint32_t cls = 0;
  tmp_[sa_[0]] = 0;
  for (uint32_t p = 1; p < n; ++p) {
    uint32_t a = sa_[p - 1], b = sa_[p];
    if (rank_[a] != rank_[b] || second(a) != second(b)) ++cls;
    tmp_[b] = cls;
  }
  std::swap(rank_, tmp_);
  return cls + 1;
}

// Kasai et al.: the LCP drops by at most one from suffix i to suffix i + 1.
void SuffixArray::ComputeLcp(ItemSpan x) {
  const size_t n = n_;
  size_t h = 0;
  lcp_[0] = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t r = rank_[i];
    if (r == 0) {
      h = 0;
      continue;
    }
    size_t j = sa_[r - 1];
    while (i + h < n && j + h < n && x[i + h] == x[j + h]) ++h;
    lcp_[r] = static_cast<uint32_t>(h);
    if (h > 0) --h;
  }
}

}  // namespace perflaw::apen
