#include "apen/hash.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "apen/input_file.h"

namespace perflaw::apen {
namespace {

constexpr uint64_t kPrime1 = 0x9E3779B185EBCA87ULL;
constexpr uint64_t kPrime2 = 0xC2B2AE3D27D4EB4FULL;

inline uint64_t Rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
inline uint64_t Round(uint64_t acc, uint64_t word) {
  acc += word * kPrime2;
  return Rotl(acc, 31) * kPrime1;
}
inline uint64_t Load64(const unsigned char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

// Streaming state, so HashFile and HashBytes agree on the same bytes.
class Hasher {
 public:
  explicit Hasher(uint64_t seed)
      : lanes_{seed + kPrime1 + kPrime2, seed + kPrime2, seed, seed - kPrime1} {}

  void Update(const unsigned char* p, size_t n) {
    total_ += n;
    if (buffered_ > 0) {
      size_t take = std::min(n, sizeof(buf_) - buffered_);
      std::memcpy(buf_ + buffered_, p, take);
      buffered_ += take, p += take, n -= take;
      if (buffered_ < sizeof(buf_)) return;
      Block(buf_);
      buffered_ = 0;
    }
    for (; n >= 32; p += 32, n -= 32) Block(p);
    std::memcpy(buf_, p, n);
    buffered_ = n;
  }

  uint64_t Finish() const {
    uint64_t h =
        Rotl(lanes_[0], 1) + Rotl(lanes_[1], 7) + Rotl(lanes_[2], 12) + Rotl(lanes_[3], 18);
    h = Mix64(h ^ total_);
    const unsigned char* p = buf_;
    size_t n = buffered_;
    for (; n >= 8; p += 8, n -= 8) h = Mix64(h ^ Load64(p));
    uint64_t tail = 0;
    std::memcpy(&tail, p, n);
    return Mix64(h ^ tail ^ (static_cast<uint64_t>(n) << 56));
  }

 private:
  void Block(const unsigned char* p) {
    for (int i = 0; i < 4; ++i) lanes_[i] = Round(lanes_[i], Load64(p + 8 * i));
  }
  uint64_t lanes_[4];
  unsigned char buf_[32];
  size_t buffered_ = 0;
  uint64_t total_ = 0;
};

}  // namespace

uint64_t HashBytes(const void* data, size_t size, uint64_t seed) {
  Hasher h(seed);
  h.Update(static_cast<const unsigned char*>(data), size);
  return h.Finish();
}

StatusOr<uint64_t> HashFile(const std::string& path) {
  StatusOr<InputFile> opened = OpenRegularFile(path);
  if (!opened.ok()) return opened.status();
  const InputFile& f = *opened;
  Hasher h(0);
  std::vector<unsigned char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) h.Update(buf.data(), n);
  if (std::ferror(f.get())) return Status::IoError(path + ": read error");
  return h.Finish();
}

std::string Hex64(uint64_t x) {
  char s[17];
  std::snprintf(s, sizeof(s), "%016llx", static_cast<unsigned long long>(x));
  return s;
}

}  // namespace perflaw::apen
