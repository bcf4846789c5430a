// `perflaw init [DIR] [--data FILE]`: writes a commented starter sweep sized for a dataset
// (perflaw's seeded synthetic data by default) and checks it with the parser `perflaw sweep check`
// uses. The sizing rules are in docs/sweep.md, "Starting a sweep: perflaw init".
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "apen/dataset.h"
#include "apen/synth.h"
#include "orchestrator/cli/cli.h"
#include "orchestrator/sweep/sweep.h"

namespace perflaw::cli {
namespace {

namespace fs = std::filesystem;

struct InitArgs {
  std::string dir = ".";              // the folder the sweep is written to (created if missing)
  std::string data;                   // the dataset file; "" = the quickstart's synthetic data
  std::string input_format = "auto";  // as `perflaw data stats --input-format`
  std::string name;    // the sweep's name and file stem; "" = the dataset file's stem, or "sweep"
  bool force = false;  // overwrite an existing sweep file
};

// ---- What the sweep is sized from ----

// The synthetic data of configs/quickstart.yaml: small, seeded, with structure that rewards
// capacity only up to a point (docs/data.md, "Topics").
apen::SynthOptions StarterSynthOptions() {
  apen::SynthOptions o;
  o.users = 1000;
  o.items = 300;
  o.mean_length = 30;
  o.predictability = 0.9;
  o.topics = 8;
  o.topic_order = 2;
  o.seed = 7;
  return o;
}

struct DataProfile {
  std::string label;  // the file's name, or "perflaw's synthetic data"
  uint64_t users = 0, items = 0, interactions = 0;
  uint64_t p90_length = 0;  // 90 % of users have at most this many interactions
};

DataProfile Profile(const apen::Dataset& d, const std::string& label) {
  DataProfile p;
  p.label = label;
  p.users = d.num_users();
  p.items = d.num_items;
  p.interactions = d.num_interactions();
  std::vector<uint64_t> len(p.users);
  for (size_t u = 0; u < p.users; ++u) len[u] = d.sequences.user(u).size;
  std::sort(len.begin(), len.end());
  // Nearest rank: the smallest length that at least 90 % of users do not exceed.
  if (!len.empty()) p.p90_length = len[(len.size() * 9 + 9) / 10 - 1];
  return p;
}

StatusOr<DataProfile> LoadProfile(const InitArgs& args, apen::Format format) {
  if (args.data.empty())
    return Profile(apen::GenerateSynthetic(StarterSynthOptions()), "perflaw's synthetic data");
  std::error_code ec;
  if (!fs::exists(args.data, ec))
    return Status::NotFound("--data: " + args.data + ": no such file");
  if (fs::is_directory(args.data, ec))
    return Status::InvalidArgument("--data: " + args.data + " is a directory");
  apen::DataOptions options;
  options.path = args.data;
  options.format = format;
  StatusOr<apen::Dataset> d = apen::LoadDataset(options);
  // A corrupt binary file is the user's input too: exit 2 like any unreadable dataset.
  if (!d.ok() && d.status().code() == Status::Code::kCorruption)
    return Status::InvalidArgument(d.status().message());
  if (!d.ok()) return d.status();
  if (d->num_interactions() == 0)
    return Status::InvalidArgument("--data: " + args.data + " has no interactions");
  return Profile(*d, fs::path(args.data).filename().string());
}

// ---- The sizes chosen ----

std::string Count(uint64_t n) {
  std::string s = std::to_string(n), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

std::string List(const std::vector<int>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + std::to_string(v[i]);
  return out + "]";
}

struct Plan {
  std::vector<int> layers, d_model;
  std::string size_class;  // "under 1M interactions", ...
  int max_seq_len = 50;
  std::string max_seq_len_why;
  int batch_size = 128;
  bool full_eval = true;
  uint64_t eval_users = 0;  // 0: all
  unsigned workers = 2;
};

// Rounds the 90th percentile of lengths up to a multiple of 10, within [10, 200]: longer inputs
// rarely help and attention costs grow as L^2.
void ChooseMaxSeqLen(const DataProfile& p, Plan* plan) {
  const uint64_t rounded = (p.p90_length + 9) / 10 * 10;
  plan->max_seq_len = static_cast<int>(std::clamp<uint64_t>(rounded, 10, 200));
  plan->max_seq_len_why = "90% of users have at most " + Count(p.p90_length) + " interactions";
  if (rounded > 200)
    plan->max_seq_len_why += "; capped at 200 (attention costs grow as L^2)";
  else if (rounded < 10)
    plan->max_seq_len_why += "; 10 at least";
  else if (rounded != p.p90_length)
    plan->max_seq_len_why += ", rounded up";
}

Plan MakePlan(const DataProfile& p) {
  Plan plan;
  if (p.interactions < 1'000'000) {
    plan.layers = {1, 2, 3, 4};
    plan.d_model = {16, 32, 64, 128};
    plan.size_class = "under 1M interactions";
  } else if (p.interactions < 10'000'000) {
    plan.layers = {1, 2, 4, 8};
    plan.d_model = {32, 64, 128, 256};
    plan.size_class = "1M to 10M interactions";
  } else {
    plan.layers = {2, 4, 8, 16};
    plan.d_model = {64, 128, 256, 512};
    plan.size_class = "10M interactions or more";
  }
  ChooseMaxSeqLen(p, &plan);
  // About 10 or more steps per epoch: a power of 2 from 16 to 128 users per batch.
  plan.batch_size = 128;
  while (plan.batch_size > 16 && p.users < static_cast<uint64_t>(plan.batch_size) * 10)
    plan.batch_size /= 2;
  plan.full_eval = p.items <= 50'000;
  plan.eval_users = p.users > 50'000 ? 10'000 : 0;
  plan.workers = std::clamp(std::thread::hardware_concurrency(), 1u, 16u);
  return plan;
}

// ---- The YAML text ----

// A YAML scalar: plain when it cannot be misread, else double-quoted (JSON escapes are YAML's).
std::string Scalar(const std::string& s) {
  const bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-' || c == '.' || c == '/' || c == '+';
  }) && (std::isalnum(static_cast<unsigned char>(s[0])) || s[0] == '.' || s[0] == '/');
  if (plain) return s;
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Lines of YAML with their comments aligned in one column.
class YamlWriter {
 public:
  void Comment(const std::string& text, int indent = 0) {
    text_ += std::string(indent, ' ') + "# " + text + "\n";
  }
  void Blank() { text_ += "\n"; }
  void Key(int indent, const std::string& code, const std::string& comment) {
    std::string line = std::string(indent, ' ') + code;
    if (line.size() < kColumn) line.resize(kColumn, ' ');
    text_ += line + (line.back() == ' ' ? "" : " ") + "# " + comment + "\n";
  }
  const std::string& text() const { return text_; }

