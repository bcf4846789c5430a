// The suffix array and LCP array against sorting the suffixes directly.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "apen/suffix_array.h"

namespace perflaw::apen {
namespace {

void ExpectMatchesBruteForce(const std::vector<uint32_t>& x, SuffixArray& sa) {
  const size_t n = x.size();
  sa.Build({x.data(), n});
  ASSERT_EQ(n, sa.size());
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return std::lexicographical_compare(x.begin() + a, x.end(), x.begin() + b, x.end());
  });
  for (size_t p = 0; p < n; ++p) {
    ASSERT_EQ(order[p], sa.sa()[p]) << "n=" << n << " p=" << p;
    ASSERT_EQ(p, sa.rank()[order[p]]);
    size_t h = 0;
    if (p > 0) {
      while (order[p - 1] + h < n && order[p] + h < n && x[order[p - 1] + h] == x[order[p] + h])
        ++h;
    }
    ASSERT_EQ(h, sa.lcp()[p]) << "n=" << n << " p=" << p;
  }
}

TEST(SuffixArray, MatchesSortedSuffixesOnRandomAndRepetitiveInputs) {
  std::mt19937_64 rng(1);
  SuffixArray sa;  // reused on purpose: buffers must not leak state between builds
  for (int trial = 0; trial < 2000; ++trial) {
    const size_t n = rng() % 120;
    const uint32_t alphabet = 1 + rng() % (trial % 2 ? 3 : 100000);
    const size_t period = 1 + rng() % 9;
    std::vector<uint32_t> x(n);
    for (size_t i = 0; i < n; ++i) {
      x[i] = (trial % 3 == 0 && i >= period) ? x[i - period] : uint32_t(rng() % alphabet);
      if (trial % 5 == 0) x[i] = uint32_t(rng()) | 0x80000000u;  // ids near 2^32
    }
    ExpectMatchesBruteForce(x, sa);
  }
}

TEST(SuffixArray, ConstantSequence) {
  SuffixArray sa;
  std::vector<uint32_t> x(50, 7);
  ExpectMatchesBruteForce(x, sa);
  EXPECT_EQ(49u, sa.sa()[0]);  // the shortest suffix sorts first
  EXPECT_EQ(49u, sa.lcp()[49]);
}

}  // namespace
}  // namespace perflaw::apen
