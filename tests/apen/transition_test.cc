// Transition entropy H(next | previous) over a dataset: exact values on hand-made sequences, the
// estimators' bias, invariance to relabelling, and that it is not a function of length alone.
#include "apen/transition.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "apen/quality.h"

namespace perflaw::apen {
namespace {

constexpr double kGamma = 0.57721566490153286061;
constexpr double kLn2 = 0.69314718055994530942;

Sequences Make(const std::vector<std::vector<uint32_t>>& users) {
  Sequences s;
  for (const auto& u : users) s.AddUser(u.data(), u.size());
  return s;
}

TEST(TransitionTest, DigammaAndGrassbergerGKnownValues) {
  EXPECT_NEAR(Digamma(1), -kGamma, 1e-13);
  EXPECT_NEAR(Digamma(0.5), -kGamma - 2 * kLn2, 1e-13);
  EXPECT_NEAR(Digamma(10),
              -kGamma + 1 + 1 / 2. + 1 / 3. + 1 / 4. + 1 / 5. + 1 / 6. + 1 / 7. + 1 / 8. + 1 / 9.,
              1e-13);
  EXPECT_NEAR(GrassbergerG(1), -kGamma - kLn2, 1e-13);
  EXPECT_NEAR(GrassbergerG(2), 2 - kGamma - kLn2, 1e-13);
  EXPECT_NEAR(GrassbergerG(3), GrassbergerG(2), 1e-13);  // G(2n+1) = G(2n)
  EXPECT_NEAR(GrassbergerG(4), GrassbergerG(3) + 2 / 3., 1e-13);
  EXPECT_NEAR(GrassbergerG(100000), std::log(100000.0), 1e-9);  // G(n) -> ln n
}

TEST(TransitionTest, HandComputedCounts) {
  // Pairs (1,2) (2,1) (1,3) (1,2): context 1 has n = 3 with successors {2: 2, 3: 1}, context 2 has
  // n = 1 with {1: 1}.
  const TransitionEntropy t = ComputeTransitionEntropy(Make({{1, 2, 1, 3}, {1, 2}}));
  EXPECT_EQ(t.pairs, 4u);
  EXPECT_EQ(t.contexts, 2u);
  EXPECT_EQ(t.distinct_pairs, 3u);
  EXPECT_EQ(t.singleton_pairs, 2u);
  const double plugin = (3 * std::log(3.0) - 2 * std::log(2.0)) / 4;
  EXPECT_NEAR(t.conditional.plugin, plugin / kLn2, 1e-12);
  EXPECT_NEAR(t.conditional.miller_madow, (plugin + 1.0 / 8) / kLn2, 1e-12);
  const double g1 = GrassbergerG(1), g2 = GrassbergerG(2);
  EXPECT_NEAR(t.conditional.grassberger, (3 * std::log(3.0) - 2 * g2 - g1 - g1) / 4 / kLn2, 1e-12);
  // Next items {2: 2, 1: 1, 3: 1}.
  const double marginal = std::log(4.0) - 2 * std::log(2.0) / 4;
  EXPECT_NEAR(t.marginal.plugin, marginal / kLn2, 1e-12);
  EXPECT_NEAR(t.marginal.miller_madow, (marginal + 2.0 / 8) / kLn2, 1e-12);
  EXPECT_NEAR(t.mutual_information(), t.marginal.miller_madow - t.bits(), 1e-15);
}

TEST(TransitionTest, DeterministicChainHasZeroConditionalEntropy) {
  // Every user walks 1 -> 2 -> 3 -> ..., for varied lengths: the next item is always known.
  std::vector<std::vector<uint32_t>> users;
  for (uint32_t n = 2; n < 40; ++n) {
    users.emplace_back(n);
    std::iota(users.back().begin(), users.back().end(), 1u);
  }
  const TransitionEntropy t = ComputeTransitionEntropy(Make(users));
  EXPECT_EQ(t.conditional.plugin, 0.0);
  EXPECT_EQ(t.conditional.miller_madow, 0.0);
  EXPECT_GT(t.marginal.plugin, 4.0);  // the next item alone is far from known
  EXPECT_GT(t.mutual_information(), 4.0);
}

TEST(TransitionTest, EmptyAndSingleItemUsersHaveNoPairs) {
  const TransitionEntropy t = ComputeTransitionEntropy(Make({{}, {5}, {7}}));
  EXPECT_EQ(t.pairs, 0u);
  EXPECT_TRUE(std::isnan(t.bits()));
  EXPECT_TRUE(std::isnan(t.conditional.plugin));
  EXPECT_TRUE(std::isnan(t.marginal.grassberger));
}

// i.i.d. uniform draws over k items: H(next | previous) = log2 k. About 125 pairs per context
// over 16 successors: the plug-in estimate is biased low by about (k - 1) / (2 n ln 2) bits, which
// Miller-Madow removes.
TEST(TransitionTest, IidUniformIsLogKWithCorrectionAndLowWithout) {
  const uint32_t k = 16;
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> item(1, k);
  std::vector<std::vector<uint32_t>> users(100, std::vector<uint32_t>(21));
  for (auto& u : users)
    for (auto& v : u) v = item(rng);
  const TransitionEntropy t = ComputeTransitionEntropy(Make(users));
  ASSERT_EQ(t.pairs, 2000u);
  EXPECT_NEAR(t.conditional.miller_madow, 4.0, 0.03);
  EXPECT_NEAR(t.conditional.grassberger, 4.0, 0.03);
  EXPECT_LT(t.conditional.plugin, 4.0 - 0.06);
  EXPECT_NEAR(t.conditional.miller_madow - t.conditional.plugin, 15.0 / (2 * 125 * kLn2), 0.01);
  EXPECT_NEAR(t.mutual_information(), 0.0, 0.03);  // the previous item says nothing
}

TEST(TransitionTest, InvariantToItemRelabelling) {
  std::mt19937 rng(3);
  std::vector<uint32_t> label(1001);
  std::iota(label.begin(), label.end(), 0u);
  std::shuffle(label.begin() + 1, label.end(), rng);
  std::uniform_int_distribution<uint32_t> item(1, 1000);
  std::vector<std::vector<uint32_t>> users(300), relabelled(300);
  for (size_t u = 0; u < users.size(); ++u) {
    uint32_t v = item(rng);
    for (int i = 0; i < 30; ++i) {
      v = rng() % 3 == 0 ? item(rng) : (v % 1000) + 1;  // a chain with noise
      users[u].push_back(v);
      relabelled[u].push_back(label[v] * 7919u);  // and sparse ids
    }
  }
  const TransitionEntropy a = ComputeTransitionEntropy(Make(users));
  const TransitionEntropy b = ComputeTransitionEntropy(Make(relabelled));
  EXPECT_EQ(a.distinct_pairs, b.distinct_pairs);
  EXPECT_NEAR(a.conditional.plugin, b.conditional.plugin, 1e-12);
  EXPECT_NEAR(a.conditional.miller_madow, b.conditional.miller_madow, 1e-12);
  EXPECT_NEAR(a.conditional.grassberger, b.conditional.grassberger, 1e-12);
  EXPECT_NEAR(a.marginal.miller_madow, b.marginal.miller_madow, 1e-12);
}

// The point: two datasets with the same sequence lengths and no repeated items have the
// same ApEn at r < 1 (a function of length alone there) but different transition entropies.
TEST(TransitionTest, NotAFunctionOfLengthAlone) {
  const uint32_t k = 200;
  std::mt19937 rng(11);
  std::vector<std::vector<uint32_t>> walk, shuffled;
  for (int u = 0; u < 400; ++u) {
    const uint32_t n = 5 + rng() % 20, start = rng() % k;
    std::vector<uint32_t> cycle(n);
    for (uint32_t i = 0; i < n; ++i) cycle[i] = (start + i) % k + 1;  // 1 -> 2 -> ... -> k -> 1
    walk.push_back(cycle);
    std::vector<uint32_t> all(k);
    std::iota(all.begin(), all.end(), 1u);
    std::shuffle(all.begin(), all.end(), rng);
    shuffled.emplace_back(all.begin(), all.begin() + n);  // n distinct items, random order
  }
  QualityOptions o;
  o.sampen = o.lz = o.shannon = o.zlib = false;
  o.threads = 1;
  const QualitySummary a = ComputeQuality(Make(walk), o);
  const QualitySummary b = ComputeQuality(Make(shuffled), o);
  EXPECT_DOUBLE_EQ(a.apen.mean, b.apen.mean);
  EXPECT_EQ(a.transition.pairs, b.transition.pairs);
  EXPECT_EQ(a.transition.bits(), 0.0);
  EXPECT_GT(b.transition.bits(), 5.0);
}

TEST(TransitionTest, PairsStayInsideTheTruncatedUser) {
  const Sequences s = Make({{1, 2, 3, 4}, {5, 6}});
  EXPECT_EQ(ComputeTransitionEntropy(s).pairs, 4u);
  const TransitionEntropy t = ComputeTransitionEntropy(s, 2);  // (3,4) and (5,6)
  EXPECT_EQ(t.pairs, 2u);
  EXPECT_EQ(t.contexts, 2u);
  QualityOptions o;
  o.max_seq_len = 2;
  EXPECT_EQ(ComputeQuality(s, o).transition.pairs, 2u);
  o.transition = false;
  EXPECT_EQ(ComputeQuality(s, o).transition.pairs, 0u);
}

}  // namespace
}  // namespace perflaw::apen
