// Brute-force references for the data-quality measures: direct O(n^2) (LZ: O(n^3))
// transcriptions of the definitions in apen/quality.h, shared by the quality tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace perflaw::apen::brute_force {

using Seq = std::vector<uint32_t>;

inline double ChebyshevDistance(const Seq& x, size_t i, size_t j, size_t k) {
  double d = 0;
  for (size_t t = 0; t < k; ++t) d = std::max(d, std::fabs(double(x[i + t]) - double(x[j + t])));
  return d;
}

// The classic Python ApEn (Wikipedia), as the Performance Law authors' code computes it.
inline double BruteApEn(const Seq& x, int m, double r) {
  const size_t n = x.size();
  if (n <= size_t(m)) return std::numeric_limits<double>::quiet_NaN();
  auto phi = [&](size_t k) {
    const size_t count = n - k + 1;
    double sum = 0;
    for (size_t i = 0; i < count; ++i) {
      size_t c = 0;
      for (size_t j = 0; j < count; ++j) c += ChebyshevDistance(x, i, j, k) <= r;
      sum += std::log(double(c) / double(count));
    }
    return sum / double(count);
  };
  return std::fabs(phi(m + 1) - phi(m));
}

inline double BruteSampEn(const Seq& x, int m, double r) {
  const size_t n = x.size();
  if (n <= size_t(m)) return std::numeric_limits<double>::quiet_NaN();
  double a = 0, b = 0;
  for (size_t i = 0; i < n - m; ++i) {
    for (size_t j = 0; j < n - m; ++j) {
      if (i == j) continue;
      b += ChebyshevDistance(x, i, j, m) <= r;
      a += ChebyshevDistance(x, i, j, m + 1) <= r;
    }
  }
  if (b == 0) return std::numeric_limits<double>::quiet_NaN();
  if (a == 0) return std::numeric_limits<double>::infinity();
  return -std::log(a / b);
}

// Every prefix length at every position against every earlier start.
inline uint64_t BruteLambdaSum(const Seq& x) {
  const size_t n = x.size();
  uint64_t sum = 0;
  for (size_t i = 0; i < n; ++i) {
    size_t lambda = n - i + 1;
    for (size_t len = 1; len <= n - i; ++len) {
      bool occurs = false;
      for (size_t j = 0; j < i && !occurs; ++j) {
        occurs = j + len <= n && std::equal(x.begin() + i, x.begin() + i + len, x.begin() + j);
      }
      if (!occurs) {
        lambda = len;
        break;
      }
    }
    sum += lambda;
  }
  return sum;
}

}  // namespace perflaw::apen::brute_force
