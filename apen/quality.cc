// Data-quality measures. Algorithms (docs/measures.md has the full account):
// - One suffix array + LCP array per user serves both the Lempel-Ziv estimate and, for r < 1,
//   the ApEn / SampEn counts: equal k-grams are exactly the runs of LCP >= k in suffix order.
// - For r >= 1, templates are sorted by their first item and each is compared only with the
//   templates whose first item lies within r; the (m+1) counts come from the m-matching pairs by
//   checking one more item.
// - ComputeQuality splits users into blocks of ~64 Ki kept tokens (boundaries depend on the data
//   only), threads take blocks dynamically, and per-block partial sums are combined in block
//   order, so every result is independent of the thread count.
#include "apen/quality.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <sstream>
#include <thread>

#include "apen/parallel.h"
#include "apen/suffix_array.h"

namespace perflaw::apen {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// ln(k), cached for small k: the Phi sums take one logarithm per template or match class.
double LogCount(uint64_t k) {
  static const std::array<double, 1024> kTable = [] {
    std::array<double, 1024> t{};
    for (size_t i = 1; i < t.size(); ++i) t[i] = std::log(static_cast<double>(i));
    return t;
  }();
  return k < kTable.size() ? kTable[k] : std::log(static_cast<double>(k));
}

// k ln k, the contribution of a class of k mutually matching templates to sum_i ln(count_i).
double ClassLogSum(uint64_t k) { return k > 1 ? static_cast<double>(k) * LogCount(k) : 0.0; }
uint64_t Pairs(uint64_t k) { return k > 1 ? k * (k - 1) / 2 : 0; }

// Integer ids match within r iff |a - b| <= floor(r); r beyond the id range matches everything.
uint64_t IntegerTolerance(double r) {
  constexpr double kAll = 8589934592.0;  // 2^33 > any uint32 difference
  return static_cast<uint64_t>(std::floor(std::min(r, kAll)));
}

uint64_t Distance(uint32_t a, uint32_t b) { return a > b ? a - b : b - a; }

bool ValidParams(int m, double r) { return m >= 1 && r >= 0; }  // false for NaN r too

// What ApEn and SampEn need from one sequence of length n >= m + 1.
struct MatchStats {
  double log_sum_m = 0;   // sum over the n-m+1 length-m templates of ln(#matches, self included)
  double log_sum_m1 = 0;  // the same over the n-m length-(m+1) templates
  uint64_t pairs_m = 0;   // SampEn B: unordered matching pairs among the first n-m templates
  uint64_t pairs_m1 = 0;  // SampEn A: unordered matching pairs of length-(m+1) templates
};

// Phi^k = (1/N) sum_i ln(count_i / N) = log_sum / N - ln N, N = number of templates.
double ApEnFromStats(const MatchStats& s, size_t n, uint64_t m) {
  const double count_m = static_cast<double>(n - m + 1);
  const double count_m1 = static_cast<double>(n - m);
  const double phi_m = s.log_sum_m / count_m - std::log(count_m);
  const double phi_m1 = s.log_sum_m1 / count_m1 - std::log(count_m1);
  return std::fabs(phi_m1 - phi_m);
}

double SampEnFromStats(const MatchStats& s) {
  if (s.pairs_m == 0) return kNaN;
  if (s.pairs_m1 == 0) return kInf;
  // 0 - ln: A = B gives +0, not -0.
  return 0.0 - std::log(static_cast<double>(s.pairs_m1) / static_cast<double>(s.pairs_m));
}

// r < 1: templates match iff equal. Equal m-grams are the maximal runs of lcp >= m in suffix
// order; a suffix shorter than m is a run of its own and is skipped by the index bound.
MatchStats ExactMatchStats(const SuffixArray& sa, uint64_t m) {
  const size_t n = sa.size();
  const uint32_t* order = sa.sa();
  const uint32_t* lcp = sa.lcp();
  const uint64_t last = n - m;  // the last length-m template starts here
  MatchStats s;
  uint64_t in_m = 0;     // current m-class: length-m templates
  uint64_t first_m = 0;  // ... of which among the first n-m (SampEn's B)
  uint64_t in_m1 = 0;    // current (m+1)-class: length-(m+1) templates
  for (size_t p = 0; p <= n; ++p) {
    const uint64_t h = (p == 0 || p == n) ? 0 : lcp[p];
    if (h < m + 1) {
      s.log_sum_m1 += ClassLogSum(in_m1);
      s.pairs_m1 += Pairs(in_m1);
      in_m1 = 0;
    }
    if (h < m) {
      s.log_sum_m += ClassLogSum(in_m);
      s.pairs_m += Pairs(first_m);
      in_m = first_m = 0;
    }
    if (p == n) break;
    const uint64_t i = order[p];
    if (i > last) continue;
    ++in_m;
    if (i < last) ++first_m, ++in_m1;
  }
  return s;
}

// Per-thread scratch space, so a user costs no allocation.
class Analyzer {
 public:
  struct Params {
    uint64_t m = 2;
    double r = 0.2;
    bool apen = true, sampen = true, lz = true;
  };
  struct Result {
    double apen = kNaN, sampen = kNaN, lz = kNaN;
  };

