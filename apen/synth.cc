#include "apen/synth.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <optional>
#include <thread>
#include <vector>

#include "apen/hash.h"
#include "apen/text.h"

namespace perflaw::apen {
namespace {

// SplitMix64 as a generator: fast, and any 64-bit state is a good seed.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() { return Mix64(state_ += 0x9E3779B97F4A7C15ULL); }
  double Unit() { return UnitFromHash(Next()); }
  // Uniform in [0, n) (Lemire's multiply-shift; the bias is below 2^-32 for n < 2^32).
  uint32_t Below(uint32_t n) { return static_cast<uint32_t>(((Next() >> 32) * n) >> 32); }

 private:
  uint64_t state_;
};

// Walker/Vose alias table over popularity ranks, mapped to item ids by a seeded permutation.
// One 16-byte slot per rank holds everything a draw needs, so a draw costs one memory access.
class ZipfSampler {
 public:
  ZipfSampler(uint32_t items, double exponent, uint64_t seed) : slots_(items) {
    std::vector<double> w(items);
    double sum = 0;
    for (uint32_t k = 0; k < items; ++k) sum += w[k] = std::pow(k + 1.0, -exponent);
    std::vector<uint32_t> alias = BuildAlias(w, sum);
    std::vector<uint32_t> id(items);
    std::iota(id.begin(), id.end(), 1u);
    Rng rng(Mix64(seed ^ 0x7065726d));  // popular items get scattered ids, as in real data
    for (uint32_t k = items - 1; k > 0; --k) std::swap(id[k], id[rng.Below(k + 1)]);
    for (uint32_t k = 0; k < items; ++k) {
      slots_[k].self = id[k];
      slots_[k].alias = id[alias[k]];
    }
  }
  uint32_t Sample(Rng& rng) const { return FromBits(rng.Next()); }
  uint32_t IdOfRank(uint32_t rank) const { return slots_[rank].self; }
  // The item for 64 random bits: high half picks the slot, low half decides self or alias.
  uint32_t FromBits(uint64_t r) const {
    const Slot& s = slots_[((r >> 32) * slots_.size()) >> 32];
    return static_cast<uint32_t>(r) < s.threshold ? s.self : s.alias;
  }

 private:
  struct alignas(16) Slot {
    uint64_t threshold = 0;  // P(self) x 2^32; 2^32 means always self
    uint32_t self = 0, alias = 0;
  };

  // Fills the thresholds; returns each rank's alias rank.
  std::vector<uint32_t> BuildAlias(const std::vector<double>& w, double sum) {
    const size_t n = w.size();
    std::vector<double> scaled(n);
    std::vector<uint32_t> alias(n), small, large;
    for (size_t k = 0; k < n; ++k) {
      scaled[k] = w[k] * n / sum;
      alias[k] = static_cast<uint32_t>(k);
      (scaled[k] < 1 ? small : large).push_back(static_cast<uint32_t>(k));
    }
    auto set_prob = [&](uint32_t k, double p) {
      slots_[k].threshold = static_cast<uint64_t>(std::min(1.0, p) * 4294967296.0);
    };
    while (!small.empty() && !large.empty()) {
      uint32_t s = small.back(), l = large.back();
      small.pop_back();
      set_prob(s, scaled[s]);
      alias[s] = l;
      scaled[l] -= 1 - scaled[s];
      if (scaled[l] < 1) {
        large.pop_back();
        small.push_back(l);
      }
    }
    for (uint32_t k : large) set_prob(k, 1);
    for (uint32_t k : small) set_prob(k, 1);
    return alias;
  }
  std::vector<Slot> slots_;
};

// Items dealt into topics by popularity rank (rank k to topic k mod topics, so every topic has
// popular and rare items), and a popularity draw within one topic (inverse CDF).
class TopicSampler {
 public:
  TopicSampler(const ZipfSampler& zipf, uint32_t items, uint32_t topics, double exponent)
      : topic_of_(items + 1), ids_(topics), cdf_(topics) {
    for (uint32_t k = 0; k < items; ++k) {
      const uint32_t id = zipf.IdOfRank(k), t = k % topics;
      topic_of_[id] = t;
      ids_[t].push_back(id);
      cdf_[t].push_back((cdf_[t].empty() ? 0.0 : cdf_[t].back()) + std::pow(k + 1.0, -exponent));
    }
  }
  uint32_t TopicOf(uint32_t item) const { return topic_of_[item]; }
  uint32_t Sample(uint32_t topic, Rng& rng) const {
    const std::vector<double>& c = cdf_[topic];
    const size_t i = std::upper_bound(c.begin(), c.end(), rng.Unit() * c.back()) - c.begin();
    return ids_[topic][std::min(i, c.size() - 1)];
  }

