// Users' item sequences in compressed-sparse-row form: the in-memory shape of every dataset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace perflaw::apen {

// A read-only view of one user's items, oldest first.
struct ItemSpan {
  const uint32_t* data = nullptr;
  size_t size = 0;
  const uint32_t* begin() const { return data; }
  const uint32_t* end() const { return data + size; }
  uint32_t operator[](size_t i) const { return data[i]; }
  // The last `max_len` items (all of them when max_len is 0 or >= size): max_seq_len truncation.
  ItemSpan Last(size_t max_len) const {
    if (max_len == 0 || max_len >= size) return *this;
    return {data + (size - max_len), max_len};
  }
};

// User u's items are items[offsets[u] .. offsets[u + 1]). Item ids are dense 1..num_items after
// preprocessing (0 is the padding id and never appears); raw readers may hold any uint32 id.
struct Sequences {
  std::vector<uint64_t> offsets{0};
  std::vector<uint32_t> items;

  size_t num_users() const { return offsets.size() - 1; }
  size_t num_interactions() const { return items.size(); }
  ItemSpan user(size_t u) const {
    return {items.data() + offsets[u], static_cast<size_t>(offsets[u + 1] - offsets[u])};
  }
  void AddUser(const uint32_t* first, size_t n) {
    items.insert(items.end(), first, first + n);
    offsets.push_back(items.size());
  }
};

}  // namespace perflaw::apen