  Result Measure(ItemSpan x, const Params& p);
  uint64_t LambdaSum(ItemSpan x);

 private:
  MatchStats TolerantMatchStats(ItemSpan x, uint64_t m, uint64_t tolerance);
  uint64_t LambdaSumOfBuiltArray();

  SuffixArray sa_;
  std::vector<uint64_t> keys_;
  std::vector<uint32_t> count_m_, count_m1_, stack_pos_, stack_lcp_, left_lcp_;
};

Analyzer::Result Analyzer::Measure(ItemSpan x, const Params& p) {
  Result out;
  const size_t n = x.size;
  const bool templates = (p.apen || p.sampen) && n > p.m;
  const bool exact = p.r < 1;
  const bool lz = p.lz && n >= 2;
  if ((templates && exact) || lz) sa_.Build(x);
  if (templates) {
    const MatchStats s =
        exact ? ExactMatchStats(sa_, p.m) : TolerantMatchStats(x, p.m, IntegerTolerance(p.r));
    if (p.apen) out.apen = ApEnFromStats(s, n, p.m);
    if (p.sampen) out.sampen = SampEnFromStats(s);
  }
  if (lz) {
    const double nd = static_cast<double>(n);
    out.lz = nd * std::log2(nd) / static_cast<double>(LambdaSumOfBuiltArray());
  }
  return out;
}

uint64_t Analyzer::LambdaSum(ItemSpan x) {
  if (x.size == 0) return 0;
  sa_.Build(x);
  return LambdaSumOfBuiltArray();
}

// r >= 1. Templates sorted by first item; a template is compared with the earlier ones in that
// order whose first item is within the tolerance (a sliding window), then on items 1..m-1.
MatchStats Analyzer::TolerantMatchStats(ItemSpan x, uint64_t m, uint64_t tolerance) {
  const size_t n = x.size;
  const size_t num_m = n - m + 1, num_m1 = n - m;
  MatchStats s;
  const auto [lo_it, hi_it] = std::minmax_element(x.begin(), x.end());
  if (uint64_t{*hi_it} - *lo_it <= tolerance) {  // every pair matches: no need to enumerate
    s.log_sum_m = ClassLogSum(num_m);
    s.log_sum_m1 = ClassLogSum(num_m1);
    s.pairs_m = s.pairs_m1 = Pairs(num_m1);
    return s;
  }
  keys_.resize(num_m);
  for (size_t i = 0; i < num_m; ++i) keys_[i] = (uint64_t{x[i]} << 32) | i;
  std::sort(keys_.begin(), keys_.end());
  count_m_.assign(num_m, 1);  // self-matches
  count_m1_.assign(num_m1, 1);
  size_t lo = 0;
  for (size_t q = 0; q < num_m; ++q) {
    const uint64_t xi = keys_[q] >> 32;
    const size_t i = static_cast<uint32_t>(keys_[q]);
    while ((keys_[lo] >> 32) + tolerance < xi) ++lo;
    for (size_t p = lo; p < q; ++p) {
      const size_t j = static_cast<uint32_t>(keys_[p]);
      uint64_t t = 1;
      while (t < m && Distance(x[i + t], x[j + t]) <= tolerance) ++t;
      if (t < m) continue;
      ++count_m_[i], ++count_m_[j];
      if (i >= num_m1 || j >= num_m1) continue;
      ++s.pairs_m;
      if (Distance(x[i + m], x[j + m]) > tolerance) continue;
      ++count_m1_[i], ++count_m1_[j];
      ++s.pairs_m1;
    }
  }
  for (size_t i = 0; i < num_m; ++i) s.log_sum_m += LogCount(count_m_[i]);
  for (size_t i = 0; i < num_m1; ++i) s.log_sum_m1 += LogCount(count_m1_[i]);
  return s;
}

// Lambda_i = 1 + max_{j < i} lcp(i, j). The maximum over j < i is reached at the nearest
// suffix-array neighbour on either side with a smaller text index (LCP only shrinks with
// distance in suffix order). A stack sweep in each direction finds it, carrying the running LCP
// minimum between stack entries: O(n) after the suffix array.
uint64_t Analyzer::LambdaSumOfBuiltArray() {
  const size_t n = sa_.size();
  const uint32_t* order = sa_.sa();
  const uint32_t* lcp = sa_.lcp();
  stack_pos_.resize(n);
  stack_lcp_.resize(n);  // stack_lcp_[t] = lcp between stack entries t and t + 1
  left_lcp_.resize(n);
  // One sweep; `adjacent(p)` is the lcp between p and the previously visited position.
  auto sweep = [&](size_t p, uint32_t adjacent, size_t& top) -> uint32_t {
    const uint32_t pos = order[p];
    uint32_t cur = adjacent;
    while (top > 0 && stack_pos_[top - 1] > pos) {
      --top;
      if (top > 0) cur = std::min(cur, stack_lcp_[top - 1]);
    }
    const uint32_t best = top > 0 ? cur : 0;
    if (top > 0) stack_lcp_[top - 1] = cur;
    stack_pos_[top++] = pos;
    return best;
  };
  size_t top = 0;
  for (size_t p = 0; p < n; ++p) left_lcp_[p] = sweep(p, p > 0 ? lcp[p] : 0, top);
  top = 0;
  uint64_t sum = 0;
  for (size_t p = n; p-- > 0;) {
    const uint32_t right = sweep(p, p + 1 < n ? lcp[p + 1] : 0, top);
    sum += 1 + uint64_t{std::max(left_lcp_[p], right)};
  }
  return sum;
}

// ---- Dataset level ----

// Running sums of one per-user measure.
struct Accumulator {
  double sum = 0, weighted_sum = 0, weight = 0;
  uint64_t defined = 0, undefined = 0, infinite = 0;

