// Exactness of the data-quality measures against brute-force transcriptions of their definitions,
// hand-computed cases, and the dataset-level aggregation.
#include "apen/quality.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "tests/apen/quality_brute_force.h"

namespace perflaw::apen {
namespace {

using brute_force::BruteApEn;
using brute_force::BruteLambdaSum;
using brute_force::BruteSampEn;

using Seq = brute_force::Seq;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

ItemSpan Span(const Seq& x) { return {x.data(), x.size()}; }

void ExpectClose(double expected, double actual, const std::string& what) {
  if (std::isnan(expected)) {
    EXPECT_TRUE(std::isnan(actual)) << what << ": expected NaN, got " << actual;
  } else if (std::isinf(expected)) {
    EXPECT_EQ(expected, actual) << what;
  } else {
    EXPECT_NEAR(expected, actual, 1e-12 * std::max(1.0, std::fabs(expected))) << what;
  }
}

// Random sequences of several shapes: uniform, periodic with noise, and repeated blocks (long
// LCPs), over small and large alphabets.
Seq RandomSequence(std::mt19937_64& rng, size_t n, uint32_t alphabet) {
  std::uniform_int_distribution<uint32_t> item(1, alphabet);
  Seq x(n);
  const int shape = rng() % 3;
  const size_t period = 1 + rng() % 6;
  for (size_t i = 0; i < n; ++i) {
    if (shape == 1 && i >= period && rng() % 8 != 0) {
      x[i] = x[i - period];
    } else if (shape == 2 && i >= 4 && rng() % 2 == 0) {
      x[i] = x[i - 1 - rng() % 4];
    } else {
      x[i] = item(rng);
    }
  }
  return x;
}

std::string Describe(const Seq& x, int m, double r) {
  std::string s = "m=" + std::to_string(m) + " r=" + std::to_string(r) + " x=[";
  for (uint32_t v : x) s += std::to_string(v) + " ";
  return s + "]";
}

TEST(QualityBruteForce, ApEnAndSampEnMatchTheDefinitionOnRandomInputs) {
  std::mt19937_64 rng(20241201);
  const uint32_t alphabets[] = {1, 2, 3, 5, 12, 40, 1000};
  const double tolerances[] = {0, 0.2, 1, 2.5, 10};
  int checked = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const Seq x = RandomSequence(rng, rng() % 70, alphabets[rng() % 7]);
    for (int m = 1; m <= 4; ++m) {
      for (double r : tolerances) {
        const std::string what = Describe(x, m, r);
        ExpectClose(BruteApEn(x, m, r), ApproximateEntropy(Span(x), m, r), "ApEn " + what);
        ExpectClose(BruteSampEn(x, m, r), SampleEntropy(Span(x), m, r), "SampEn " + what);
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 400 * 4 * 5);
}

TEST(QualityBruteForce, LambdaSumMatchesTheDefinitionOnRandomInputs) {
  std::mt19937_64 rng(7);
  const uint32_t alphabets[] = {1, 2, 3, 5, 12, 1000};
  for (int trial = 0; trial < 1500; ++trial) {
    const Seq x = RandomSequence(rng, rng() % 90, alphabets[rng() % 6]);
    ASSERT_EQ(BruteLambdaSum(x), LempelZivLambdaSum(Span(x))) << Describe(x, 0, 0);
  }
}

// ---- Hand-computed cases ----

TEST(QualityHand, ConstantSequenceHasZeroApEnAndSampEn) {
  const Seq x(30, 5);
  for (double r : {0.0, 0.2, 3.0}) {
    EXPECT_EQ(0.0, ApproximateEntropy(Span(x), 2, r));
    EXPECT_EQ(0.0, SampleEntropy(Span(x), 2, r));
  }
}

TEST(QualityHand, ShortSequence) {
  // x = 1 2 1 1, m = 1, r = 0 (exact).
  // Phi^1: templates 1,2,1,1 have 3,1,3,3 matches of 4: (3 ln(3/4) + ln(1/4)) / 4.
  // Phi^2: templates 12, 21, 11 are distinct: ln(1/3). ApEn = |ln(1/3) - Phi^1| = 0.5362772...
  const Seq x = {1, 2, 1, 1};
  const double phi1 = (3 * std::log(0.75) + std::log(0.25)) / 4;
  EXPECT_NEAR(std::fabs(std::log(1.0 / 3) - phi1), ApproximateEntropy(Span(x), 1, 0), 1e-15);
  EXPECT_NEAR(0.5362772, ApproximateEntropy(Span(x), 1, 0), 1e-7);
  // SampEn: first 3 templates 1,2,1 give B = 1 pair; 12, 21, 11 give A = 0: +infinity.
  EXPECT_EQ(kInf, SampleEntropy(Span(x), 1, 0));
  // With r = 1 every item matches every other: Phi^1 = Phi^2 = 0 and A = B.
  EXPECT_EQ(0.0, ApproximateEntropy(Span(x), 1, 1));
  EXPECT_EQ(0.0, SampleEntropy(Span(x), 1, 1));
}

TEST(QualityHand, TooShortSequencesAreUndefined) {
  const Seq two = {3, 4};
  EXPECT_TRUE(std::isnan(ApproximateEntropy(Span(two), 2, 0.2)));  // n <= m
  EXPECT_FALSE(std::isnan(ApproximateEntropy(Span(two), 1, 0.2)));
  EXPECT_TRUE(std::isnan(SampleEntropy(Span(two), 1, 0.2)));  // one template: B = 0
  EXPECT_TRUE(std::isnan(LempelZivEntropy(Span(Seq{9}))));
  EXPECT_TRUE(std::isnan(ApproximateEntropy(Span(Seq{}), 1, 0)));
  EXPECT_EQ(0u, LempelZivLambdaSum(Span(Seq{})));
}

TEST(QualityHand, InvalidParametersGiveNaN) {
  const Seq x = {1, 2, 3, 4, 5};
  EXPECT_TRUE(std::isnan(ApproximateEntropy(Span(x), 0, 0.2)));
  EXPECT_TRUE(std::isnan(SampleEntropy(Span(x), 2, -1)));
  EXPECT_TRUE(std::isnan(ApproximateEntropy(Span(x), 2, kNaN)));
}

TEST(QualityHand, LempelZiv) {
  // aaaa: Lambda = 1, 4 (the suffix aaa occurs at 0), 3, 2; H = 4 log2 4 / 10.
  EXPECT_EQ(10u, LempelZivLambdaSum(Span(Seq{1, 1, 1, 1})));
  EXPECT_DOUBLE_EQ(0.8, LempelZivEntropy(Span(Seq{1, 1, 1, 1})));
  // abab: Lambda = 1, 1 (b is new), 3 (ab occurs at 0), 2; H = 8 / 7.
  EXPECT_EQ(7u, LempelZivLambdaSum(Span(Seq{1, 2, 1, 2})));
  EXPECT_DOUBLE_EQ(8.0 / 7.0, LempelZivEntropy(Span(Seq{1, 2, 1, 2})));
  // All distinct: every Lambda is 1, H = log2 n.
  EXPECT_EQ(8u, LempelZivLambdaSum(Span(Seq{8, 7, 6, 5, 4, 3, 2, 1})));
  EXPECT_DOUBLE_EQ(3.0, LempelZivEntropy(Span(Seq{8, 7, 6, 5, 4, 3, 2, 1})));
}

TEST(QualityOrdering, RandomSequenceHasHigherLzEntropyThanPeriodicOne) {
  std::mt19937_64 rng(3);
  Seq uniform(3000), periodic(3000);
  for (size_t i = 0; i < uniform.size(); ++i) {
    uniform[i] = 1 + rng() % 100;
    periodic[i] = 1 + (i * 13) % 7;
  }
  const double h_uniform = LempelZivEntropy(Span(uniform));
  const double h_periodic = LempelZivEntropy(Span(periodic));
  EXPECT_GT(h_uniform, 2.0);
  EXPECT_LT(h_periodic, 0.1);
  EXPECT_GT(ApproximateEntropy(Span(uniform), 2, 0.2), ApproximateEntropy(Span(periodic), 2, 0.2));
}

// ---- Dataset level ----

Sequences MakeSequences(const std::vector<Seq>& users) {
  Sequences s;
  for (const Seq& u : users) s.AddUser(u.data(), u.size());
  return s;
}

QualityOptions Exact(int m) {
  QualityOptions o;
  o.m = m;
  o.r = 0;
  o.threads = 1;
  return o;
}

TEST(QualityDataset, MeansCountsAndDataTerm) {
  const Seq a = {4, 4, 4, 4};           // ApEn 0; SampEn 0
  const Seq b = {1, 2, 1, 1, 2, 3, 1};  // defined, longer
  const Seq c = {1, 2, 1, 1};           // SampEn +infinity (hand case above)
  const Seq d = {9};                    // too short: undefined for all
  const QualitySummary s = ComputeQuality(MakeSequences({a, b, c, d}), Exact(1));
  ASSERT_TRUE(s.ok) << s.message;
  EXPECT_EQ("ok", s.message);
  EXPECT_EQ(4u, s.users);
  EXPECT_EQ(16u, s.tokens);
  const double ea = ApproximateEntropy(Span(a), 1, 0), eb = ApproximateEntropy(Span(b), 1, 0),
               ec = ApproximateEntropy(Span(c), 1, 0);
  EXPECT_DOUBLE_EQ((ea + eb + ec) / 3, s.apen.mean);
  EXPECT_DOUBLE_EQ((4 * ea + 7 * eb + 4 * ec) / 15, s.apen.weighted_mean);
  EXPECT_NE(s.apen.mean, s.apen.weighted_mean);
  EXPECT_EQ(3u, s.apen.users_defined);
  EXPECT_EQ(1u, s.apen.users_undefined);
  EXPECT_EQ(0u, s.apen.users_infinite);
  EXPECT_DOUBLE_EQ(16 * s.apen.mean, s.d_prime);
  // SampEn: a and b defined, c infinite, d undefined.
  const double sa = SampleEntropy(Span(a), 1, 0), sb = SampleEntropy(Span(b), 1, 0);
  EXPECT_EQ(2u, s.sampen.users_defined);
  EXPECT_EQ(1u, s.sampen.users_infinite);
  EXPECT_EQ(1u, s.sampen.users_undefined);
  EXPECT_DOUBLE_EQ((sa + sb) / 2, s.sampen.mean);
  EXPECT_DOUBLE_EQ((4 * sa + 7 * sb) / 11, s.sampen.weighted_mean);
  EXPECT_EQ(3u, s.lz.users_defined);
  EXPECT_EQ(1u, s.lz.users_undefined);
}

TEST(QualityDataset, TruncatesToTheLastItems) {
  const Seq a = {5, 6, 7, 1, 1, 1, 1};
  const Seq b = {1, 2};
  QualityOptions o = Exact(1);
  o.max_seq_len = 4;
  const QualitySummary s = ComputeQuality(MakeSequences({a, b}), o);
  ASSERT_TRUE(s.ok);
  EXPECT_EQ(6u, s.tokens);
  const Seq a_last = {1, 1, 1, 1};
  const double expected =
      (ApproximateEntropy(Span(a_last), 1, 0) + ApproximateEntropy(Span(b), 1, 0)) / 2;
  EXPECT_DOUBLE_EQ(expected, s.apen.mean);
  EXPECT_NE(ApproximateEntropy(Span(a), 1, 0), ApproximateEntropy(Span(a_last), 1, 0));
  // Items 1 x5, 2 x1 over the kept tokens.
  EXPECT_DOUBLE_EQ(-(5.0 / 6 * std::log2(5.0 / 6) + 1.0 / 6 * std::log2(1.0 / 6)), s.shannon_bits);
}

TEST(QualityDataset, ShannonEntropyWithDenseAndHugeIds) {
  QualityOptions o = Exact(1);
  EXPECT_DOUBLE_EQ(1.0, ComputeQuality(MakeSequences({{1, 2}, {1, 2}}), o).shannon_bits);
  // Ids near 2^32 take the sorting path instead of a dense histogram. Shares 1/4, 1/4, 1/2.
  const uint32_t big = 4000000000u;
  const QualitySummary s = ComputeQuality(MakeSequences({{big, 1}, {1, big, 7, 7, 7, 7}}), o);
  EXPECT_DOUBLE_EQ(1.5, s.shannon_bits);
}

// Sum over independent kZlibChunkBytes slices of the stream, each compressed at the given level.
uint64_t CompressedChunkBytes(const std::vector<unsigned char>& raw, int level) {
  uint64_t total = 0;
  for (size_t begin = 0; begin < raw.size(); begin += kZlibChunkBytes) {
    const size_t len = std::min(kZlibChunkBytes, raw.size() - begin);
    uLongf size = compressBound(len);
    std::vector<unsigned char> packed(size);
    EXPECT_EQ(Z_OK, compress2(packed.data(), &size, raw.data() + begin, len, level));
    total += size;
  }
  return total;
}

TEST(QualityDataset, ZlibRatioIsCompressedOverRawLittleEndianBytes) {
  std::mt19937_64 rng(11);
  for (size_t users_count : {200, 12000}) {  // one chunk; several chunks split inside users
    std::vector<Seq> users;
    std::vector<unsigned char> raw;
    for (size_t u = 0; u < users_count; ++u) {
      Seq x(1 + rng() % 60);
      for (auto& v : x) v = 1 + rng() % 300 + (rng() % 4 == 0 ? 70000 : 0);
      for (size_t k = x.size() > 45 ? x.size() - 45 : 0; k < x.size(); ++k) {
        for (int b = 0; b < 4; ++b) raw.push_back((x[k] >> (8 * b)) & 0xff);
      }
      users.push_back(x);
    }
    if (users_count > 200) {
      ASSERT_GT(raw.size(), kZlibChunkBytes);
    }
    for (int level : {1, 6}) {
      QualityOptions o = Exact(2);
      o.max_seq_len = 45;
      o.zlib_level = level;
      o.threads = 2;
      const QualitySummary s = ComputeQuality(MakeSequences(users), o);
      ASSERT_EQ(raw.size(), 4 * s.tokens);
      EXPECT_DOUBLE_EQ(double(CompressedChunkBytes(raw, level)) / double(raw.size()), s.zlib_ratio)
          << users_count << " users, level " << level;
      EXPECT_LT(s.zlib_ratio, 1.0);
    }
  }
}

TEST(QualityDataset, EmptyDatasetAndDisabledMeasuresAreNaN) {
  const QualitySummary empty = ComputeQuality(Sequences{}, Exact(2));
  ASSERT_TRUE(empty.ok);
  EXPECT_EQ(0u, empty.tokens);
  EXPECT_TRUE(std::isnan(empty.apen.mean));
  EXPECT_TRUE(std::isnan(empty.d_prime));
  EXPECT_TRUE(std::isnan(empty.shannon_bits));
  EXPECT_TRUE(std::isnan(empty.zlib_ratio));
  QualityOptions o = Exact(2);
  o.apen = o.lz = o.zlib = false;
  const QualitySummary s = ComputeQuality(MakeSequences({{1, 2, 3, 1, 2, 3}}), o);
  EXPECT_TRUE(std::isnan(s.apen.mean));
  EXPECT_TRUE(std::isnan(s.lz.mean));
  EXPECT_TRUE(std::isnan(s.zlib_ratio));
  EXPECT_TRUE(std::isnan(s.d_prime));
  EXPECT_FALSE(std::isnan(s.sampen.mean));
  EXPECT_FALSE(std::isnan(s.shannon_bits));
}

// Enough users for many blocks and several zlib chunks; every field must be bit-identical.
TEST(QualityDataset, ResultsDoNotDependOnTheThreadCount) {
  std::mt19937_64 rng(5);
  std::vector<Seq> users;
  for (int u = 0; u < 24000; ++u)
    users.push_back(RandomSequence(rng, 1 + rng() % 80, 1 + rng() % 500));
  const Sequences seqs = MakeSequences(users);
  for (double r : {0.2, 2.0}) {
    QualityOptions o;
    o.max_seq_len = 50;
    o.r = r;
    o.zlib = r < 1;  // once is enough
    o.threads = 1;
    const QualitySummary one = ComputeQuality(seqs, o);
    ASSERT_TRUE(one.ok);
    ASSERT_GT(one.tokens, 3 * kZlibChunkBytes / 4) << "want several zlib chunks";
    ASSERT_GT(one.sampen.users_infinite, 0u);  // every kind of user occurs
    ASSERT_GT(one.sampen.users_undefined, 0u);
    for (int threads : {2, 3, 8}) {
      o.threads = threads;
      const QualitySummary s = ComputeQuality(seqs, o);
      for (auto [x, y] : {std::pair{one.apen, s.apen}, {one.sampen, s.sampen}, {one.lz, s.lz}}) {
        EXPECT_EQ(x.mean, y.mean) << threads;
        EXPECT_EQ(x.weighted_mean, y.weighted_mean) << threads;
        EXPECT_EQ(x.users_defined, y.users_defined);
        EXPECT_EQ(x.users_undefined, y.users_undefined);
        EXPECT_EQ(x.users_infinite, y.users_infinite);
      }
      EXPECT_EQ(one.shannon_bits, s.shannon_bits);
      if (o.zlib) {
        EXPECT_EQ(one.zlib_ratio, s.zlib_ratio);
      }
      EXPECT_EQ(one.d_prime, s.d_prime);
    }
    // And the aggregate is the plain mean of the per-user function.
    double sum = 0;
    uint64_t defined = 0;
    for (size_t u = 0; u < seqs.num_users(); ++u) {
      const double v = ApproximateEntropy(seqs.user(u).Last(50), 2, r);
      if (!std::isnan(v)) sum += v, ++defined;
    }
    EXPECT_EQ(defined, one.apen.users_defined);
    EXPECT_NEAR(sum / defined, one.apen.mean, 1e-12);
  }
}

TEST(QualityOptions, ValidationNamesTheOption) {
  std::string why;
  QualityOptions o;
  EXPECT_TRUE(o.IsValid(&why));
  o.m = 0;
  EXPECT_FALSE(o.IsValid(&why));
  EXPECT_EQ("--m must be >= 1, got 0", why);
  o = QualityOptions{};
  o.r = -0.5;
  EXPECT_FALSE(o.IsValid(&why));
  EXPECT_EQ("--r must be a finite number >= 0, got -0.5", why);
  o.r = std::numeric_limits<double>::infinity();
  EXPECT_FALSE(o.IsValid(&why));
  EXPECT_EQ("--r must be a finite number >= 0, got inf", why);
  o = QualityOptions{};
  o.zlib_level = 0;
  EXPECT_FALSE(o.IsValid(&why));
  EXPECT_EQ("--zlib-level must be in 1..9, got 0", why);
  o = QualityOptions{};
  o.threads = -1;
  EXPECT_FALSE(o.IsValid(&why));
  EXPECT_EQ("--threads must be >= 0 (0 = all cores), got -1", why);
  const QualitySummary s = ComputeQuality(MakeSequences({{1, 2, 3}}), o);
  EXPECT_FALSE(s.ok);
  EXPECT_EQ(why, s.message);
  EXPECT_EQ(0u, s.tokens);
}

TEST(QualityOptions, SummaryStartsAsNotRun) {
  const QualitySummary s;
  EXPECT_FALSE(s.ok);
  EXPECT_EQ("not run", s.message);
  EXPECT_TRUE(std::isnan(s.apen.mean));
}

}  // namespace
}  // namespace perflaw::apen
