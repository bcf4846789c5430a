// `perflaw data stats | prepare | synth`: dataset summaries with every quality measure, cache
// preparation, and synthetic datasets. See docs/data.md.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "apen/cache.h"
#include "apen/dataset.h"
#include "apen/quality.h"
#include "apen/synth.h"
#include "apen/text.h"
#include "orchestrator/cli/cli.h"
#include "orchestrator/store/results_db.h"
#include "orchestrator/cli/table.h"

namespace perflaw::cli {
namespace {

namespace fs = std::filesystem;
using apen::CacheOptions;
using apen::DataOptions;
using apen::Dataset;
using orchestrator::JsonNumber;

// ---- Option plumbing ----

// CLI11 2.1 wraps "-5" around when converting to an unsigned type; reject a sign up front.
CLI::Validator NonNegative() {
  return CLI::Validator(
      [](std::string& v) {
        return v.find('-') == std::string::npos ? std::string()
                                                : apen::NotNonNegativeIntegerMessage("", v);
      },
      "UINT");
}

// Rewrites an options struct's "key ..." message to name the command-line flag ("--key ...").
std::string NameFlag(const std::string& why) {
  size_t end = 0;
  while (end < why.size() &&
         (std::islower(static_cast<unsigned char>(why[end])) || why[end] == '_'))
    ++end;
  std::string key = why.substr(0, end);
  if (key.empty() || end == why.size() || (why[end] != ' ' && why[end] != ':')) return why;
  if (key == "path") return "DATASET" + why.substr(end);
  if (key == "format") return "--input-format" + why.substr(end);
  std::replace(key.begin(), key.end(), '_', '-');
  return "--" + key + why.substr(end);
}

// Preprocessing flags shared by `stats` and `prepare`.
struct DataFlags {
  DataOptions options;
  std::string input_format = "auto";
  double min_rating = 0;
  CLI::Option* min_rating_flag = nullptr;
  std::string cache_dir;
  bool no_cache = false;

  void Register(CLI::App* cmd) {
    cmd->add_option("DATASET", options.path,
                    "dataset file (sasrec, .inter, ratings.dat, csv/tsv, binary)")
        ->required();
    cmd->add_option("--input-format", input_format,
                    "auto|sasrec|atomic|movielens|csv|binary (default auto: detect)");
    min_rating_flag = cmd->add_option("--min-rating", min_rating,
                                      "drop interactions rated below this (default: keep all)");
    cmd->add_option("--k-core", options.k_core,
                    "iteratively keep users and items with >= k interactions (default 0 = off)")
        ->check(NonNegative());
    cmd->add_flag("--drop-repeats", options.drop_repeats,
                  "collapse consecutive repeats of an item in a user's sequence");
    cmd->add_option("--user-fraction", options.user_fraction,
                    "keep this fraction of users, 0 < f <= 1 (default 1)");
    cmd->add_option("--subsample-seed", options.subsample_seed,
                    "seed of the user subsample (default 0)")
        ->check(NonNegative());
    cmd->add_option("--user-column", options.user_column,
                    "csv/atomic user column (default user_id)");
    cmd->add_option("--item-column", options.item_column,
                    "csv/atomic item column (default item_id)");
    cmd->add_option("--time-column", options.time_column,
                    "csv/atomic timestamp column (default timestamp; \"\" = file order)");
    cmd->add_option("--rating-column", options.rating_column,
                    "csv/atomic rating column (default rating)");
    cmd->add_option("--delimiter", options.delimiter,
                    "csv delimiter: one character or \"tab\" (default: detect)");
    cmd->add_option("--cache-dir", cache_dir,
                    "cache directory (default $PERFLAW_CACHE_DIR, $XDG_CACHE_HOME/perflaw or "
                    "~/.cache/perflaw)");
    cmd->add_flag("--no-cache", no_cache, "neither read nor write the preprocessing cache");
  }

  // Fills options.format / min_rating and validates everything.
  Status Resolve() {
    std::optional<apen::Format> f = apen::ParseFormat(input_format);
    if (!f) {
      return Status::InvalidArgument(
          "--input-format must be one of auto, sasrec, atomic, movielens, csv, "
          "binary; got '" +
          input_format + "'");
    }
    options.format = *f;
    if (min_rating_flag->count() > 0) options.min_rating = min_rating;
    std::string why;
    if (!options.IsValid(&why)) return Status::InvalidArgument(NameFlag(why));
    return Status::Ok();
  }