  void Add(double v, size_t length) {
    if (std::isnan(v)) {
      ++undefined;
    } else if (std::isinf(v)) {
      ++infinite;
    } else {
      const double w = static_cast<double>(length);
      sum += v, weighted_sum += w * v, weight += w, ++defined;
    }
  }
  void Merge(const Accumulator& o) {
    sum += o.sum, weighted_sum += o.weighted_sum, weight += o.weight;
    defined += o.defined, undefined += o.undefined, infinite += o.infinite;
  }
  UserAggregate Finish() const {
    UserAggregate a;
    a.users_defined = defined, a.users_undefined = undefined, a.users_infinite = infinite;
    if (defined > 0) a.mean = sum / static_cast<double>(defined);
    if (weight > 0) a.weighted_mean = weighted_sum / weight;
    return a;
  }
};

// Where each user's kept (truncated) items lie in the kept stream.
struct KeptStream {
  const Sequences* seqs;
  size_t max_seq_len;
  std::vector<uint64_t> prefix;  // prefix[u] = kept tokens of users before u

  KeptStream(const Sequences& s, size_t max_len) : seqs(&s), max_seq_len(max_len) {
    prefix.resize(s.num_users() + 1);
    prefix[0] = 0;
    for (size_t u = 0; u < s.num_users(); ++u) prefix[u + 1] = prefix[u] + Kept(u).size;
  }
  ItemSpan Kept(size_t u) const { return seqs->user(u).Last(max_seq_len); }
  uint64_t tokens() const { return prefix.back(); }