 private:
  static constexpr size_t kColumn = 36;
  std::string text_;
};

struct Written {
  std::string name;
  std::string file;    // the sweep file, as the user will type it
  std::string data;    // data.path relative to the sweep's folder ("" for synthetic data)
  std::string format;  // apen format name
};

void WriteHeader(const Written& w, const DataProfile& p, YamlWriter* y) {
  const std::string file = fs::path(w.file).filename().string();
  y->Comment("A starter sweep written by `perflaw init` for " + p.label + ":");
  y->Comment(Count(p.users) + " users, " + Count(p.items) + " items, " + Count(p.interactions) +
             " interactions.");
  y->Comment("Every value is a suggestion sized for that data; edit any of them, then");
  y->Comment("  perflaw sweep check " + file + "   # validate, list the points and their cost");
  y->Comment("  perflaw run " + file + "           # train them, then fit the law");
  y->Comment("Schema: docs/sweep.md. Relative paths resolve against this file's folder.");
  y->Key(0, "name: " + w.name, "the sweep's name in the results database");
  y->Key(0, "description: " + Scalar("starter sweep for " + p.label), "free text, not used");
  y->Blank();
}

void WriteData(const Written& w, YamlWriter* y) {
  y->Key(0, "data:", "the dataset; max_seq_len is a grid axis below");
  if (w.data.empty()) {
    const apen::SynthOptions o = StarterSynthOptions();
    y->Key(2, "synthetic:", "perflaw's seeded data (configs/quickstart.yaml's)");
    y->Comment("made at run time into work_dir; for your own data: path: FILE instead", 4);
    y->Key(4, "users: " + std::to_string(o.users), "users (sequences)");
    y->Key(4, "items: " + std::to_string(o.items), "catalogue size");
    y->Key(4, "mean_length: " + Number(o.mean_length), "interactions per user on average");
    y->Key(4, "predictability: " + Number(o.predictability),
           "probability that a step follows the topic structure");
    y->Key(4, "topics: " + std::to_string(o.topics),
           "item topics; the next topic depends on the last ones");
    y->Key(4, "topic_order: " + std::to_string(o.topic_order),
           "how many last items' topics decide the next one");
    y->Key(4, "seed: " + std::to_string(o.seed), "the same seed makes the same data");
    return;
  }
  y->Key(2, "path: " + Scalar(w.data), "relative to this file's folder");
  y->Key(2, "format: " + w.format,
         w.format == "auto" ? "detected from the file (sasrec, atomic, movielens, csv, binary)"
                            : "as given to perflaw init --input-format");
}

void WriteTraining(const DataProfile& p, const Plan& plan, YamlWriter* y) {
  y->Blank();
  y->Key(0, "model:", "fixed settings of every point (docs/worker.md)");
  y->Key(2, "type: sasrec", "SASRec, the Performance Law paper's model (also llama, hstu)");
  y->Key(2, "heads: 1", "attention heads; 1 divides every d_model of the grid");
  y->Key(2, "dropout: 0.2", "the SASRec default");
  y->Key(0, "train:", "trained to convergence by early stopping");
  y->Key(2, "epochs: 50", "at most; points normally stop earlier by patience");
  y->Key(2, "patience: 5", "stop after 5 epochs without a better validation NDCG@10");
  y->Key(2, "batch_size: " + std::to_string(plan.batch_size),
         "users per batch: " + Count((p.users + plan.batch_size - 1) / plan.batch_size) +
             " steps per epoch over " + Count(p.users) + " users");
  y->Key(2, "lr: 0.001", "Adam's learning rate, the SASRec default");
  y->Key(0, "eval:", "leave-one-out: valid = 2nd-last item, test = last item");
  if (plan.full_eval)
    y->Key(2, "protocol: full",
           "rank all " + Count(p.items) + " items: exact, affordable up to 50,000 items");
  else
    y->Key(2, "protocol: \"sampled:100\"",
           "the target among 100 sampled items: " + Count(p.items) + " items are too many to rank");
  y->Key(2, "ks: [10, 50]", "cut-offs of HR@K and NDCG@K (10 is required)");
  if (plan.eval_users > 0)
    y->Key(2, "users: " + std::to_string(plan.eval_users),
           "a seeded subsample of the " + Count(p.users) + " users keeps evaluation short");
  else
    y->Key(2, "users: 0", "evaluate all " + Count(p.users) + " users (N > 0: a seeded subsample)");
  y->Key(2, "seed: 0", "seed of the evaluated users and sampled negatives");
  y->Key(0, "seed: 0", "training seed; an axis (grid: seed: [0, 1, 2]) measures seed noise");
}

void WriteGrid(const DataProfile& p, const Plan& plan, YamlWriter* y) {
  y->Blank();
  y->Key(0, "grid:", "axes; the points are their product");
  y->Key(2, "model.layers: " + List(plan.layers),
         plan.size_class + " (" + Count(p.interactions) + "); the law needs >= 3 values per axis");
  y->Key(2, "model.d_model: " + List(plan.d_model),
         "embedding sizes for " + plan.size_class + ", doubling");
  y->Key(2, "data.max_seq_len: [" + std::to_string(plan.max_seq_len) + "]", plan.max_seq_len_why);
}

void WriteRunSettings(const Written& w, const Plan& plan, YamlWriter* y) {
  y->Blank();
  y->Key(0, "resources:", "how points run (never part of a point's id)");
  y->Key(2, "ranks_per_point: 1", "ranks training one point (more: data-parallel, one per GPU)");
  y->Key(2, "workers: " + std::to_string(plan.workers),
         "worker ranks perflaw run starts: one per core here (--np overrides)");
  y->Key(2, "device: auto", "CUDA when the worker sees a GPU, else CPU");
  y->Key(2, "threads: 1", "LibTorch threads per worker: 1 with one worker per core");
  y->Key(0, "policy:", "failures");
  y->Key(2, "max_attempts: 2", "a failed point is retried once");
  y->Key(2, "point_timeout: 0", "seconds per attempt; 0 = no limit");
  y->Key(0, "law:", "fitted when the grid completes (docs/law.md)");
  y->Key(2, "metrics: [HR@10, NDCG@10]", "test-split metrics fitted");
  y->Key(2, "forms: [scaling, performance]", "the log-linear baseline, then the Performance Law");
  y->Key(2, "group_by: [data.max_seq_len]", "one fit per max_seq_len of the grid");
  y->Blank();
  y->Key(0, "db: " + Scalar(w.name + ".db"), "the results database, beside this file");
  y->Key(0, "work_dir: " + Scalar(w.name + "-work"), "checkpoints and synthetic data");
}

std::string SweepYaml(const Written& w, const DataProfile& p, const Plan& plan) {
  YamlWriter y;
  WriteHeader(w, p, &y);
  WriteData(w, &y);
  WriteTraining(p, plan, &y);
  WriteGrid(p, plan, &y);
  WriteRunSettings(w, plan, &y);
  return y.text();
}

// ---- Files ----

bool ValidName(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-' || c == '.';
  });
}

