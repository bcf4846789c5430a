#include "worker/metrics.h"

#include <cmath>
#include <limits>

namespace perflaw::worker {
namespace {

double Lookup(const std::vector<std::pair<uint32_t, double>>& values, uint32_t k) {
  for (const auto& [key, v] : values)
    if (key == k) return v;
  return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace

double RankMetrics::Hr(uint32_t k) const { return Lookup(hr, k); }
double RankMetrics::Ndcg(uint32_t k) const { return Lookup(ndcg, k); }

RankMetrics ComputeRankMetrics(const std::vector<uint32_t>& ranks,
                               const std::vector<uint32_t>& ks) {
  RankMetrics m;
  m.users = ranks.size();
  std::vector<double> hits(ks.size(), 0.0), gains(ks.size(), 0.0);
  double rr = 0.0;
  for (uint32_t rank : ranks) {
    rr += 1.0 / rank;
    const double gain = 1.0 / std::log2(rank + 1.0);
    for (size_t i = 0; i < ks.size(); ++i) {
      if (rank <= ks[i]) {
        hits[i] += 1.0;
        gains[i] += gain;
      }
    }
  }
  const double n = ranks.empty() ? 1.0 : static_cast<double>(ranks.size());
  m.mrr = rr / n;
  for (size_t i = 0; i < ks.size(); ++i) {
    m.hr.emplace_back(ks[i], hits[i] / n);
    m.ndcg.emplace_back(ks[i], gains[i] / n);
  }
  return m;
}

}  // namespace perflaw::worker
