#include "apen/preprocess.h"

#include <algorithm>
#include <numeric>

namespace perflaw::apen {

void FilterByRating(RawInteractions* raw, double min_rating) {
  const bool has_time = !raw->time.empty();
  size_t kept = 0;
  for (size_t r = 0; r < raw->size(); ++r) {
    if (raw->rating[r] < min_rating) continue;
    raw->user[kept] = raw->user[r];
    raw->item[kept] = raw->item[r];
    if (has_time) raw->time[kept] = raw->time[r];
    raw->rating[kept] = raw->rating[r];
    ++kept;
  }
  raw->user.resize(kept);
  raw->item.resize(kept);
  raw->rating.resize(kept);
  if (has_time) raw->time.resize(kept);
}

UserSequences GroupChronologically(const RawInteractions& raw) {
  // Counting sort by user keeps file order within each user (stable).
  const size_t num_users = raw.user_ids.size();
  std::vector<uint64_t> start(num_users + 1, 0);
  for (uint32_t u : raw.user) ++start[u + 1];
  std::partial_sum(start.begin(), start.end(), start.begin());
  std::vector<uint64_t> fill(start.begin(), start.end() - 1);
  std::vector<uint32_t> rows(raw.size());
  for (size_t r = 0; r < raw.size(); ++r) rows[fill[raw.user[r]]++] = static_cast<uint32_t>(r);

  UserSequences us;
  us.seqs.items.reserve(raw.size());
  const bool has_time = !raw.time.empty();
  for (size_t u = 0; u < num_users; ++u) {
    auto first = rows.begin() + start[u], last = rows.begin() + start[u + 1];
    if (first == last) continue;
    if (has_time) {
      std::stable_sort(first, last,
                       [&](uint32_t a, uint32_t b) { return raw.time[a] < raw.time[b]; });
    }
    for (auto it = first; it != last; ++it) us.seqs.items.push_back(raw.item[*it]);
    us.seqs.offsets.push_back(us.seqs.items.size());
    us.users.push_back(static_cast<uint32_t>(u));
  }
  return us;
}

namespace {

// Rebuilds `us` keeping, per user, the items `keep_item` accepts, and the users whose kept
// length is at least `min_len`. Returns whether anything was removed.
template <typename KeepItem>
bool FilterSequences(UserSequences* us, size_t min_len, KeepItem keep_item) {
  UserSequences out;
  out.seqs.items.reserve(us->seqs.items.size());
  for (size_t u = 0; u < us->seqs.num_users(); ++u) {
    const size_t begin = out.seqs.items.size();
    ItemSpan x = us->seqs.user(u);
    for (size_t t = 0; t < x.size; ++t)
      if (keep_item(x, t)) out.seqs.items.push_back(x[t]);
    if (out.seqs.items.size() - begin < std::max<size_t>(min_len, 1)) {
      out.seqs.items.resize(begin);
      continue;
    }
    out.seqs.offsets.push_back(out.seqs.items.size());
    out.users.push_back(us->users[u]);
  }
  const bool changed =
      out.seqs.items.size() != us->seqs.items.size() || out.users.size() != us->users.size();
  *us = std::move(out);
  return changed;
}

}  // namespace

void DropConsecutiveRepeats(UserSequences* us) {
  FilterSequences(us, 1, [](ItemSpan x, size_t t) { return t == 0 || x[t] != x[t - 1]; });
}

void ApplyKCore(UserSequences* us, uint32_t k, size_t num_item_slots) {
  if (k <= 1) return;
  std::vector<uint64_t> count(num_item_slots);
  bool changed = true;
  while (changed) {
    std::fill(count.begin(), count.end(), 0);
    for (uint32_t i : us->seqs.items) ++count[i];
    changed = FilterSequences(us, k, [&](ItemSpan x, size_t t) { return count[x[t]] >= k; });
  }
}

Dataset Reindex(const UserSequences& us, const std::vector<uint32_t>& user_rank,
                const std::vector<uint32_t>& item_rank, const std::vector<std::string>* user_ids,
                const std::vector<std::string>* item_ids) {
  // Items still present, in raw-id order, get ids 1..n.
  std::vector<char> present(item_rank.size(), 0);
  for (uint32_t i : us.seqs.items) present[i] = 1;
  std::vector<uint32_t> items_by_rank;
  for (size_t i = 0; i < present.size(); ++i)
    if (present[i]) items_by_rank.push_back(static_cast<uint32_t>(i));
  std::sort(items_by_rank.begin(), items_by_rank.end(),
            [&](uint32_t a, uint32_t b) { return item_rank[a] < item_rank[b]; });
  std::vector<uint32_t> dense(item_rank.size(), 0);
  for (size_t r = 0; r < items_by_rank.size(); ++r)
    dense[items_by_rank[r]] = static_cast<uint32_t>(r + 1);

  std::vector<uint32_t> rows(us.users.size());
  std::iota(rows.begin(), rows.end(), 0u);
  std::sort(rows.begin(), rows.end(), [&](uint32_t a, uint32_t b) {
    return user_rank[us.users[a]] < user_rank[us.users[b]];
  });

  Dataset d;
  d.num_items = static_cast<uint32_t>(items_by_rank.size());
  d.sequences.items.reserve(us.seqs.items.size());
  d.sequences.offsets.reserve(rows.size() + 1);
  for (uint32_t row : rows) {
    for (uint32_t i : us.seqs.user(row)) d.sequences.items.push_back(dense[i]);
    d.sequences.offsets.push_back(d.sequences.items.size());
    if (user_ids) d.user_ids.push_back((*user_ids)[us.users[row]]);
  }
  if (item_ids) {
    for (uint32_t i : items_by_rank) d.item_ids.push_back((*item_ids)[i]);
  }
  return d;
}

}  // namespace perflaw::apen
