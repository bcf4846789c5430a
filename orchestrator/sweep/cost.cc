#include "orchestrator/sweep/cost.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "apen/cache.h"
#include "apen/dataset.h"
#include "apen/synth.h"
#include "orchestrator/sweep/reader.h"

namespace perflaw::orchestrator {
namespace {

// Sequence lengths of a dataset (before subsampling), for the token estimate.
using Profile = std::vector<uint32_t>;

// Lengths of a dataset's sequences before subsampling and truncation.
StatusOr<Profile> LoadProfile(const Sweep& sweep, const DatasetSpec& ds,
                              const apen::DataOptions& data, const apen::CacheOptions& cache) {
  std::optional<apen::Dataset> loaded;
  if (ds.synthetic) {
    loaded = apen::GenerateSynthetic(ds.synth);  // preprocessing keys are not applied: an estimate
  } else {
    apen::DataOptions o = data;
    o.user_fraction = 1.0;
    StatusOr<apen::Dataset> read = apen::LoadDataset(o, cache);
    if (!read.ok())
      return Status::InvalidArgument(WhereIn(sweep.source, ds.where) + "dataset " + ds.name + ": " +
                                     read.status().message());
    loaded = std::move(read).value();
  }
  Profile lengths(loaded->num_users());
  for (size_t u = 0; u < lengths.size(); ++u)
    lengths[u] = static_cast<uint32_t>(loaded->sequences.user(u).size);
  return lengths;
}

// What the profile of a point's data depends on: its dataset and its data options but the three
// that act after loading (truncation and subsampling).
std::string ProfileKey(const GridPoint& p) {
  apen::DataOptions o = p.config.data;
  o.max_seq_len = 0;
  o.user_fraction = 1.0;
  o.subsample_seed = 0;
  return p.dataset + "\n" + o.CanonicalString();
}

// Training tokens of one epoch: the kept users' train lengths (leave-one-out), truncated.
double EpochTokens(const Profile& lengths, const apen::DataOptions& data) {
  const double fraction = data.user_fraction;
  const uint64_t seed = data.subsample_seed;
  const uint64_t max_len = data.max_seq_len;
  double tokens = 0;
  for (size_t u = 0; u < lengths.size(); ++u) {
    if (fraction < 1 && !apen::KeepUser(u, fraction, seed)) continue;
    uint64_t train = lengths[u] >= 3 ? lengths[u] - 2 : lengths[u];  // leave-one-out
    tokens += static_cast<double>(std::min(train, max_len));
  }
  return tokens;
}

const DatasetSpec& DatasetOf(const Sweep& sweep, const GridPoint& p) {
  size_t d = 0;
  while (sweep.datasets[d].name != p.dataset) ++d;
  return sweep.datasets[d];
}

}  // namespace

law::ModelShape ModelShapeOf(const worker::PointConfig& config) {
  law::ModelShape m;
  m.type = worker::ModelTypeName(config.model.type);
  m.layers = config.model.layers;
  m.d_model = config.model.d_model;
  m.ffn_multiplier = config.model.ffn_multiplier;
  m.max_seq_len = static_cast<double>(config.data.max_seq_len);
  return m;
}

Status EstimateCosts(Sweep* sweep, const apen::CacheOptions& cache) {
  std::map<std::string, Profile> profiles;
  // Points that differ only in the model share their data, and a pass over a real dataset's users
  // per point would dominate a large sweep's planning.
  std::map<std::string, double> epoch_tokens;
  for (GridPoint& p : sweep->points) {
    const std::string key = ProfileKey(p);
    auto it = profiles.find(key);
    if (it == profiles.end()) {
      StatusOr<Profile> profile = LoadProfile(*sweep, DatasetOf(*sweep, p), p.config.data, cache);
      if (!profile.ok()) return profile.status();
      it = profiles.emplace(key, std::move(profile).value()).first;
    }
    const std::string data_key = p.dataset + "\n" + p.config.data.CanonicalString();
    auto tokens = epoch_tokens.find(data_key);
    if (tokens == epoch_tokens.end())
      tokens = epoch_tokens.emplace(data_key, EpochTokens(it->second, p.config.data)).first;
    p.non_embedding_params = law::NonEmbeddingParams(ModelShapeOf(p.config));
    p.tokens = tokens->second * p.config.train.epochs;
    p.cost = p.non_embedding_params * p.tokens;
  }
  return Status::Ok();
}

}  // namespace perflaw::orchestrator