// The dataset file's stem with any character a sweep name cannot hold made '-'.
std::string NameFromData(const std::string& data) {
  if (data.empty()) return "sweep";
  std::string stem = fs::path(data).stem().string();
  for (char& c : stem)
    if (!ValidName(std::string(1, c))) c = '-';
  return stem.empty() || stem[0] == '.' ? "sweep" : stem;
}

// Writes `text` to a temp file beside `path`, then moves it into place: with `replace`, over any
// file there (rename); without, only if no file is there (link fails on an existing name, so a
// file created meanwhile is never clobbered). On failure nothing is left behind.
Status WriteNewFile(const std::string& path, const std::string& text, bool replace) {
  std::random_device rd;
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(rd());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      return Status::IoError("cannot write " + tmp);
    }
  }
  int rc = replace ? std::rename(tmp.c_str(), path.c_str()) : ::link(tmp.c_str(), path.c_str());
  const int err = errno;
  std::error_code ec;
  fs::remove(tmp, ec);  // after link: the name `path` keeps the file
  if (rc != 0 && err == EEXIST)
    return Status::InvalidArgument(path + " already exists (--force overwrites it)");
  if (rc != 0) return Status::IoError("cannot write " + path + ": " + std::strerror(err));
  return Status::Ok();
}

// The sweep file's path as the user will type it: DIR/NAME.yaml, without a leading "./".
std::string DisplayPath(const std::string& dir, const std::string& file) {
  return (fs::path(dir) / file).lexically_normal().string();
}

