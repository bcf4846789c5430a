#include "orchestrator/store/law_db.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>

#include "orchestrator/cli/sweep_select.h"
#include "orchestrator/store/sqlite_util.h"
#include "worker/point_config.h"

namespace perflaw::orchestrator {
namespace {

using json = nlohmann::json;

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// hr/10 -> HR@10, mrr/0 -> MRR: the names law/ and the sweep's law.metrics use.
std::string MetricName(const std::string& metric, int64_t k) {
  return k > 0 ? Upper(metric) + "@" + std::to_string(k) : Upper(metric);
}

std::string Join(const std::set<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// One result_metrics row of a completed point.
struct MetricRow {
  std::string point;
  json config;
  std::string metric;  // law name, e.g. HR@10
  std::string protocol;
  std::optional<double> value;
  std::optional<double> users, best_epoch, epochs;  // evaluated users; the result's epochs
  std::optional<double> eval_seed;
};

// sweep 0 = every sweep; ?1 is the sweep in both queries.
constexpr char kInSweep[] =
    " AND (?1 = 0 OR EXISTS (SELECT 1 FROM sweep_points sp WHERE sp.point = p.id AND sp.sweep = "
    "?1))";

StatusOr<int64_t> CountCompleted(const SqliteDb& db, int64_t sweep) {
  return QueryInt(
      db, std::string("SELECT count(*) FROM points p WHERE p.state = 'COMPLETED'") + kInSweep,
      sweep);
}

StatusOr<std::vector<MetricRow>> LoadMetricRows(const SqliteDb& db, const std::string& split,
                                                int64_t sweep) {
  StatusOr<Statement> st = Statement::Prepare(
      db, std::string("SELECT p.id, p.config, m.metric, m.k, m.protocol, m.value, m.users, "
                      "r.best_epoch, json_array_length(r.result, '$.epochs'), m.eval_seed FROM "
                      "points p JOIN result_metrics m ON m.point = p.id JOIN results r ON "
                      "r.point = p.id WHERE p.state = 'COMPLETED' AND m.split = ?2 AND m.metric "
                      "IN ('hr', 'ndcg', 'mrr')") +
              kInSweep + " ORDER BY p.id, m.metric, m.k, m.protocol");
  if (!st.ok()) return st.status();
  PERFLAW_RETURN_IF_ERROR(st->BindInt64(1, sweep));
  PERFLAW_RETURN_IF_ERROR(st->BindText(2, split));
  std::vector<MetricRow> rows;
  std::map<std::string, json> configs;
  while (true) {
    StatusOr<bool> more = st->Step();
    if (!more.ok()) return more.status();
    if (!*more) break;
    MetricRow r;
    r.point = st->Text(0);
    auto it = configs.find(r.point);
    if (it == configs.end()) {
      json c = json::parse(st->Text(1), nullptr, /*allow_exceptions=*/false);
      if (c.is_discarded())
        return Status::InvalidArgument("point " + r.point + ": config is not JSON");
      it = configs.emplace(r.point, std::move(c)).first;
    }
    r.config = it->second;
    r.metric = MetricName(st->Text(2), st->Int64(3));
    r.protocol = st->Text(4);
    r.value = st->OptionalDouble(5);
    r.users = st->OptionalDouble(6);
    r.best_epoch = st->OptionalDouble(7);
    r.epochs = st->OptionalDouble(8);
    r.eval_seed = st->OptionalDouble(9);
    rows.push_back(std::move(r));
  }
  return rows;
}

// Keeps the rows of one metric (if given) and one protocol; refuses to mix protocols.
Status SelectRows(const LawDbOptions& o, const std::string& where, std::vector<MetricRow>* rows,
                  std::string* protocol) {
  std::set<std::string> metrics;
  for (const MetricRow& r : *rows) metrics.insert(r.metric);
  if (!o.metric.empty()) {
    const std::string want = Upper(o.metric);
    rows->erase(std::remove_if(rows->begin(), rows->end(),
                               [&](const MetricRow& r) { return r.metric != want; }),
                rows->end());
    if (rows->empty())
      return Status::InvalidArgument("--metric " + o.metric + ": not measured on split " + o.split +
                                     " in " + where + " (present: " + Join(metrics) + ")");
  }
  std::set<std::string> protocols;
  for (const MetricRow& r : *rows) protocols.insert(r.protocol);
  if (!o.protocol.empty()) {
    rows->erase(std::remove_if(rows->begin(), rows->end(),
                               [&](const MetricRow& r) { return r.protocol != o.protocol; }),
                rows->end());
    if (rows->empty())
      return Status::InvalidArgument("--protocol " + o.protocol + ": no " + o.split +
                                     " metrics with it in " + where +
                                     " (present: " + Join(protocols) + ")");
    *protocol = o.protocol;
    return Status::Ok();
  }
  if (protocols.size() > 1)
    return Status::InvalidArgument(where + ": the " + o.split +
                                   " metrics mix evaluation protocols (" + Join(protocols) +
                                   "), which are not comparable; choose one with --protocol");
  *protocol = *protocols.begin();
  return Status::Ok();
}

StatusOr<double> ConfigNumber(const MetricRow& r, const char* pointer) {
  const json::json_pointer p(pointer);
  if (!r.config.contains(p) || !r.config[p].is_number())
    return Status::InvalidArgument("point " + r.point + ": config has no number at " +
                                   std::string(pointer + 1));
  return r.config[p].get<double>();
}

// model.type and model.ffn_multiplier, for the parameter count (absent: the worker's defaults).
Status ReadModelShape(const MetricRow& r, law::Observation* o) {
  const json::json_pointer type("/model/type"), ffn("/model/ffn_multiplier");
  if (r.config.contains(type)) {
    if (!r.config[type].is_string())
      return Status::InvalidArgument("point " + r.point + ": config model.type is not a string");
    o->model_type = r.config[type].get<std::string>();
  }
  if (r.config.contains(ffn)) {
    StatusOr<double> v = ConfigNumber(r, "/model/ffn_multiplier");
    if (!v.ok()) return v.status();
    o->ffn_multiplier = *v;
  }
  return Status::Ok();
}

// A point's data, as dataset_stats keys it: the canonical data options without max_seq_len
// (RecordDatasetStats stores one row per these options and each L).
struct DataKey {
  std::string path;
  std::string options;       // apen::DataOptions::CanonicalString() with max_seq_len 0
  json variant;              // the config's data keys other than path and max_seq_len
  std::string variant_text;  // variant.dump(), for ordering
  bool whole = true;         // every user kept (user_fraction 1)
  bool operator<(const DataKey& o) const {
    return std::tie(path, options, variant_text) < std::tie(o.path, o.options, o.variant_text);
  }
};

// A config this perflaw cannot read as a point (e.g. written by another version) keeps the file's
// key only: its stats are then looked up by path, as for a point that keeps every user.
DataKey DataKeyOf(const MetricRow& r) {
  DataKey key;
  key.path = r.config["data"]["path"].get<std::string>();
  key.variant = r.config["data"];
  key.variant.erase("path");
  key.variant.erase("max_seq_len");
  key.variant_text = key.variant.dump();
  StatusOr<worker::PointConfig> config = worker::PointConfigFromJson(r.config, "point " + r.point);
  if (!config.ok()) return key;
  apen::DataOptions data = config->data;
  data.max_seq_len = 0;
  key.options = data.CanonicalString();
  key.whole = data.user_fraction >= 1;
  return key;
}

// The sweep's default dataset name is the file's stem; two paths with one stem keep their paths.
// A path read with several data options (e.g. a data.user_fraction axis) names each variant by the
// keys in which it differs from the others: "ml-100k{user_fraction=0.25}".
std::map<DataKey, std::string> DatasetNames(const std::set<DataKey>& keys) {
  std::map<std::string, std::set<std::string>> stems;
  std::map<std::string, std::vector<const DataKey*>> variants;
  for (const DataKey& k : keys) {
    stems[std::filesystem::path(k.path).stem().string()].insert(k.path);
    variants[k.path].push_back(&k);
  }
  std::map<DataKey, std::string> names;
  for (const DataKey& k : keys) {
    const std::string stem = std::filesystem::path(k.path).stem().string();
    std::string name = stems[stem].size() == 1 && !stem.empty() ? stem : k.path;
    const std::vector<const DataKey*>& same_path = variants[k.path];
    if (same_path.size() > 1) {
      std::string differing;
      for (const auto& [field, value] : k.variant.items()) {
        bool differs = false;
        for (const DataKey* other : same_path)
          differs = differs || !other->variant.contains(field) || other->variant[field] != value;
        if (differs) differing += (differing.empty() ? "" : ",") + field + "=" + value.dump();
      }
      name += "{" + (differing.empty() ? k.options : differing) + "}";
    }
    names[k] = name;
  }
  return names;
}

// The dataset_stats rows of a point's data at one L: those stored for the same data options; when
// there are none and the point keeps every user, those of the same file (stored by `perflaw data
// stats` with other spellings of the options, e.g. format auto).
// ?1 dataset path, ?2 options, ?3 max_seq_len, ?4 whole.
constexpr char kStatsOfData[] =
    " FROM dataset_stats WHERE dataset = ?1 AND max_seq_len = ?3 AND (options = ?2 OR (?4 AND NOT "
    "EXISTS (SELECT 1 FROM dataset_stats s WHERE s.dataset = ?1 AND s.max_seq_len = ?3 AND "
    "s.options = ?2)))";

Status BindStatsOfData(const DataKey& key, double max_seq_len, Statement* st) {
  return st->BindAll(key.path, key.options, static_cast<int64_t>(max_seq_len),
                     static_cast<int64_t>(key.whole));
}

// What dataset_stats says of one (data, max_seq_len); kMissing where it holds no single value.
struct DataStats {
  double tokens = law::kMissing, apen = law::kMissing, transition = law::kMissing;
};

// tokens and apen of (data options, max_seq_len) when dataset_stats holds exactly one value for
// them (several rows with different values, e.g. other ApEn m/r, leave them missing).
Status LookUpStats(const SqliteDb& db, const DataKey& key, double max_seq_len, DataStats* o) {
  StatusOr<Statement> st =
      Statement::Prepare(db, std::string("SELECT DISTINCT tokens, apen") + kStatsOfData);
  if (!st.ok()) return st.status();
  PERFLAW_RETURN_IF_ERROR(BindStatsOfData(key, max_seq_len, &*st));
  int n = 0;
  double tokens = law::kMissing, apen = law::kMissing;
  while (true) {
    StatusOr<bool> more = st->Step();
    if (!more.ok()) return more.status();
    if (!*more) break;
    ++n;
    tokens = st->IsNull(0) ? law::kMissing : st->Double(0);
    apen = st->Double(1);  // NULL reads as NaN = missing
  }
  if (n == 1) {
    o->tokens = tokens;
    o->apen = apen;
  }
  return Status::Ok();
}

// The transition entropy of (data options, max_seq_len) when dataset_stats holds one value for
// them (ApEn's m and r do not change it); a file older than schema version 3 has none.
Status LookUpTransition(const ResultsDb& db, const DataKey& key, double max_seq_len, DataStats* o) {
  if (db.schema_version() < 3) return Status::Ok();
  StatusOr<Statement> st =
      Statement::Prepare(db.connection(), std::string("SELECT DISTINCT transition_bits") +
                                              kStatsOfData + " AND transition_bits IS NOT NULL");
  if (!st.ok()) return st.status();
  PERFLAW_RETURN_IF_ERROR(BindStatsOfData(key, max_seq_len, &*st));
  int n = 0;
  double bits = law::kMissing;
  while (true) {
    StatusOr<bool> more = st->Step();
    if (!more.ok()) return more.status();
    if (!*more) break;
    ++n;
    bits = st->Double(0);
  }
  if (n == 1) o->transition = bits;
  return Status::Ok();
}

}  // namespace

bool LawDbOptions::IsValid(std::string* why) const {
  if (split != "test" && split != "valid") {
    *why = "--split must be test or valid, not \"" + split + "\"";
    return false;
  }
  return true;
}

StatusOr<LawDbInput> ReadObservations(const std::string& db_path, const LawDbOptions& options) {
  std::string why;
  if (!options.IsValid(&why)) return Status::InvalidArgument(why);
  StatusOr<std::unique_ptr<ResultsDb>> db = ResultsDb::OpenReadOnly(db_path);
  if (!db.ok()) return db.status();
  const SqliteDb& conn = (*db)->connection();
  LawDbInput in;
  if (!options.sweep.empty()) {
    StatusOr<int64_t> sweep = ResolveSweep(conn, options.sweep);
    if (!sweep.ok()) return sweep.status();
    in.sweep = *sweep;
  }
  StatusOr<int64_t> sweeps = CountSweeps(conn);
  if (!sweeps.ok()) return sweeps.status();
  in.sweeps = *sweeps;
  StatusOr<int64_t> completed = CountCompleted(conn, in.sweep);
  if (!completed.ok()) return completed.status();
  if (*completed == 0)
    return Status::FailedPrecondition(db_path +
                                      (in.sweep ? " sweep " + options.sweep : std::string()) +
                                      ": no completed points to fit (run the sweep first)");
  in.points = *completed;
  StatusOr<std::vector<MetricRow>> rows = LoadMetricRows(conn, options.split, in.sweep);
  if (!rows.ok()) return rows.status();
  if (rows->empty())
    return Status::InvalidArgument(db_path + ": the completed points have no " + options.split +
                                   " ranking metrics");
  PERFLAW_RETURN_IF_ERROR(SelectRows(options, db_path, &*rows, &in.protocol));

  // Rows come one per (point, metric): each point's data is read once, each (data, L)'s
  // statistics looked up once.
  std::map<std::string, DataKey> point_keys;
  std::set<DataKey> keys;
  for (const MetricRow& r : *rows) {
    if (!r.config.contains(json::json_pointer("/data/path")) ||
        !r.config["data"]["path"].is_string())
      return Status::InvalidArgument("point " + r.point + ": config has no data.path");
    if (!point_keys.count(r.point)) keys.insert(point_keys[r.point] = DataKeyOf(r));
  }
  const std::map<DataKey, std::string> names = DatasetNames(keys);
  std::map<std::pair<DataKey, double>, DataStats> stats;
  std::set<int64_t> seeds;
  for (const MetricRow& r : *rows) {
    const DataKey& key = point_keys.at(r.point);
    law::Observation o;
    o.origin = db_path + ": point " + r.point;
    if (!r.value)
      return Status::InvalidArgument(o.origin + ": " + options.split + " " + r.metric +
                                     " is not a finite number");
    StatusOr<double> l = ConfigNumber(r, "/data/max_seq_len");
    StatusOr<double> n = ConfigNumber(r, "/model/layers");
    StatusOr<double> d = ConfigNumber(r, "/model/d_model");
    for (const auto* s : {&l, &n, &d})
      if (!s->ok()) return s->status();
    o.dataset = names.at(key);
    o.max_seq_len = *l;
    o.layers = *n;
    o.d_model = *d;
    PERFLAW_RETURN_IF_ERROR(ReadModelShape(r, &o));
    o.metric = r.metric;
    o.value = *r.value;
    if (r.users && *r.users > 0) o.users = *r.users;
    if (r.best_epoch && r.epochs && *r.best_epoch > 0 && *r.best_epoch <= *r.epochs) {
      o.best_epoch = *r.best_epoch;
      o.epochs = *r.epochs;
    }
    if (r.eval_seed) seeds.insert(static_cast<int64_t>(*r.eval_seed));
    auto [it, fresh] = stats.try_emplace({key, o.max_seq_len});
    if (fresh) {
      PERFLAW_RETURN_IF_ERROR(LookUpStats(conn, key, o.max_seq_len, &it->second));
      PERFLAW_RETURN_IF_ERROR(LookUpTransition(**db, key, o.max_seq_len, &it->second));
    }
    o.tokens = it->second.tokens;
    o.apen = it->second.apen;
    o.transition = it->second.transition;
    in.dataset_paths[o.dataset] = key.path;
    in.rows.push_back(std::move(o));
  }
  for (int64_t seed : seeds)
    in.eval_seeds += (in.eval_seeds.empty() ? "" : ", ") + std::to_string(seed);
  in.read = true;
  return in;
}

StatusOr<std::vector<StoredFit>> StoreFits(const std::string& db_path,
                                           const std::vector<FitRecord>& fits) {
  StatusOr<std::unique_ptr<ResultsDb>> db = ResultsDb::OpenForWriting(db_path);
  if (!db.ok()) return db.status();
  std::vector<StoredFit> stored;
  for (const FitRecord& f : fits) {
    StatusOr<StoredFit> one = (*db)->StoreFit(f);
    if (!one.ok()) return one.status();
    stored.push_back(*one);
  }
  return stored;
}

}  // namespace perflaw::orchestrator