  // Copies kept tokens [begin, end) into out as uint32 little-endian.
  void CopyBytes(uint64_t begin, uint64_t end, unsigned char* out) const {
    size_t u = std::upper_bound(prefix.begin(), prefix.end(), begin) - prefix.begin() - 1;
    for (uint64_t t = begin; t < end; ++u) {
      const ItemSpan items = Kept(u);
      for (size_t k = t - prefix[u]; k < items.size && t < end; ++k, ++t, out += 4) {
        const uint32_t v = items[k];
        out[0] = v & 0xff, out[1] = (v >> 8) & 0xff, out[2] = (v >> 16) & 0xff, out[3] = v >> 24;
      }
    }
  }
};

// Consecutive users holding about kBlockTokens kept tokens: the unit of work and of summation.
constexpr uint64_t kBlockTokens = uint64_t{1} << 16;

std::vector<size_t> UserBlocks(const KeptStream& kept) {
  std::vector<size_t> starts{0};
  const size_t users = kept.prefix.size() - 1;
  for (size_t u = 1; u < users; ++u) {
    if (kept.prefix[u] - kept.prefix[starts.back()] >= kBlockTokens) starts.push_back(u);
  }
  starts.push_back(users);
  return starts;
}

// Per-worker item histograms are used while they fit in this many counters in total.
constexpr uint64_t kMaxDenseCounters = uint64_t{1} << 26;

// Shannon entropy in bits of a histogram, summed in id order.
double EntropyBits(const std::vector<uint64_t>& counts, uint64_t total) {
  if (total == 0) return kNaN;
  double s = 0;
  for (uint64_t c : counts) {
    if (c > 0) s += static_cast<double>(c) * std::log2(static_cast<double>(c));
  }
  const double t = static_cast<double>(total);
  return std::log2(t) - s / t;
}

// Fallback for huge sparse ids: sort a copy of the kept stream and count runs.
std::vector<uint64_t> SortedHistogram(const KeptStream& kept) {
  std::vector<uint32_t> all;
  all.reserve(kept.tokens());
  for (size_t u = 0; u + 1 < kept.prefix.size(); ++u) {
    const ItemSpan items = kept.Kept(u);
    all.insert(all.end(), items.begin(), items.end());
  }
  std::sort(all.begin(), all.end());
  std::vector<uint64_t> counts;
  for (size_t i = 0; i < all.size();) {
    size_t j = i;
    while (j < all.size() && all[j] == all[i]) ++j;
    counts.push_back(j - i);
    i = j;
  }
  return counts;
}

struct UserPass {
  Accumulator apen, sampen, lz;
  std::vector<uint64_t> item_counts;  // dense histogram, when the Shannon measure uses one
  bool dense_counts = false;
};

UserPass MeasureUsers(const KeptStream& kept, const QualityOptions& o, size_t threads) {
  const std::vector<size_t> blocks = UserBlocks(kept);
  const size_t num_blocks = blocks.size() - 1;
  const size_t workers = std::max<size_t>(1, std::min(threads, num_blocks));
  const auto& items = kept.seqs->items;
  const uint64_t id_range =
      items.empty() ? 1 : uint64_t{*std::max_element(items.begin(), items.end())} + 1;
  UserPass out;
  out.dense_counts = o.shannon && id_range * workers <= kMaxDenseCounters;
  std::vector<std::vector<uint64_t>> counts(out.dense_counts ? workers : 0);
  for (auto& c : counts) c.assign(id_range, 0);
  std::vector<Analyzer> analyzers(workers);
  std::vector<std::array<Accumulator, 3>> partial(num_blocks);
  Analyzer::Params params;
  params.m = static_cast<uint64_t>(o.m), params.r = o.r;
  params.apen = o.apen, params.sampen = o.sampen, params.lz = o.lz;
  const bool per_user = o.apen || o.sampen || o.lz;
  ParallelFor(num_blocks, workers, [&](size_t b, size_t w) {
    for (size_t u = blocks[b]; u < blocks[b + 1]; ++u) {
      const ItemSpan x = kept.Kept(u);
      if (out.dense_counts) {
        for (uint32_t v : x) ++counts[w][v];
      }
      if (!per_user) continue;
      const Analyzer::Result r = analyzers[w].Measure(x, params);
      partial[b][0].Add(r.apen, x.size);
      partial[b][1].Add(r.sampen, x.size);
      partial[b][2].Add(r.lz, x.size);
    }
  });
  for (const auto& p : partial) out.apen.Merge(p[0]), out.sampen.Merge(p[1]), out.lz.Merge(p[2]);
  if (out.dense_counts) {
    out.item_counts = std::move(counts[0]);
    for (size_t w = 1; w < workers; ++w) {
      for (size_t v = 0; v < id_range; ++v) out.item_counts[v] += counts[w][v];
    }
  }
  return out;
}

// Sum of compressed chunk sizes over raw bytes; negative zlib error code on failure.
double ZlibRatio(const KeptStream& kept, int level, size_t threads, int* error) {
  const uint64_t tokens = kept.tokens();
  if (tokens == 0) return kNaN;
  const uint64_t chunk_tokens = kZlibChunkBytes / 4;
  const size_t chunks = (tokens + chunk_tokens - 1) / chunk_tokens;
  const size_t workers = std::max<size_t>(1, std::min(threads, chunks));
  std::vector<std::vector<unsigned char>> raw(workers), packed(workers);
  std::vector<uint64_t> sizes(chunks, 0);
  std::atomic<int> failure{Z_OK};
  ParallelFor(chunks, workers, [&](size_t c, size_t w) {
    const uint64_t begin = c * chunk_tokens, end = std::min(tokens, begin + chunk_tokens);
    raw[w].resize((end - begin) * 4);
    kept.CopyBytes(begin, end, raw[w].data());
    uLongf packed_size = compressBound(raw[w].size());
    packed[w].resize(packed_size);
    const int rc = compress2(packed[w].data(), &packed_size, raw[w].data(), raw[w].size(), level);
    if (rc != Z_OK) failure = rc;
    sizes[c] = packed_size;
  });
  *error = failure;
  uint64_t total = 0;
  for (uint64_t s : sizes) total += s;
  return static_cast<double>(total) / (4.0 * static_cast<double>(tokens));
}

}  // namespace