  CacheOptions Cache() const { return CacheOptions{!no_cache, cache_dir}; }
};

// ---- Dataset summary ----

struct Summary {
  uint64_t users = 0, items = 0, interactions = 0;
  double mean_length = 0, median_length = 0, density = 0;
};

Summary Summarize(const Dataset& d) {
  Summary s;
  s.users = d.num_users();
  s.items = d.num_items;
  s.interactions = d.num_interactions();
  std::vector<uint64_t> len(s.users);
  for (size_t u = 0; u < s.users; ++u) len[u] = d.sequences.user(u).size;
  if (s.users > 0) {
    s.mean_length = static_cast<double>(s.interactions) / s.users;
    std::sort(len.begin(), len.end());
    s.median_length =
        s.users % 2 ? len[s.users / 2] : (len[s.users / 2 - 1] + len[s.users / 2]) / 2.0;
  }
  if (s.users > 0 && s.items > 0)
    s.density = static_cast<double>(s.interactions) / s.users / s.items;
  return s;
}

std::string LengthLabel(size_t max_seq_len) {
  return max_seq_len == 0 ? "all" : std::to_string(max_seq_len);
}

std::string Fmt(double v, int precision = 4) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(precision);
  s << v;
  return s.str();
}

std::string FmtG(double v) {
  if (!std::isfinite(v)) return Fmt(v);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

// Share of the distinct (previous, next) pairs seen once: near 1, every estimate is sparse.
double SingletonShare(const apen::QualitySummary& q) {
  const apen::TransitionEntropy& t = q.transition;
  return t.distinct_pairs ? static_cast<double>(t.singleton_pairs) / t.distinct_pairs : NAN;
}

// One column of the per-L quality table: its label and how to print it.
struct Column {
  std::string name;
  std::string (*value)(const apen::QualitySummary&);
};

const std::vector<Column>& QualityColumns() {
  using Q = apen::QualitySummary;
  static const std::vector<Column> columns = {
      {"tokens", [](const Q& q) { return std::to_string(q.tokens); }},
      {"apen_mean", [](const Q& q) { return Fmt(q.apen.mean); }},
      {"apen_weighted_mean", [](const Q& q) { return Fmt(q.apen.weighted_mean); }},
      {"sampen_mean", [](const Q& q) { return Fmt(q.sampen.mean); }},
      {"sampen_weighted_mean", [](const Q& q) { return Fmt(q.sampen.weighted_mean); }},
      {"sampen_users_defined", [](const Q& q) { return std::to_string(q.sampen.users_defined); }},
      {"sampen_users_infinite", [](const Q& q) { return std::to_string(q.sampen.users_infinite); }},
      {"lz_bits_mean", [](const Q& q) { return Fmt(q.lz.mean); }},
      {"lz_bits_weighted_mean", [](const Q& q) { return Fmt(q.lz.weighted_mean); }},
      {"shannon_bits", [](const Q& q) { return Fmt(q.shannon_bits); }},
      {"zlib_ratio", [](const Q& q) { return Fmt(q.zlib_ratio); }},
      {"d_prime", [](const Q& q) { return FmtG(q.d_prime); }},
      {"transition_bits", [](const Q& q) { return Fmt(q.transition.bits()); }},
      {"transition_plugin_bits", [](const Q& q) { return Fmt(q.transition.conditional.plugin); }},
      {"transition_grassberger_bits",
       [](const Q& q) { return Fmt(q.transition.conditional.grassberger); }},
      {"transition_mi_bits", [](const Q& q) { return Fmt(q.transition.mutual_information()); }},
      {"transition_pairs", [](const Q& q) { return std::to_string(q.transition.pairs); }},
      {"transition_singleton_share", [](const Q& q) { return Fmt(SingletonShare(q)); }},
  };
  return columns;
}

void PrintTable(const Dataset& d, const Summary& s, const std::vector<apen::QualitySummary>& qs,
                int m, double r) {
  std::printf("dataset        %s\n", d.source_path.c_str());
  std::printf("users          %llu\n", static_cast<unsigned long long>(s.users));
  std::printf("items          %llu\n", static_cast<unsigned long long>(s.items));
  std::printf("interactions   %llu\n", static_cast<unsigned long long>(s.interactions));
  std::printf("mean_length    %s  (interactions per user)\n", Fmt(s.mean_length, 2).c_str());
  std::printf("median_length  %s\n", Fmt(s.median_length, 1).c_str());
  std::printf("density        %s  (interactions / (users x items))\n", FmtG(s.density).c_str());
  std::printf("cache          %s%s%s\n", apen::CacheStatusName(d.cache_status),
              d.cache_path.empty() ? "" : " ", d.cache_path.c_str());
  std::printf(
      "\nquality per max_seq_len L (ApEn/SampEn: m=%d, r=%s on raw ids, r<1 = exact "
      "matching; means over users, weighted = by truncated length; LZ and Shannon in "
      "bits; d_prime = tokens x apen_mean; transition = H(next item | previous item) over all "
      "consecutive pairs in bits, Miller-Madow corrected (plugin: uncorrected, grassberger: "
      "Grassberger 2003), transition_mi = H(next) - H(next | previous), singleton_share = "
      "distinct pairs seen once / distinct pairs)\n",
      m, FmtG(r).c_str());
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"L", "m", "r"};
  for (const Column& c : QualityColumns()) header.push_back(c.name);
  rows.push_back(header);
  for (const auto& q : qs) {
    std::vector<std::string> row = {LengthLabel(q.options.max_seq_len), std::to_string(m), FmtG(r)};
    for (const Column& c : QualityColumns()) row.push_back(c.value(q));
    rows.push_back(row);
  }
  std::printf("%s", orchestrator::AlignedText(rows).c_str());
}

// data stats' CSV quotes the dataset path on a comma, quote or newline (not on a lone CR).
constexpr std::string_view kDataCsvSpecials = ",\"\n";

void PrintCsv(const Dataset& d, const Summary& s, const std::vector<apen::QualitySummary>& qs,
              int m, double r) {
  std::vector<std::string> header = {
      "dataset",     "users", "items", "interactions", "mean_length", "median_length", "density",
      "max_seq_len", "m",     "r"};
  for (const Column& c : QualityColumns()) header.push_back(c.name);
  std::printf("%s", orchestrator::CsvLine(header, kDataCsvSpecials).c_str());
  for (const auto& q : qs) {
    std::vector<std::string> row = {d.source_path,           std::to_string(s.users),
                                    std::to_string(s.items), std::to_string(s.interactions),
                                    FmtG(s.mean_length),     FmtG(s.median_length),
                                    FmtG(s.density),         LengthLabel(q.options.max_seq_len),
                                    std::to_string(m),       FmtG(r)};
    for (const Column& c : QualityColumns()) row.push_back(c.value(q));
    std::printf("%s", orchestrator::CsvLine(row, kDataCsvSpecials).c_str());
  }
}

nlohmann::json AggregateJson(const apen::UserAggregate& a) {
  return {{"mean", JsonNumber(a.mean)},
          {"weighted_mean", JsonNumber(a.weighted_mean)},
          {"users_defined", a.users_defined},
          {"users_undefined", a.users_undefined},
          {"users_infinite", a.users_infinite}};
}

nlohmann::json EstimatesJson(const apen::EntropyEstimates& e) {
  return {{"plugin", JsonNumber(e.plugin)},
          {"miller_madow", JsonNumber(e.miller_madow)},
          {"grassberger", JsonNumber(e.grassberger)}};
}

nlohmann::json TransitionJson(const apen::QualitySummary& q) {
  const apen::TransitionEntropy& t = q.transition;
  return {{"bits", JsonNumber(t.bits())},
          {"conditional_bits", EstimatesJson(t.conditional)},
          {"next_item_bits", EstimatesJson(t.marginal)},
          {"mutual_information_bits", JsonNumber(t.mutual_information())},
          {"pairs", t.pairs},
          {"contexts", t.contexts},
          {"distinct_pairs", t.distinct_pairs},
          {"singleton_pairs", t.singleton_pairs}};
}

void PrintJson(const Dataset& d, const Summary& s, const std::vector<apen::QualitySummary>& qs,
               const std::vector<double>& seconds) {
  nlohmann::json out;
  out["dataset"] = {{"path", d.source_path},
                    {"options", d.options},
                    {"cache", apen::CacheStatusName(d.cache_status)},
                    {"cache_path", d.cache_path},
                    {"users", s.users},
                    {"items", s.items},
                    {"interactions", s.interactions},
                    {"mean_length", JsonNumber(s.mean_length)},
                    {"median_length", JsonNumber(s.median_length)},
                    {"density", JsonNumber(s.density)}};
  nlohmann::json rows = nlohmann::json::array();
  for (size_t i = 0; i < qs.size(); ++i) {
    const apen::QualitySummary& q = qs[i];
    rows.push_back({{"max_seq_len", q.options.max_seq_len},
                    {"max_seq_len_label", LengthLabel(q.options.max_seq_len)},
                    {"m", q.options.m},
                    {"r", q.options.r},
                    {"users", q.users},
                    {"tokens", q.tokens},
                    {"apen", AggregateJson(q.apen)},
                    {"sampen", AggregateJson(q.sampen)},
                    {"lz_bits", AggregateJson(q.lz)},
                    {"shannon_bits", JsonNumber(q.shannon_bits)},
                    {"zlib_ratio", JsonNumber(q.zlib_ratio)},
                    {"d_prime", JsonNumber(q.d_prime)},
                    {"transition", TransitionJson(q)},
                    {"measures_seconds", seconds[i]}});
  }
  out["quality"] = rows;
  std::printf("%s\n", out.dump(2).c_str());
}

// ---- stats ----

struct StatsArgs {
  DataFlags data;
  std::string format = "table";
  std::vector<size_t> max_seq_lens;
  int m = 2;
  double r = 0.2;
  int threads = 0;
  // Which measures to compute (all by default); a benchmark times one measure alone.
  std::vector<std::string> measures;
  // Results database whose dataset_stats receives one row per L ("" = none).
  std::string db;
};

// Switches the QualityOptions measures to exactly `names`; empty keeps all on.
Status SelectMeasures(const std::vector<std::string>& names, apen::QualityOptions* q) {
  if (names.empty()) return Status::Ok();
  q->apen = q->sampen = q->lz = q->shannon = q->zlib = q->transition = false;
  for (const std::string& n : names) {
    if (n == "apen") {
      q->apen = true;
    } else if (n == "sampen") {
      q->sampen = true;
    } else if (n == "lz") {
      q->lz = true;
    } else if (n == "shannon") {
      q->shannon = true;
    } else if (n == "zlib") {
      q->zlib = true;
    } else if (n == "transition") {
      q->transition = true;
    } else {
      return Status::InvalidArgument("--measures: unknown measure '" + n +
                                     "' (expected apen, sampen, lz, shannon, zlib, transition)");
    }
  }
  return Status::Ok();
}

// Stores each row in the database's dataset_stats, keyed as `perflaw run` keys it (the dataset
// path as given, the preprocessing options, L, m, r), so the law finds it (docs/data.md).
Status StoreStats(const StatsArgs& a, const Dataset& d,
                  const std::vector<apen::QualitySummary>& qs) {
  StatusOr<std::unique_ptr<orchestrator::ResultsDb>> db =
      orchestrator::ResultsDb::OpenForWriting(a.db);
  if (!db.ok()) return db.status();
  for (const apen::QualitySummary& q : qs) {
    PERFLAW_RETURN_IF_ERROR(
        (*db)->StoreDatasetStats(orchestrator::StatsRecordOf(a.data.options, d, q)));
  }
  std::fprintf(stderr, "perflaw: stored %zu row(s) in dataset_stats of %s\n", qs.size(),
               a.db.c_str());
  return Status::Ok();
}

Status RunStats(StatsArgs& a) {
  if (a.format != "table" && a.format != "json" && a.format != "csv") {
    return Status::InvalidArgument("--format must be table, json or csv; got '" + a.format + "'");
  }
  PERFLAW_RETURN_IF_ERROR(a.data.Resolve());
  if (!a.db.empty() && !a.measures.empty()) {
    return Status::InvalidArgument(
        "--db stores every measure (a stored row replaces the old one): drop --measures");
  }
  if (a.max_seq_lens.empty()) a.max_seq_lens.push_back(0);
  std::vector<apen::QualityOptions> qopts;
  for (size_t len : a.max_seq_lens) {
    apen::QualityOptions q;
    q.max_seq_len = len;
    q.m = a.m;
    q.r = a.r;
    q.threads = a.threads;
    PERFLAW_RETURN_IF_ERROR(SelectMeasures(a.measures, &q));
    std::string why;
    if (!q.IsValid(&why)) return Status::InvalidArgument(why);
    qopts.push_back(q);
  }
  StatusOr<Dataset> d = apen::LoadDataset(a.data.options, a.data.Cache());
  if (!d.ok()) return d.status();
  std::vector<apen::QualitySummary> qs;
  std::vector<double> seconds;
  for (const auto& q : qopts) {
    const auto start = std::chrono::steady_clock::now();
    qs.push_back(apen::ComputeQuality(d->sequences, q));
    seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (!qs.back().ok) return Status::Internal("quality measures failed: " + qs.back().message);
  }
  if (!a.db.empty()) PERFLAW_RETURN_IF_ERROR(StoreStats(a, *d, qs));
  const Summary s = Summarize(*d);
  if (a.format == "json") {
    PrintJson(*d, s, qs, seconds);
  } else if (a.format == "csv") {
    PrintCsv(*d, s, qs, a.m, a.r);
  } else {
    PrintTable(*d, s, qs, a.m, a.r);
  }
  return Status::Ok();
}

void RegisterStats(CLI::App* data, Action* action) {
  auto args = std::make_shared<StatsArgs>();
  CLI::App* cmd = data->add_subcommand(
      "stats", "Print a dataset's size and every data-quality measure, one row per max_seq_len L");
  args->data.Register(cmd);
  cmd->add_option("--format", args->format, "output: table (default), json or csv");
  cmd->add_option("--max-seq-len", args->max_seq_lens,
                  "truncate users to their last L items before measuring; several values (repeat "
                  "or comma-separate) give one row each; 0 = all (default)")
      ->delimiter(',')
      ->check(NonNegative());
  cmd->add_option("--m", args->m, "ApEn/SampEn embedding dimension m >= 1 (default 2)");
  cmd->add_option("--r", args->r, "ApEn/SampEn absolute tolerance r >= 0 on raw ids (default 0.2)");
  cmd->add_option("--threads", args->threads, "threads for the measures (default 0 = all cores)");
  cmd->add_option("--measures", args->measures,
                  "compute only these (comma-separated: apen, sampen, lz, shannon, zlib, "
                  "transition); "
                  "default all; json output adds the seconds spent per row")
      ->delimiter(',');
  cmd->add_option("--db", args->db,
                  "also store each row in this results database's dataset_stats (DATASET as the "
                  "sweep's data.path spells it), for the law's data-aware form");
  cmd->callback([args, action] { *action = [args] { return RunStats(*args); }; });
}

// ---- prepare ----

Status RunPrepare(DataFlags& flags) {
  PERFLAW_RETURN_IF_ERROR(flags.Resolve());
  if (flags.no_cache)
    return Status::InvalidArgument("--no-cache: prepare exists to write the cache");
  CacheOptions cache = flags.Cache();
  if (cache.dir.empty() && apen::DefaultCacheDir().empty()) {
    return Status::InvalidArgument(
        "--cache-dir: no cache directory (set --cache-dir, PERFLAW_CACHE_DIR, XDG_CACHE_HOME or "
        "HOME)");
  }
  StatusOr<Dataset> d = apen::LoadDataset(flags.options, cache);
  if (!d.ok()) return d.status();
  if (d->cache_status == apen::CacheStatus::kWriteFailed) {
    return Status::InvalidArgument("--cache-dir: cannot write the cache: " + d->cache_message);
  }
  std::printf("dataset       %s\n", flags.options.path.c_str());
  std::printf("users         %zu\n", d->num_users());
  std::printf("items         %u\n", d->num_items);
  std::printf("interactions  %zu\n", d->num_interactions());
  if (d->cache_status == apen::CacheStatus::kNotApplicable) {
    std::printf("cache         not needed (binary input is read directly)\n");
  } else {
    std::printf("cache         %s %s\n", apen::CacheStatusName(d->cache_status),
                d->cache_path.c_str());
  }
  return Status::Ok();
}

void RegisterPrepare(CLI::App* data, Action* action) {
  auto flags = std::make_shared<DataFlags>();
  CLI::App* cmd = data->add_subcommand(
      "prepare", "Parse and preprocess a dataset once and write (or validate) its binary cache");
  flags->Register(cmd);
  cmd->callback([flags, action] { *action = [flags] { return RunPrepare(*flags); }; });
}

// ---- synth ----

struct SynthArgs {
  apen::SynthOptions options;
  std::string out;
  std::string format;  // "" = by extension: .bin -> binary, else sasrec
};

Status RunSynth(SynthArgs& a) {
  std::string format = a.format;
  if (format.empty()) format = fs::path(a.out).extension() == ".bin" ? "binary" : "sasrec";
  if (format != "sasrec" && format != "binary") {
    return Status::InvalidArgument("--out-format must be sasrec or binary; got '" + format + "'");
  }
  std::string why;
  if (!a.options.IsValid(&why)) return Status::InvalidArgument(NameFlag(why));
  const fs::path parent = fs::absolute(a.out).parent_path();
  std::error_code ec;
  if (!fs::is_directory(parent, ec)) {
    return Status::InvalidArgument("--out: directory " + parent.string() + " does not exist");
  }
  if (fs::is_directory(a.out, ec))
    return Status::InvalidArgument("--out: " + a.out + " is a directory");
  Dataset d = apen::GenerateSynthetic(a.options);
  Status st = format == "binary" ? apen::WriteBinaryDataset(a.out, d, 0)
                                 : apen::WriteSasrecDataset(a.out, d);
  if (!st.ok()) return st;
  std::printf("wrote %s (%s): users %zu, items %u, interactions %zu\n", a.out.c_str(),
              format.c_str(), d.num_users(), d.num_items, d.num_interactions());
  return Status::Ok();
}

void RegisterSynth(CLI::App* data, Action* action) {
  auto a = std::make_shared<SynthArgs>();
  apen::SynthOptions& o = a->options;
  CLI::App* cmd = data->add_subcommand(
      "synth", "Write a seeded synthetic dataset (Markov chain / Zipf popularity mixture)");
  cmd->add_option("--out", a->out, "output file (written atomically)")->required();
  // --format is what a command prints (table, json, ...); the dataset file's is --input-format
  // when read, --out-format when written. --format stays as a hidden alias of old scripts.
  cmd->add_option("--out-format", a->format,
                  "sasrec or binary (default: binary for .bin, else sasrec)");
  cmd->add_option("--format", a->format)->group("");
  cmd->add_option("--users", o.users, "users (default 1000)")->check(NonNegative());
  cmd->add_option("--items", o.items, "items (default 1000)")->check(NonNegative());
  auto* mean =
      cmd->add_option("--mean-length", o.mean_length, "mean interactions per user (default 20)");
  cmd->add_option("--interactions", o.interactions,
                  "exact total interactions (instead of --mean-length)")
      ->excludes(mean)
      ->check(NonNegative());
  cmd->add_option("--min-length", o.min_length, "shortest user sequence (default 3)")
      ->check(NonNegative());
  cmd->add_option("--predictability", o.predictability,
                  "probability in [0, 1] that a step follows the Markov chain (default 0.5)");
  cmd->add_option("--markov-out-degree", o.markov_out_degree, "successors per item (default 4)")
      ->check(NonNegative());
  cmd->add_option("--topics", o.topics,
                  "item topics; the structure then follows topics, not item successors (default 0)")
      ->check(NonNegative());
  cmd->add_option("--topic-order", o.topic_order,
                  "last items whose topics decide the next topic, 1-4 (default 1)")
      ->check(NonNegative());
  cmd->add_option("--popularity-exponent", o.popularity_exponent, "Zipf exponent (default 1)");
  cmd->add_option("--seed", o.seed, "random seed (default 1)")->check(NonNegative());
  cmd->add_option("--threads", o.threads,
                  "generator threads (default 0 = all cores; output is the same)");
  cmd->callback([a, action] { *action = [a] { return RunSynth(*a); }; });
}

}  // namespace

void RegisterDataCommands(CLI::App& app, Action* action) {
  CLI::App* data =
      app.add_subcommand("data", "Datasets: statistics and quality, cache, synthetic data");
  data->require_subcommand(1);
  RegisterStats(data, action);
  RegisterPrepare(data, action);
  RegisterSynth(data, action);
}

}  // namespace perflaw::cli
