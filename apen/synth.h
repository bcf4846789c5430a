// Synthetic sequential-recommendation datasets of known, ordered quality.
//
// Each user's sequence starts with an item drawn by Zipf popularity; every following step, with
// probability `predictability`, moves along a sparse Markov chain (one of `markov_out_degree`
// fixed successors of the current item, chosen uniformly), otherwise draws a fresh item by
// popularity. The chain's successors are themselves drawn by popularity (seeded), so the walk
// stays on popular items and the item distribution does not flatten as predictability grows.
// predictability 0 gives i.i.d. popularity draws (highest entropy); 1 gives a pure random walk
// on an out-degree-d graph (conditional entropy <= log2 d). Measured: the LZ entropy rate,
// Shannon entropy and zlib ratio all decrease monotonically with predictability (synth_test).
// With `topics` > 0 the structure is in topics instead of item successors: items are dealt into
// topics by popularity rank, and a structured step draws, by popularity, an item of the topic that
// a fixed seeded rule assigns to the topics of the last `topic_order` items. Predicting it needs
// the last items' topics combined (depth) and a score per topic's items (width); everything else in
// a sequence is noise that a large model can memorise (docs/data.md). Generation is seeded and
// deterministic (independent of the thread count): each user has its own random stream.
#pragma once

#include <cstdint>
#include <string>

#include "apen/dataset.h"

namespace perflaw::apen {

struct SynthOptions {
  uint64_t users = 1000;
  uint32_t items = 1000;
  // Mean interactions per user; lengths are min_length + a geometric extra.
  double mean_length = 20;
  // When > 0: the exact total number of interactions (overrides mean_length).
  uint64_t interactions = 0;
  // Shortest sequence (3 gives every user a valid and a test target).
  uint32_t min_length = 3;
  // Probability in [0, 1] that a step follows the Markov chain.
  double predictability = 0.5;
  // Successors per item in the Markov chain (1 <= d <= items).
  uint32_t markov_out_degree = 4;
  // Topics the items are dealt into (0: no topics, the Markov chain above); at most items.
  uint32_t topics = 0;
  // How many of the last items' topics decide the next topic (1 to 4; topics > 0 only).
  uint32_t topic_order = 1;
  // Zipf exponent s of item popularity, weight of popularity rank k is k^-s (0 = uniform).
  double popularity_exponent = 1.0;
  uint64_t seed = 1;
  // Worker threads (0 = hardware concurrency); the output does not depend on it.
  int threads = 0;

  // Rejects bad values with a message that starts with the offending key.
  bool IsValid(std::string* why) const;
  // `synth:key=value;...` of every key except threads.
  std::string CanonicalString() const;
};

// The largest dataset GenerateSynthetic makes (interactions), bounded by memory and uint32.
inline constexpr uint64_t kMaxSynthInteractions = 4'000'000'000ULL;
// The most items (the popularity sampler holds 16 bytes per item).
inline constexpr uint32_t kMaxSynthItems = 100'000'000;

// Generates the dataset (options must be valid): dense item ids 1..items (every id is a valid
// item, though rare ones may not occur), source_path "synthetic", options CanonicalString().
Dataset GenerateSynthetic(const SynthOptions& options);

}  // namespace perflaw::apen