double ApproximateEntropy(ItemSpan x, int m, double r) {
  if (!ValidParams(m, r)) return kNaN;
  Analyzer::Params p;
  p.m = static_cast<uint64_t>(m), p.r = r, p.sampen = false, p.lz = false;
  return Analyzer().Measure(x, p).apen;
}

double SampleEntropy(ItemSpan x, int m, double r) {
  if (!ValidParams(m, r)) return kNaN;
  Analyzer::Params p;
  p.m = static_cast<uint64_t>(m), p.r = r, p.apen = false, p.lz = false;
  return Analyzer().Measure(x, p).sampen;
}

double LempelZivEntropy(ItemSpan x) {
  Analyzer::Params p;
  p.apen = p.sampen = false;
  return Analyzer().Measure(x, p).lz;
}

uint64_t LempelZivLambdaSum(ItemSpan x) { return Analyzer().LambdaSum(x); }

bool QualityOptions::IsValid(std::string* why) const {
  std::ostringstream msg;
  if (m < 1) {
    msg << "--m must be >= 1, got " << m;
  } else if (!std::isfinite(r) || r < 0) {
    msg << "--r must be a finite number >= 0, got " << r;
  } else if (zlib_level < 1 || zlib_level > 9) {
    msg << "--zlib-level must be in 1..9, got " << zlib_level;
  } else if (threads < 0) {
    msg << "--threads must be >= 0 (0 = all cores), got " << threads;
  } else {
    return true;
  }
  if (why) *why = msg.str();
  return false;
}

QualitySummary ComputeQuality(const Sequences& seqs, const QualityOptions& options) {
  QualitySummary s;
  s.options = options;
  if (!options.IsValid(&s.message)) return s;
  const size_t threads = ResolveThreads(options.threads);
  const KeptStream kept(seqs, options.max_seq_len);
  s.users = seqs.num_users();
  s.tokens = kept.tokens();
  if (options.apen || options.sampen || options.lz || options.shannon) {
    const UserPass pass = MeasureUsers(kept, options, threads);
    if (options.apen) s.apen = pass.apen.Finish();
    if (options.sampen) s.sampen = pass.sampen.Finish();
    if (options.lz) s.lz = pass.lz.Finish();
    if (options.shannon) {
      s.shannon_bits =
          EntropyBits(pass.dense_counts ? pass.item_counts : SortedHistogram(kept), s.tokens);
    }
  }
  if (options.apen) s.d_prime = static_cast<double>(s.tokens) * s.apen.mean;
  if (options.transition) s.transition = ComputeTransitionEntropy(seqs, options.max_seq_len);
  if (options.zlib) {
    int error = Z_OK;
    s.zlib_ratio = ZlibRatio(kept, options.zlib_level, threads, &error);
    if (error != Z_OK) {
      s.zlib_ratio = kNaN;
      s.message = "zlib compress2 failed with code " + std::to_string(error);
      return s;
    }
  }
  s.ok = true;
  s.message = "ok";
  return s;
}

}  // namespace perflaw::apen
