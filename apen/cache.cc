#include "apen/cache.h"

#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <vector>

#include "apen/hash.h"
#include "apen/input_file.h"

namespace perflaw::apen {
namespace {

using FilePtr = std::unique_ptr<FILE, int (*)(FILE*)>;

struct Header {
  uint32_t version = kBinaryVersion;
  uint32_t flags = 0;
  uint64_t source_hash = 0;
  uint64_t key_hash = 0;
  uint64_t num_users = 0;
  uint64_t num_interactions = 0;
  uint32_t num_items = 0;
  uint32_t reserved = 0;
  uint64_t payload_bytes = 0;
  uint64_t payload_checksum = 0;
};

template <typename T>
void Put(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(T));
}
template <typename T>
T Get(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

std::string EncodeHeader(const Header& h) {
  std::string out(kBinaryMagic, 8);
  Put(&out, h.version);
  Put(&out, h.flags);
  Put(&out, h.source_hash);
  Put(&out, h.key_hash);
  Put(&out, h.num_users);
  Put(&out, h.num_interactions);
  Put(&out, h.num_items);
  Put(&out, h.reserved);
  Put(&out, h.payload_bytes);
  Put(&out, h.payload_checksum);
  Put(&out, uint64_t{0});
  Put(&out, uint64_t{0});
  Put(&out, HashBytes(out.data(), out.size()));
  return out;
}

void PutString(std::string* out, const std::string& s) {
  Put(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}

std::string EncodeStrings(const Dataset& d, bool with_ids) {
  std::string out;
  PutString(&out, d.options);
  PutString(&out, d.source_path);
  if (with_ids) {
    for (const auto& s : d.user_ids) PutString(&out, s);
    for (const auto& s : d.item_ids) PutString(&out, s);
  }
  return out;
}

// One checksum over the three payload sections, each hashed where it lies in memory.
uint64_t PayloadChecksum(const void* offsets, size_t offsets_bytes, const void* items,
                         size_t items_bytes, const void* strings, size_t strings_bytes) {
  uint64_t h = HashBytes(offsets, offsets_bytes, 1);
  h = Mix64(h ^ HashBytes(items, items_bytes, 2));
  return Mix64(h ^ HashBytes(strings, strings_bytes, 3));
}

std::string TempPathFor(const std::string& path) {
  std::random_device rd;
  return path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(rd());
}

// Runs `write` on a temp file beside `path`, then renames it over `path`; on any failure the
// temp file is removed and `path` is untouched.
template <typename WriteFn>
Status WriteAtomically(const std::string& path, WriteFn write) {
  std::string tmp = TempPathFor(path);
  FILE* raw = std::fopen(tmp.c_str(), "wb");
  if (!raw) return Status::IoError(path + ": cannot create file: " + std::strerror(errno));
  FilePtr f(raw, &std::fclose);
  bool ok = write(f.get()) && std::fflush(f.get()) == 0 && !std::ferror(f.get());
  int close_rc = std::fclose(f.release());
  std::error_code ec;
  if (!ok || close_rc != 0) {
    std::filesystem::remove(tmp, ec);
    return Status::IoError(path + ": write failed (disk full or unwritable?)");
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return Status::IoError(path + ": cannot rename temp file into place: " + ec.message());
  }
  return Status::Ok();
}

bool WriteAll(FILE* f, const void* p, size_t n) { return std::fwrite(p, 1, n, f) == n; }

Status Corrupt(const std::string& path, const std::string& what) {
  return Status::Corruption(path + ": corrupt binary dataset: " + what);
}

bool ReadAll(FILE* f, void* p, size_t n) { return std::fread(p, 1, n, f) == n; }

// Parses the strings section into `d`.
bool DecodeStrings(const std::string& s, bool with_ids, Dataset* d) {
  size_t pos = 0;
  auto next = [&](std::string* out) {
    if (s.size() - pos < 4) return false;
    uint32_t len = Get<uint32_t>(s.data() + pos);
    pos += 4;
    if (s.size() - pos < len) return false;
    out->assign(s.data() + pos, len);
    pos += len;
    return true;
  };
  if (!next(&d->options) || !next(&d->source_path)) return false;
  if (with_ids) {
    // Every id takes at least its 4-byte length: a forged item count cannot size the vectors.
    if ((s.size() - pos) / 4 < uint64_t{d->num_users()} + d->num_items) return false;
    d->user_ids.resize(d->num_users());
    d->item_ids.resize(d->num_items);
    for (auto& id : d->user_ids)
      if (!next(&id)) return false;
    for (auto& id : d->item_ids)
      if (!next(&id)) return false;
  }
  return pos == s.size();
}

// Offsets start at 0, never decrease, end at the item count; items are in 1..num_items.
bool ConsistentSequences(const Dataset& d) {
  const auto& off = d.sequences.offsets;
  if (off.front() != 0 || off.back() != d.sequences.items.size()) return false;
  for (size_t u = 0; u + 1 < off.size(); ++u)
    if (off[u + 1] < off[u]) return false;
  for (uint32_t i : d.sequences.items)
    if (i == 0 || i > d.num_items) return false;
  return true;
}

}  // namespace

bool HasBinaryMagic(const char* data, size_t size) {
  return size >= 8 && std::memcmp(data, kBinaryMagic, 8) == 0;
}

Status WriteBinaryDataset(const std::string& path, const Dataset& d, uint64_t key_hash) {
  const Sequences& s = d.sequences;
  bool with_ids =
      d.user_ids.size() == d.num_users() && d.item_ids.size() == d.num_items && !d.user_ids.empty();
  std::string strings = EncodeStrings(d, with_ids);
  size_t off_bytes = s.offsets.size() * sizeof(uint64_t);
  size_t item_bytes = s.items.size() * sizeof(uint32_t);
  Header h;
  h.flags = with_ids ? 1u : 0u;
  h.source_hash = d.source_hash;
  h.key_hash = key_hash;
  h.num_users = d.num_users();
  h.num_interactions = d.num_interactions();
  h.num_items = d.num_items;
  h.payload_bytes = off_bytes + item_bytes + strings.size();
  h.payload_checksum = PayloadChecksum(s.offsets.data(), off_bytes, s.items.data(), item_bytes,
                                       strings.data(), strings.size());
  std::string header = EncodeHeader(h);
  return WriteAtomically(path, [&](FILE* f) {
    return WriteAll(f, header.data(), header.size()) && WriteAll(f, s.offsets.data(), off_bytes) &&
           WriteAll(f, s.items.data(), item_bytes) && WriteAll(f, strings.data(), strings.size());
  });
}

StatusOr<Dataset> ReadBinaryDataset(const std::string& path, uint64_t* key_hash) {
  StatusOr<InputFile> opened = OpenRegularFile(path);
  if (!opened.ok()) return opened.status();
  const InputFile& f = *opened;
  struct stat st;
  if (::fstat(::fileno(f.get()), &st) != 0) return Status::IoError(path + ": cannot stat file");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  char hb[kBinaryHeaderSize];
  if (file_size < kBinaryHeaderSize || !ReadAll(f.get(), hb, sizeof(hb))) {
    return Corrupt(path, "shorter than its header");
  }
  if (!HasBinaryMagic(hb, sizeof(hb))) return Corrupt(path, "bad magic (not a perflaw dataset)");
  if (Get<uint64_t>(hb + 88) != HashBytes(hb, 88)) return Corrupt(path, "header checksum mismatch");
  Header h;
  h.version = Get<uint32_t>(hb + 8);
  h.flags = Get<uint32_t>(hb + 12);
  h.source_hash = Get<uint64_t>(hb + 16);
  h.key_hash = Get<uint64_t>(hb + 24);
  h.num_users = Get<uint64_t>(hb + 32);
  h.num_interactions = Get<uint64_t>(hb + 40);
  h.num_items = Get<uint32_t>(hb + 48);
  h.payload_bytes = Get<uint64_t>(hb + 56);
  h.payload_checksum = Get<uint64_t>(hb + 64);
  if (h.version != kBinaryVersion) {
    return Corrupt(path, "version " + std::to_string(h.version) + ", expected " +
                             std::to_string(kBinaryVersion));
  }
  if (h.payload_bytes != file_size - kBinaryHeaderSize) {
    return Corrupt(path, "size does not match its header (truncated?)");
  }
  // The counts are checked against the payload before anything is sized by them, without
  // overflow: a forged (users + 1) * 8 or interactions * 4 must not wrap around to a small size.
  const uint64_t payload = h.payload_bytes;
  if (h.num_users >= payload / 8 || h.num_interactions > (payload - (h.num_users + 1) * 8) / 4) {
    return Corrupt(path, "header claims " + std::to_string(h.num_users) + " users and " +
                             std::to_string(h.num_interactions) + " interactions, more than its " +
                             std::to_string(payload) + "-byte payload holds");
  }
  const uint64_t off_bytes = (h.num_users + 1) * 8, item_bytes = h.num_interactions * 4;
  Dataset d;
  d.num_items = h.num_items;
  d.source_hash = h.source_hash;
  d.sequences.offsets.resize(h.num_users + 1);
  d.sequences.items.resize(h.num_interactions);
  std::string strings(h.payload_bytes - off_bytes - item_bytes, '\0');
  if (!ReadAll(f.get(), d.sequences.offsets.data(), off_bytes) ||
      !ReadAll(f.get(), d.sequences.items.data(), item_bytes) ||
      !ReadAll(f.get(), strings.data(), strings.size())) {
    return Corrupt(path, "truncated payload");
  }
  if (PayloadChecksum(d.sequences.offsets.data(), off_bytes, d.sequences.items.data(), item_bytes,
                      strings.data(), strings.size()) != h.payload_checksum) {
    return Corrupt(path, "payload checksum mismatch");
  }
  if (!DecodeStrings(strings, (h.flags & 1u) != 0, &d)) return Corrupt(path, "bad strings section");
  if (!ConsistentSequences(d)) return Corrupt(path, "inconsistent offsets or item ids");
  if (key_hash) *key_hash = h.key_hash;
  return d;
}

Status WriteSasrecDataset(const std::string& path, const Dataset& d) {
  return WriteAtomically(path, [&](FILE* f) {
    std::vector<char> buf(1 << 20);
    size_t used = 0;
    for (size_t u = 0; u < d.num_users(); ++u) {
      for (uint32_t item : d.sequences.user(u)) {
        if (buf.size() - used < 48) {
          if (!WriteAll(f, buf.data(), used)) return false;
          used = 0;
        }
        char* p = buf.data() + used;
        p = std::to_chars(p, p + 24, static_cast<uint64_t>(u + 1)).ptr;
        *p++ = ' ';
        p = std::to_chars(p, p + 16, item).ptr;
        *p++ = '\n';
        used = p - buf.data();
      }
    }
    return WriteAll(f, buf.data(), used);
  });
}

}  // namespace perflaw::apen
