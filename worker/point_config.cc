#include "worker/point_config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <vector>

#include "apen/did_you_mean.h"
#include "apen/text.h"

namespace perflaw::worker {
namespace {

using nlohmann::json;

// Reads one JSON object, remembering its dotted path for error messages.
class ObjectReader {
 public:
  ObjectReader() = default;  // for StatusOr
  ObjectReader(const json& obj, std::string path, std::string source)
      : obj_(&obj), path_(std::move(path)), source_(std::move(source)) {}

  // Every key of the object must be in `allowed`.
  Status CheckKeys(const std::vector<std::string>& allowed) const {
    for (const auto& item : obj_->items()) {
      if (std::find(allowed.begin(), allowed.end(), item.key()) != allowed.end()) continue;
      std::string msg = "unknown key " + Name(item.key());
      if (const std::string* best = ClosestMatch(item.key(), allowed))
        msg += " (did you mean " + Name(*best) + "?)";
      else
        msg += " (known keys: " + JoinWords(allowed) + ")";
      return Error(msg);
    }
    return Status::Ok();
  }

  bool Has(const std::string& key) const { return obj_->contains(key); }
  const json& At(const std::string& key) const { return obj_->at(key); }
  std::string Name(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  Status Error(const std::string& msg) const {
    return Status::InvalidArgument(source_ + ": " + msg);
  }

  Status Uint(const std::string& key, uint64_t max, uint64_t* out) const {
    if (!Has(key)) return Status::Ok();
    const json& v = At(key);
    if (!v.is_number_integer() ||
        (v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() < 0))
      return Error(apen::NotNonNegativeIntegerMessage(Name(key), v.dump()));
    uint64_t x = v.get<uint64_t>();
    if (x > max) return Error(apen::AboveMaximumMessage(Name(key), max, v.dump()));
    *out = x;
    return Status::Ok();
  }
  Status Uint32(const std::string& key, uint32_t* out) const {
    uint64_t x = *out;
    PERFLAW_RETURN_IF_ERROR(Uint(key, std::numeric_limits<uint32_t>::max(), &x));
    *out = static_cast<uint32_t>(x);
    return Status::Ok();
  }
  Status Double(const std::string& key, double* out) const {
    if (!Has(key)) return Status::Ok();
    const json& v = At(key);
    if (!v.is_number()) return Error(Name(key) + " must be a number, got " + v.dump());
    *out = v.get<double>();
    return Status::Ok();
  }
  Status Bool(const std::string& key, bool* out) const {
    if (!Has(key)) return Status::Ok();
    const json& v = At(key);
    if (!v.is_boolean()) return Error(Name(key) + " must be true or false, got " + v.dump());
    *out = v.get<bool>();
    return Status::Ok();
  }
  Status String(const std::string& key, std::string* out) const {
    if (!Has(key)) return Status::Ok();
    const json& v = At(key);
    if (!v.is_string()) return Error(Name(key) + " must be a string, got " + v.dump());
    *out = v.get<std::string>();
    return Status::Ok();
  }
  // A string that must be one of `names`; *out becomes the matching value.
  template <typename E>
  Status Enum(const std::string& key, const std::vector<std::pair<std::string, E>>& names,
              E* out) const {
    std::string s;
    if (!Has(key)) return Status::Ok();
    PERFLAW_RETURN_IF_ERROR(String(key, &s));
    std::vector<std::string> accepted;
    for (const auto& [name, value] : names) {
      if (name == s) {
        *out = value;
        return Status::Ok();
      }
      accepted.push_back(name);
    }
    return Error(Name(key) + " must be one of " + JoinWords(accepted) + ", got \"" + s + "\"");
  }
  // A nested object (absent: an empty one).
  StatusOr<ObjectReader> Object(const std::string& key, const json& empty) const {
    if (!Has(key)) return ObjectReader(empty, Name(key), source_);
    if (!At(key).is_object()) return Error(Name(key) + " must be an object, got " + At(key).dump());
    return ObjectReader(At(key), Name(key), source_);
  }

 private:
  const json* obj_ = nullptr;
  std::string path_;
  std::string source_;
};

const std::vector<std::pair<std::string, ModelType>> kModelTypes = {
    {"sasrec", ModelType::kSasrec}, {"llama", ModelType::kLlama}, {"hstu", ModelType::kHstu}};
const std::vector<std::pair<std::string, NormPlacement>> kNorms = {{"post", NormPlacement::kPost},
                                                                   {"pre", NormPlacement::kPre}};
const std::vector<std::pair<std::string, OptimizerType>> kOptimizers = {
    {"adam", OptimizerType::kAdam}, {"adamw", OptimizerType::kAdamW}};
const std::vector<std::pair<std::string, LossType>> kLosses = {
    {"bce", LossType::kBce}, {"sampled_softmax", LossType::kSampledSoftmax}};
const std::vector<std::pair<std::string, LrSchedule>> kSchedules = {
    {"constant", LrSchedule::kConstant}, {"cosine", LrSchedule::kCosine}};
const std::vector<std::pair<std::string, Precision>> kPrecisions = {
    {"auto", Precision::kAuto}, {"fp32", Precision::kFp32}, {"bf16", Precision::kBf16}};
const std::vector<std::pair<std::string, Device>> kDevices = {
    {"auto", Device::kAuto}, {"cpu", Device::kCpu}, {"cuda", Device::kCuda}};

template <typename E>
std::string EnumName(const std::vector<std::pair<std::string, E>>& names, E value) {
  for (const auto& [name, v] : names)
    if (v == value) return name;
  return "?";
}

Status ParseData(const ObjectReader& r, apen::DataOptions* c) {
  PERFLAW_RETURN_IF_ERROR(r.CheckKeys(
      {"path", "format", "max_seq_len", "user_fraction", "subsample_seed", "min_rating", "k_core",
       "drop_repeats", "user_column", "item_column", "time_column", "rating_column", "delimiter"}));
  if (!r.Has("path")) return r.Error("missing key data.path");
  PERFLAW_RETURN_IF_ERROR(r.String("path", &c->path));
  std::string format = apen::FormatName(c->format);
  PERFLAW_RETURN_IF_ERROR(r.String("format", &format));
  std::optional<apen::Format> parsed = apen::ParseFormat(format);
  if (!parsed)
    return r.Error(
        "data.format must be one of auto, sasrec, atomic, movielens, csv, binary, got \"" + format +
        "\"");
  c->format = *parsed;
  uint64_t max_seq_len = c->max_seq_len;
  PERFLAW_RETURN_IF_ERROR(r.Uint("max_seq_len", 100000, &max_seq_len));
  c->max_seq_len = max_seq_len;
  PERFLAW_RETURN_IF_ERROR(r.Double("user_fraction", &c->user_fraction));
  PERFLAW_RETURN_IF_ERROR(
      r.Uint("subsample_seed", std::numeric_limits<uint64_t>::max(), &c->subsample_seed));
  if (r.Has("min_rating") && !r.At("min_rating").is_null()) {  // null: unset (keep every rating)
    double min_rating = 0;
    PERFLAW_RETURN_IF_ERROR(r.Double("min_rating", &min_rating));
    c->min_rating = min_rating;
  }
  PERFLAW_RETURN_IF_ERROR(r.Uint32("k_core", &c->k_core));
  PERFLAW_RETURN_IF_ERROR(r.Bool("drop_repeats", &c->drop_repeats));
  PERFLAW_RETURN_IF_ERROR(r.String("user_column", &c->user_column));
  PERFLAW_RETURN_IF_ERROR(r.String("item_column", &c->item_column));
  PERFLAW_RETURN_IF_ERROR(r.String("time_column", &c->time_column));
  PERFLAW_RETURN_IF_ERROR(r.String("rating_column", &c->rating_column));
  PERFLAW_RETURN_IF_ERROR(r.String("delimiter", &c->delimiter));
  if (c->max_seq_len < 1) return r.Error("data.max_seq_len must be >= 1 for training, got 0");
  std::string why;
  if (!c->IsValid(&why)) return r.Error("data." + why);
  return Status::Ok();
}

Status ParseModel(const ObjectReader& r, ModelConfig* c) {
  PERFLAW_RETURN_IF_ERROR(
      r.CheckKeys({"type", "layers", "d_model", "heads", "dropout", "ffn_multiplier", "norm"}));
  PERFLAW_RETURN_IF_ERROR(r.Enum("type", kModelTypes, &c->type));
  PERFLAW_RETURN_IF_ERROR(r.Uint32("layers", &c->layers));
  PERFLAW_RETURN_IF_ERROR(r.Uint32("d_model", &c->d_model));
  PERFLAW_RETURN_IF_ERROR(r.Uint32("heads", &c->heads));
  PERFLAW_RETURN_IF_ERROR(r.Double("dropout", &c->dropout));
  PERFLAW_RETURN_IF_ERROR(r.Double("ffn_multiplier", &c->ffn_multiplier));
  PERFLAW_RETURN_IF_ERROR(r.Enum("norm", kNorms, &c->norm));
  std::string why;
  if (!c->IsValid(&why)) return r.Error(why);
  return Status::Ok();
}

Status ParseBetas(const ObjectReader& r, TrainConfig* c) {
  if (!r.Has("betas")) return Status::Ok();
  const json& v = r.At("betas");
  if (!v.is_array() || v.size() != 2 || !v[0].is_number() || !v[1].is_number())
    return r.Error("train.betas must be an array of two numbers, got " + v.dump());
  c->beta1 = v[0].get<double>();
  c->beta2 = v[1].get<double>();
  return Status::Ok();
}

Status ParseTrain(const ObjectReader& r, TrainConfig* c) {
  PERFLAW_RETURN_IF_ERROR(
      r.CheckKeys({"epochs", "batch_size", "optimizer", "lr", "betas", "eps", "weight_decay",
                   "embedding_weight_decay", "warmup", "lr_schedule", "loss", "negatives",
                   "patience", "min_epochs", "clip_norm", "packing", "precision"}));
  PERFLAW_RETURN_IF_ERROR(r.Uint32("epochs", &c->epochs));
  PERFLAW_RETURN_IF_ERROR(r.Uint32("batch_size", &c->batch_size));
  PERFLAW_RETURN_IF_ERROR(r.Enum("optimizer", kOptimizers, &c->optimizer));
  PERFLAW_RETURN_IF_ERROR(r.Double("lr", &c->lr));
  PERFLAW_RETURN_IF_ERROR(ParseBetas(r, c));
  PERFLAW_RETURN_IF_ERROR(r.Double("eps", &c->eps));
  PERFLAW_RETURN_IF_ERROR(r.Double("weight_decay", &c->weight_decay));
  PERFLAW_RETURN_IF_ERROR(r.Double("embedding_weight_decay", &c->embedding_weight_decay));
  PERFLAW_RETURN_IF_ERROR(r.Uint32("warmup", &c->warmup));
  PERFLAW_RETURN_IF_ERROR(r.Enum("lr_schedule", kSchedules, &c->lr_schedule));
  PERFLAW_RETURN_IF_ERROR(r.Enum("loss", kLosses, &c->loss));
  PERFLAW_RETURN_IF_ERROR(r.Uint32("negatives", &c->negatives));
  PERFLAW_RETURN_IF_ERROR(r.Uint32("patience", &c->patience));
  PERFLAW_RETURN_IF_ERROR(r.Uint32("min_epochs", &c->min_epochs));
  PERFLAW_RETURN_IF_ERROR(r.Double("clip_norm", &c->clip_norm));
  PERFLAW_RETURN_IF_ERROR(r.Bool("packing", &c->packing));
  PERFLAW_RETURN_IF_ERROR(r.Enum("precision", kPrecisions, &c->precision));
  std::string why;
  if (!c->IsValid(&why)) return r.Error(why);
  return Status::Ok();
}

// "full" or "sampled:K".
Status ParseProtocol(const ObjectReader& r, EvalConfig* c) {
  std::string p = c->Protocol();
  PERFLAW_RETURN_IF_ERROR(r.String("protocol", &p));
  if (p == "full") {
    c->sampled_negatives = 0;
    return Status::Ok();
  }
  const std::string prefix = "sampled:";
  std::string digits = p.substr(std::min(p.size(), prefix.size()));
  bool numeric =
      !digits.empty() && digits.size() <= 9 &&
      std::all_of(digits.begin(), digits.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  if (p.compare(0, prefix.size(), prefix) != 0 || !numeric || std::stoul(digits) == 0)
    return r.Error("eval.protocol must be \"full\" or \"sampled:K\" with K >= 1, got \"" + p +
                   "\"");
  c->sampled_negatives = static_cast<uint32_t>(std::stoul(digits));
  return Status::Ok();
}

Status ParseEval(const ObjectReader& r, EvalConfig* c) {
  PERFLAW_RETURN_IF_ERROR(r.CheckKeys({"protocol", "users", "ks", "exclude_history", "seed"}));
  PERFLAW_RETURN_IF_ERROR(ParseProtocol(r, c));
  PERFLAW_RETURN_IF_ERROR(r.Uint32("users", &c->users));
  if (r.Has("ks")) {
    const json& v = r.At("ks");
    if (!v.is_array() || v.empty())
      return r.Error("eval.ks must be a non-empty array of positive integers");
    c->ks.clear();
    for (const json& k : v) {
      if (!k.is_number_unsigned() || k.get<uint64_t>() == 0 || k.get<uint64_t>() > 1000000)
        return r.Error("eval.ks must hold integers in [1, 1000000], got " + k.dump());
      c->ks.push_back(k.get<uint32_t>());
    }
  }
  PERFLAW_RETURN_IF_ERROR(r.Bool("exclude_history", &c->exclude_history));
  PERFLAW_RETURN_IF_ERROR(r.Uint("seed", std::numeric_limits<uint64_t>::max(), &c->seed));
  std::string why;
  if (!c->IsValid(&why)) return r.Error(why);
  return Status::Ok();
}

Status ParseTop(const json& root, const std::string& source, PointConfig* c) {
  if (!root.is_object())
    return Status::InvalidArgument(source + ": the point must be a JSON object");
  ObjectReader r(root, "", source);
  PERFLAW_RETURN_IF_ERROR(
      r.CheckKeys({"data", "model", "train", "eval", "seed", "device", "threads"}));
  const json empty = json::object();
  if (!r.Has("data")) return r.Error("missing section data (with at least data.path)");
  StatusOr<ObjectReader> data = r.Object("data", empty);
  if (!data.ok()) return data.status();
  PERFLAW_RETURN_IF_ERROR(ParseData(*data, &c->data));
  StatusOr<ObjectReader> model = r.Object("model", empty);
  if (!model.ok()) return model.status();
  PERFLAW_RETURN_IF_ERROR(ParseModel(*model, &c->model));
  StatusOr<ObjectReader> train = r.Object("train", empty);
  if (!train.ok()) return train.status();
  PERFLAW_RETURN_IF_ERROR(ParseTrain(*train, &c->train));
  StatusOr<ObjectReader> eval = r.Object("eval", empty);
  if (!eval.ok()) return eval.status();
  PERFLAW_RETURN_IF_ERROR(ParseEval(*eval, &c->eval));
  PERFLAW_RETURN_IF_ERROR(r.Uint("seed", std::numeric_limits<uint64_t>::max(), &c->seed));
  PERFLAW_RETURN_IF_ERROR(r.Enum("device", kDevices, &c->device));
  PERFLAW_RETURN_IF_ERROR(r.Uint32("threads", &c->threads));
  std::string why;
  if (!c->IsValid(&why)) return r.Error(why);
  return Status::Ok();
}

bool Fail(std::string* why, const std::string& msg) {
  if (why) *why = msg;
  return false;
}

}  // namespace

apen::DataOptions DefaultDataOptions() {
  apen::DataOptions d;
  d.max_seq_len = 50;
  return d;
}

bool ModelConfig::IsValid(std::string* why) const {
  if (layers < 1 || layers > 1024)
    return Fail(why, "model.layers must be in [1, 1024], got " + std::to_string(layers));
  if (d_model < 1 || d_model > 65536)
    return Fail(why, "model.d_model must be in [1, 65536], got " + std::to_string(d_model));
  if (heads < 1) return Fail(why, "model.heads must be >= 1, got " + std::to_string(heads));
  if (d_model % heads != 0)
    return Fail(why, "model.heads (" + std::to_string(heads) + ") must divide model.d_model (" +
                         std::to_string(d_model) + ")");
  if (!(dropout >= 0.0 && dropout < 1.0))
    return Fail(why, "model.dropout must be in [0, 1), got " + apen::ShortNum(dropout));
  if (!(ffn_multiplier > 0.0 && ffn_multiplier <= 64.0))
    return Fail(why,
                "model.ffn_multiplier must be in (0, 64], got " + apen::ShortNum(ffn_multiplier));
  if (std::lround(ffn_multiplier * d_model) < 1)
    return Fail(why, "model.ffn_multiplier * model.d_model must round to at least 1");
  return true;
}

bool TrainConfig::IsValid(std::string* why) const {
  if (epochs < 1) return Fail(why, "train.epochs must be >= 1");
  if (batch_size < 1) return Fail(why, "train.batch_size must be >= 1");
  // Above 10 no optimizer here trains; such a value is a typo, found before any work.
  if (!(lr > 0.0 && lr <= 10.0))
    return Fail(why, "train.lr must be in (0, 10], got " + apen::ShortNum(lr));
  if (!(beta1 >= 0.0 && beta1 < 1.0 && beta2 >= 0.0 && beta2 < 1.0))
    return Fail(why, "train.betas must both be in [0, 1), got [" + apen::ShortNum(beta1) + ", " +
                         apen::ShortNum(beta2) + "]");
  if (!(eps > 0.0 && std::isfinite(eps)))
    return Fail(why, "train.eps must be a finite number > 0, got " + apen::ShortNum(eps));
  if (!(weight_decay >= 0.0 && std::isfinite(weight_decay)))
    return Fail(why, "train.weight_decay must be >= 0, got " + apen::ShortNum(weight_decay));
  if (!(embedding_weight_decay >= 0.0 && std::isfinite(embedding_weight_decay)))
    return Fail(why, "train.embedding_weight_decay must be >= 0, got " +
                         apen::ShortNum(embedding_weight_decay));
  if (negatives < 1) return Fail(why, "train.negatives must be >= 1");
  if (loss == LossType::kBce && negatives != 1)
    return Fail(why,
                "train.negatives must be 1 with train.loss \"bce\" (the SASRec objective), got " +
                    std::to_string(negatives));
  if (!(clip_norm >= 0.0 && std::isfinite(clip_norm)))
    return Fail(why, "train.clip_norm must be >= 0, got " + apen::ShortNum(clip_norm));
  if (min_epochs > 0 && patience == 0)
    return Fail(why, "train.min_epochs (" + std::to_string(min_epochs) +
                         ") needs train.patience > 0: without early stopping every run trains "
                         "train.epochs epochs");
  if (min_epochs > epochs)
    return Fail(why, "train.min_epochs (" + std::to_string(min_epochs) +
                         ") must be <= train.epochs (" + std::to_string(epochs) + ")");
  return true;
}

std::string EvalConfig::Protocol() const {
  return sampled_negatives == 0 ? "full" : "sampled:" + std::to_string(sampled_negatives);
}

bool EvalConfig::IsValid(std::string* why) const {
  if (ks.empty()) return Fail(why, "eval.ks must not be empty");
  for (uint32_t k : ks)
    if (k < 1) return Fail(why, "eval.ks must hold positive integers");
  if (std::find(ks.begin(), ks.end(), 10u) == ks.end())
    return Fail(why, "eval.ks must include 10 (validation NDCG@10 selects the checkpoint)");
  return true;
}

bool PointConfig::IsValid(std::string* why) const {
  if (data.max_seq_len < 1) return Fail(why, "data.max_seq_len must be >= 1 for training");
  std::string data_why;
  if (!data.IsValid(&data_why)) return Fail(why, "data." + data_why);
  return model.IsValid(why) && train.IsValid(why) && eval.IsValid(why);
}

namespace {
// nlohmann keeps the last of two equal keys without a word; a point file with one is refused.
// Returns the dotted path of the first repeated key ("train.lr"), "" when there is none.
class DuplicateKeys {
 public:
  bool operator()(int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      seen_.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      seen_.pop_back();
    } else if (event == json::parse_event_t::key) {
      const std::string key = parsed.get<std::string>();
      path_.resize(static_cast<size_t>(std::max(depth - 1, 0)));
      path_.push_back(key);
      if (!seen_.back().insert(key).second && first_.empty()) {
        for (const std::string& k : path_) first_ += (first_.empty() ? "" : ".") + k;
      }
    }
    return true;
  }
  const std::string& first() const { return first_; }

