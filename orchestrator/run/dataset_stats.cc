#include "orchestrator/run/dataset_stats.h"

#include <cstdio>
#include <filesystem>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <utility>

#include "apen/quality.h"

namespace perflaw::orchestrator {

namespace fs = std::filesystem;

Status RecordDatasetStats(const Sweep& sweep, ResultsDb* db, std::ostream& err) {
  std::map<std::string, std::pair<apen::DataOptions, std::set<size_t>>> configs;
  for (const GridPoint& p : sweep.points) {
    apen::DataOptions data = p.config.data;
    const size_t max_len = data.max_seq_len;
    data.max_seq_len = 0;
    auto& entry = configs[data.CanonicalString()];
    entry.first = data;
    entry.second.insert(max_len);
  }
  apen::CacheOptions cache;
  cache.dir = sweep.work_dir + "/cache";
  for (const auto& [canonical, entry] : configs) {
    StatusOr<apen::Dataset> data = apen::LoadDataset(entry.first, cache);
    if (!data.ok()) return data.status();
    for (size_t max_len : entry.second) {
      apen::QualityOptions q;
      q.max_seq_len = max_len;
      const apen::QualitySummary quality = apen::ComputeQuality(data->sequences, q);
      if (!quality.ok) return Status::Internal("data-quality measures: " + quality.message);
      const DatasetStatsRecord r = StatsRecordOf(entry.first, *data, quality);
      PERFLAW_RETURN_IF_ERROR(db->StoreDatasetStats(r));
      char line[256];
      std::snprintf(line, sizeof line,
                    "L %zu: %lld users, %lld tokens, ApEn(m=2, r=0.2) mean %.4g, LZ entropy %.4g "
                    "bits/item, H(next|previous) %.4g bits",
                    max_len, static_cast<long long>(r.users), static_cast<long long>(r.tokens),
                    r.apen, r.lz_entropy, r.transition_bits);
      err << "perflaw: dataset " << fs::path(entry.first.path).filename().string() << " " << line
          << " (stored in dataset_stats)" << std::endl;
    }
  }
  return Status::Ok();
}

}  // namespace perflaw::orchestrator
