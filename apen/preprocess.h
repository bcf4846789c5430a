// Preprocessing steps between parsing and the cached dataset (internal to apen/; the order is
// fixed by LoadDataset, see dataset.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "apen/dataset.h"
#include "apen/reader.h"
#include "apen/sequences.h"

namespace perflaw::apen {

// Sequences over interned item indices (not yet dense ids); row r belongs to interned user
// users[r].
struct UserSequences {
  Sequences seqs;
  std::vector<uint32_t> users;
};

// Drops rows whose rating is below `min_rating` (raw.rating must be filled).
void FilterByRating(RawInteractions* raw, double min_rating);

// One row per user with at least one interaction, items ordered by timestamp with ties (and
// formats without timestamps) in file order.
UserSequences GroupChronologically(const RawInteractions& raw);

// Replaces every run of one item in a user's sequence by a single occurrence.
void DropConsecutiveRepeats(UserSequences* us);

// Iteratively removes items with fewer than k interactions and users with fewer than k items
// until neither exists (the k-core). `num_item_slots` bounds the item indices; k <= 1 is a no-op.
void ApplyKCore(UserSequences* us, uint32_t k, size_t num_item_slots);

// Dense re-indexing: users ordered by user_rank, the items still present numbered 1..n in
// item_rank order. Raw id vectors (indexed like the ranks) are copied into the dataset when
// given.
Dataset Reindex(const UserSequences& us, const std::vector<uint32_t>& user_rank,
                const std::vector<uint32_t>& item_rank, const std::vector<std::string>* user_ids,
                const std::vector<std::string>* item_ids);

}  // namespace perflaw::apen