 private:
  std::vector<std::set<std::string>> seen_;
  std::vector<std::string> path_;  // the keys leading to the current one
  std::string first_;
};
}  // namespace

StatusOr<PointConfig> ParsePointConfig(const std::string& json_text, const std::string& source) {
  json root;
  DuplicateKeys duplicates;
  try {
    root = json::parse(json_text, std::ref(duplicates));
  } catch (const json::exception& e) {
    // e.what() reads "[json.exception.parse_error.101] parse error at line 3, column 5: ..." (or
    // out_of_range.406 for a number such as 1e999 that no double holds).
    std::string what = e.what();
    size_t pos = what.find("] ");
    return Status::InvalidArgument(source + ": " +
                                   (pos == std::string::npos ? what : what.substr(pos + 2)));
  }
  if (!duplicates.first().empty())
    return Status::InvalidArgument(source + ": key " + duplicates.first() +
                                   " is given twice; keep one");
  return PointConfigFromJson(root, source);
}

StatusOr<PointConfig> PointConfigFromJson(const json& root, const std::string& source) {
  PointConfig config;
  PERFLAW_RETURN_IF_ERROR(ParseTop(root, source, &config));
  return config;
}

StatusOr<PointConfig> LoadPointConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(path + ": cannot open the point file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ParsePointConfig(ss.str(), path);
}

const char* ModelTypeName(ModelType type) {
  switch (type) {
    case ModelType::kSasrec:
      return "sasrec";
    case ModelType::kLlama:
      return "llama";
    case ModelType::kHstu:
      return "hstu";
  }
  return "?";
}

const char* PrecisionName(Precision precision) {
  switch (precision) {
    case Precision::kAuto:
      return "auto";
    case Precision::kFp32:
      return "fp32";
    case Precision::kBf16:
      return "bf16";
  }
  return "?";
}

const char* DeviceName(Device device) {
  switch (device) {
    case Device::kAuto:
      return "auto";
    case Device::kCpu:
      return "cpu";
    case Device::kCuda:
      return "cuda";
  }
  return "?";
}

nlohmann::json PointConfigToJson(const PointConfig& c) {
  json data = {{"path", c.data.path},
               {"format", apen::FormatName(c.data.format)},
               {"max_seq_len", c.data.max_seq_len},
               {"user_fraction", c.data.user_fraction},
               {"subsample_seed", c.data.subsample_seed},
               {"min_rating", c.data.min_rating ? json(*c.data.min_rating) : json(nullptr)},
               {"k_core", c.data.k_core},
               {"drop_repeats", c.data.drop_repeats},
               {"user_column", c.data.user_column},
               {"item_column", c.data.item_column},
               {"time_column", c.data.time_column},
               {"rating_column", c.data.rating_column},
               {"delimiter", c.data.delimiter}};
  json model = {{"type", ModelTypeName(c.model.type)},
                {"layers", c.model.layers},
                {"d_model", c.model.d_model},
                {"heads", c.model.heads},
                {"dropout", c.model.dropout},
                {"ffn_multiplier", c.model.ffn_multiplier},
                {"norm", EnumName(kNorms, c.model.norm)}};
  json train = {{"epochs", c.train.epochs},
                {"batch_size", c.train.batch_size},
                {"optimizer", EnumName(kOptimizers, c.train.optimizer)},
                {"lr", c.train.lr},
                {"betas", {c.train.beta1, c.train.beta2}},
                {"eps", c.train.eps},
                {"weight_decay", c.train.weight_decay},
                {"embedding_weight_decay", c.train.embedding_weight_decay},
                {"warmup", c.train.warmup},
                {"lr_schedule", EnumName(kSchedules, c.train.lr_schedule)},
                {"loss", EnumName(kLosses, c.train.loss)},
                {"negatives", c.train.negatives},
                {"patience", c.train.patience},
                {"min_epochs", c.train.min_epochs},
                {"clip_norm", c.train.clip_norm},
                {"packing", c.train.packing},
                {"precision", PrecisionName(c.train.precision)}};
  json eval = {{"protocol", c.eval.Protocol()},
               {"users", c.eval.users},
               {"ks", c.eval.ks},
               {"exclude_history", c.eval.exclude_history},
               {"seed", c.eval.seed}};
  return json{{"data", data},        {"model", model}, {"train", train},
              {"eval", eval},        {"seed", c.seed}, {"device", DeviceName(c.device)},
              {"threads", c.threads}};
}

json ExperimentPart(const json& config) {
  json part = config;
  part.erase("device");
  part.erase("threads");
  if (part.contains("data") && part["data"].is_object()) part["data"].erase("path");
  // Keys added after the first results databases, at their defaults, are left out so that the
  // points written before them keep their ids.
  if (part.contains("train") && part["train"].is_object()) {
    json& train = part["train"];
    if (train.value("precision", "auto") == "auto") train.erase("precision");
    if (train.value("min_epochs", 0) == 0) train.erase("min_epochs");
  }
  return part;
}

}  // namespace perflaw::worker