 private:
  std::vector<uint32_t> topic_of_;
  std::vector<std::vector<uint32_t>> ids_;
  std::vector<std::vector<double>> cdf_;
};

uint64_t UserSeed(uint64_t seed, uint64_t u) { return Mix64(Mix64(seed) ^ Mix64(u + 0x75736572)); }

// Per-user lengths: min_length + geometric extra with the requested mean; with an exact total,
// single-step corrections on random users fix the sum.
std::vector<uint64_t> UserLengths(const SynthOptions& o) {
  const double mean =
      o.interactions > 0 ? static_cast<double>(o.interactions) / o.users : o.mean_length;
  const double extra = mean - o.min_length;
  std::vector<uint64_t> len(o.users, o.min_length);
  if (extra > 0) {
    const double log_q = std::log1p(-1.0 / (1.0 + extra));  // P(extra >= k) = q^k
    for (uint64_t u = 0; u < o.users; ++u) {
      Rng rng(UserSeed(o.seed, u) ^ 0x6c656e);
      double unit = 1.0 - rng.Unit();  // in (0, 1]
      len[u] += static_cast<uint64_t>(std::floor(std::log(unit) / log_q));
    }
  }
  if (o.interactions == 0) return len;
  uint64_t total = std::accumulate(len.begin(), len.end(), uint64_t{0});
  Rng rng(Mix64(o.seed ^ 0x666978));
  auto pick = [&] { return static_cast<uint64_t>(UnitFromHash(rng.Next()) * o.users); };
  while (total < o.interactions) ++len[pick()], ++total;
  while (total > o.interactions) {
    uint64_t u = pick();
    if (len[u] > o.min_length) --len[u], --total;
  }
  return len;
}

}  // namespace

bool SynthOptions::IsValid(std::string* why) const {
  auto fail = [&](const std::string& msg) {
    if (why) *why = msg;
    return false;
  };
  if (users == 0) return fail("users must be at least 1");
  if (items == 0) return fail("items must be at least 1");
  if (items > kMaxSynthItems) {
    return fail("items must be at most " + std::to_string(kMaxSynthItems) + " (16 bytes each)");
  }
  if (min_length == 0) return fail("min_length must be at least 1");
  if (interactions == 0) {
    if (!std::isfinite(mean_length) || mean_length < min_length) {
      return fail("mean_length must be a number >= min_length (" + std::to_string(min_length) +
                  "), got " + ExactNum(mean_length));
    }
    if (mean_length * static_cast<double>(users) > static_cast<double>(kMaxSynthInteractions)) {
      return fail("mean_length x users exceeds " + std::to_string(kMaxSynthInteractions) +
                  " interactions");
    }
  } else {
    if (interactions / users < min_length) {
      return fail("interactions must be at least users x min_length (" +
                  std::to_string(users * min_length) + "), got " + std::to_string(interactions));
    }
    if (interactions > kMaxSynthInteractions) {
      return fail("interactions must be at most " + std::to_string(kMaxSynthInteractions));
    }
  }
  if (!(predictability >= 0 && predictability <= 1)) {
    return fail("predictability must be in [0, 1], got " + ExactNum(predictability));
  }
  if (markov_out_degree == 0 || markov_out_degree > items) {
    return fail("markov_out_degree must be in [1, items], got " +
                std::to_string(markov_out_degree));
  }
  if (topics > items) return fail("topics must be in [0, items], got " + std::to_string(topics));
  if (topic_order < 1 || topic_order > 4)
    return fail("topic_order must be in [1, 4], got " + std::to_string(topic_order));
  if (topics == 0 && topic_order != 1)
    return fail("topic_order needs topics > 0 (without topics the Markov chain has order 1)");
  if (!std::isfinite(popularity_exponent) || popularity_exponent < 0) {
    return fail("popularity_exponent must be a finite number >= 0, got " +
                ExactNum(popularity_exponent));
  }
  if (threads < 0) return fail("threads must be >= 0, got " + std::to_string(threads));
  return true;
}