// data.path relative to the sweep's folder, computed the way ParseSweep resolves it (lexically).
std::string RelativeDataPath(const std::string& data, const std::string& dir) {
  const fs::path from = fs::absolute(dir).lexically_normal();
  const fs::path to = fs::absolute(data).lexically_normal();
  const fs::path rel = to.lexically_relative(from);
  return rel.empty() ? to.string() : rel.string();
}

Status CheckArgs(const InitArgs& args, std::optional<apen::Format>* format) {
  *format = apen::ParseFormat(args.input_format);
  if (!*format)
    return Status::InvalidArgument(
        "--input-format must be one of auto, sasrec, atomic, movielens, csv, binary; got '" +
        args.input_format + "'");
  if (args.data.empty() && **format != apen::Format::kAuto)
    return Status::InvalidArgument("--input-format needs --data FILE");
  if (!args.name.empty() && !ValidName(args.name))
    return Status::InvalidArgument("--name must be letters, digits, _ - . only; got '" + args.name +
                                   "'");
  // DIR, or the part of it that exists (the rest is created), must be a folder.
  std::error_code ec;
  const fs::path dir = fs::absolute(args.dir, ec).lexically_normal();
  fs::path existing = dir;
  while (!fs::exists(existing, ec) && existing.has_relative_path())
    existing = existing.parent_path();
  if (!fs::is_directory(existing, ec))
    return Status::InvalidArgument("DIR: " + args.dir +
                                   (existing == dir ? "" : ": " + existing.string()) +
                                   " is not a directory");
  return Status::Ok();
}

// ---- The command ----

Status RunInit(const InitArgs& args) {
  std::optional<apen::Format> format;
  PERFLAW_RETURN_IF_ERROR(CheckArgs(args, &format));
  Written w;
  w.name = args.name.empty() ? NameFromData(args.data) : args.name;
  w.file = DisplayPath(args.dir, w.name + ".yaml");
  w.format = apen::FormatName(*format);
  std::error_code ec;
  if (fs::is_directory(w.file, ec)) return Status::InvalidArgument(w.file + " is a directory");
  if (!args.force && fs::exists(w.file, ec))
    return Status::InvalidArgument(w.file + " already exists (--force overwrites it)");
  StatusOr<DataProfile> profile = LoadProfile(args, *format);
  if (!profile.ok()) return profile.status();
  if (!args.data.empty()) w.data = RelativeDataPath(args.data, args.dir);
  const Plan plan = MakePlan(*profile);
  const std::string text = SweepYaml(w, *profile, plan);

  // The text is checked as `perflaw sweep check` would check the file, before it is written: a
  // failure here is perflaw's bug, not the user's.
  orchestrator::SweepParseOptions parse;
  parse.base_dir = args.dir;
  StatusOr<orchestrator::Sweep> sweep = orchestrator::ParseSweep(text, w.file, parse);
  if (!sweep.ok())
    return Status::Internal(
        "the sweep perflaw init made does not pass perflaw sweep check (a bug): " +
        sweep.status().message());
  fs::create_directories(args.dir, ec);
  if (ec) return Status::IoError("cannot create " + args.dir + ": " + ec.message());
  PERFLAW_RETURN_IF_ERROR(WriteNewFile(w.file, text, args.force));

  double cost = 0, largest = 0;
  for (const orchestrator::GridPoint& pt : sweep->points) {
    cost += pt.cost;
    largest = std::max(largest, pt.cost);
  }
  std::printf("wrote %s: %zu points (model.layers %d-%d x model.d_model %d-%d, max_seq_len %d)\n",
              w.file.c_str(), sweep->points.size(), plan.layers.front(), plan.layers.back(),
              plan.d_model.front(), plan.d_model.back(), plan.max_seq_len);
  std::printf("data: %s, %s users, %s items, %s interactions\n", profile->label.c_str(),
              Count(profile->users).c_str(), Count(profile->items).c_str(),
              Count(profile->interactions).c_str());
  std::printf(
      "checked as perflaw sweep check does; estimated cost %.3g in all, the largest point %.3g "
      "(non-embedding params x training tokens)\n",
      cost, largest);
  std::printf("next:\n  perflaw sweep check %s   # list the points and their cost\n",
              w.file.c_str());
  std::printf("  perflaw run %s           # train them (%u worker ranks), then fit the law\n",
              w.file.c_str(), plan.workers);
  return Status::Ok();
}

}  // namespace

void RegisterInitCommands(CLI::App& app, Action* action) {
  auto args = std::make_shared<InitArgs>();
  CLI::App* init = app.add_subcommand(
      "init", "Write a commented starter sweep sized for a dataset (and check it)");
  init->add_option("DIR", args->dir,
                   "folder to write NAME.yaml into, created if missing (default: the current one)");
  init->add_option("--data", args->data,
                   "dataset file to size the sweep for (default: perflaw's synthetic data)");
  init->add_option("--input-format", args->input_format,
                   "auto|sasrec|atomic|movielens|csv|binary (default auto: detect)");
  init->add_option("--name", args->name,
                   "sweep name and file stem (default: the data file's stem, or sweep)");
  init->add_flag("--force", args->force, "overwrite an existing NAME.yaml");
  init->callback([args, action] { *action = [args] { return RunInit(*args); }; });
}

}  // namespace perflaw::cli