std::string SynthOptions::CanonicalString() const {
  return "synth:users=" + std::to_string(users) + ";items=" + std::to_string(items) +
         ";mean_length=" + ExactNum(mean_length) + ";interactions=" + std::to_string(interactions) +
         ";min_length=" + std::to_string(min_length) +
         ";predictability=" + ExactNum(predictability) +
         ";markov_out_degree=" + std::to_string(markov_out_degree) +
         ";popularity_exponent=" + ExactNum(popularity_exponent) + ";seed=" + std::to_string(seed) +
         // Only when used, so that datasets made before topics existed keep their identity.
         (topics > 0
              ? ";topics=" + std::to_string(topics) + ";topic_order=" + std::to_string(topic_order)
              : "");
}

Dataset GenerateSynthetic(const SynthOptions& o) {
  Dataset d;
  d.num_items = o.items;
  d.source_path = "synthetic";
  d.options = o.CanonicalString();
  d.source_hash = HashString(d.options);
  d.cache_status = CacheStatus::kNotApplicable;

  std::vector<uint64_t> len = UserLengths(o);
  auto& offsets = d.sequences.offsets;
  offsets.assign(o.users + 1, 0);
  for (uint64_t u = 0; u < o.users; ++u) offsets[u + 1] = offsets[u] + len[u];
  std::vector<uint64_t>().swap(len);
  d.sequences.items.resize(offsets.back());

  const ZipfSampler zipf(o.items, o.popularity_exponent, o.seed);
  const uint64_t chain_seed = Mix64(o.seed ^ 0x636861696e);
  const uint64_t q = static_cast<uint64_t>(std::ldexp(o.predictability, 53));
  auto successor = [&](uint32_t item, uint32_t k) {
    return zipf.FromBits(Mix64(chain_seed ^ (uint64_t{item} * o.markov_out_degree + k)));
  };
  std::optional<TopicSampler> topics;
  if (o.topics > 0) topics.emplace(zipf, o.items, o.topics, o.popularity_exponent);
  const uint64_t rule_seed = Mix64(o.seed ^ 0x72756c65);
  // The structured next item at position t: a successor of the current item, or (topics) an item
  // of the topic the rule gives the topics of the last topic_order items.
  auto structured = [&](const uint32_t* items, uint64_t first, uint64_t t, Rng& rng) {
    if (!topics) return successor(items[t - 1], rng.Below(o.markov_out_degree));
    uint64_t key = rule_seed;
    for (uint64_t back = 1; back <= o.topic_order && back <= t - first; ++back)
      key = Mix64(key ^ (topics->TopicOf(items[t - back]) + 1) * back);
    return topics->Sample(static_cast<uint32_t>(key % o.topics), rng);
  };
  auto generate = [&](uint64_t first_user, uint64_t last_user) {
    uint32_t* items = d.sequences.items.data();
    for (uint64_t u = first_user; u < last_user; ++u) {
      Rng rng(UserSeed(o.seed, u));
      items[offsets[u]] = zipf.Sample(rng);
      for (uint64_t t = offsets[u] + 1; t < offsets[u + 1]; ++t) {
        items[t] =
            (rng.Next() >> 11) < q ? structured(items, offsets[u], t, rng) : zipf.Sample(rng);
      }
    }
  };
  unsigned threads = o.threads > 0 ? o.threads : std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<uint64_t>(threads, o.users));
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back(generate, o.users * t / threads, o.users * (t + 1) / threads);
  }
  for (auto& th : pool) th.join();
  return d;
}

}  // namespace perflaw::apen
