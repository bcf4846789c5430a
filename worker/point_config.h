// The point configuration: everything that defines one grid point (one model on one dataset), read
// from the JSON that `perflaw-worker train --point` takes and that the orchestrator sends over MPI.
// The sweep YAML uses the same section and key names. Defaults are the in-class initialisers below
// and are listed in docs/worker.md; unknown keys, wrong types and bad values are errors naming the
// key.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "apen/dataset.h"
#include "apen/status.h"

namespace perflaw::worker {

enum class ModelType { kSasrec, kLlama, kHstu };
enum class NormPlacement { kPost, kPre };

// `model`: the architecture.
struct ModelConfig {
  ModelType type = ModelType::kSasrec;
  uint32_t layers = 2;
  uint32_t d_model = 50;
  uint32_t heads = 1;           // must divide d_model
  double dropout = 0.2;         // in [0, 1)
  double ffn_multiplier = 1.0;  // feed-forward hidden size = round(ffn_multiplier * d_model)
  NormPlacement norm = NormPlacement::kPost;  // sasrec only: post-LN (original) or pre-LN

  bool IsValid(std::string* why) const;
};

enum class OptimizerType { kAdam, kAdamW };
enum class LossType { kBce, kSampledSoftmax };
enum class LrSchedule { kConstant, kCosine };
// Arithmetic of the forward pass and the loss. Master weights, gradients and optimizer state are
// fp32 either way; kBf16 runs the encoder under autocast (matrix products in bfloat16) and computes
// the loss and every score in fp32. kAuto: bf16 on CUDA, fp32 on CPU.
enum class Precision { kAuto, kFp32, kBf16 };

// `train`: the objective and optimisation.
struct TrainConfig {
  uint32_t epochs = 20;       // maximum epochs (one pass over the training users each)
  uint32_t batch_size = 128;  // users per global batch (split across data-parallel ranks)
  OptimizerType optimizer = OptimizerType::kAdam;
  double lr = 1e-3;    // peak learning rate
  double beta1 = 0.9;  // JSON: "betas": [beta1, beta2]
  double beta2 = 0.98;
  double eps = 1e-8;
  double weight_decay = 0.0;                       // on weight matrices (never on norms or biases)
  double embedding_weight_decay = 0.0;             // on item/position embeddings
  uint32_t warmup = 0;                             // linear warm-up steps
  LrSchedule lr_schedule = LrSchedule::kConstant;  // after warm-up: constant, or cosine decay to 0
  LossType loss = LossType::kBce;
  uint32_t negatives = 1;  // per position; bce needs exactly 1
  // Early stopping on valid NDCG@10 after this many epochs without improvement (0: run all epochs).
  uint32_t patience = 0;
  // Early stopping never ends a run before this many epochs (0: no floor): small models can sit on
  // the popularity plateau for longer than `patience` before they start to learn. Needs patience.
  uint32_t min_epochs = 0;
  double clip_norm = 0.0;                  // global gradient-norm clipping (0: off)
  bool packing = true;                     // pack several users into one row (exact; see docs)
  Precision precision = Precision::kAuto;  // "auto" | "fp32" | "bf16"

  bool IsValid(std::string* why) const;
};

// `eval`: the ranking protocol.
struct EvalConfig {
  uint32_t sampled_negatives = 0;  // "protocol": "full" (0) or "sampled:K" (K > 0)
  uint32_t users = 0;              // evaluate a seeded subsample of this many users (0: all)
  std::vector<uint32_t> ks = {10, 50, 200};
  bool exclude_history = true;  // full protocol: never rank the user's own history items
  uint64_t seed = 0;            // eval users and negatives; independent of the training seed so
                                // that every point of a sweep is evaluated on the same candidates

  std::string Protocol() const;  // "full" or "sampled:K"
  bool IsValid(std::string* why) const;
};

enum class Device { kAuto, kCpu, kCuda };

// The worker's `data` defaults: apen's, except that a model needs a finite max_seq_len.
apen::DataOptions DefaultDataOptions();

struct PointConfig {
  // `data`: apen::DataOptions, keys = its field names (path is required; max_seq_len >= 1, default
  // 50).
  apen::DataOptions data = DefaultDataOptions();
  ModelConfig model;
  TrainConfig train;
  EvalConfig eval;
  uint64_t seed = 0;  // training: init, batch order, negatives, dropout
  Device device = Device::kAuto;
  uint32_t threads = 0;  // CPU threads of the computation (0: one per core; worker/threads.h)

  bool IsValid(std::string* why) const;
};

// Parses a point from JSON text; `source` names it in errors ("point.json: unknown key model.layer
// (did you mean model.layers?)"). Returns InvalidArgument for malformed JSON, unknown keys, wrong
// types and invalid values.
StatusOr<PointConfig> ParsePointConfig(const std::string& json_text, const std::string& source);
// The same for a JSON value already in memory (the sweep's expansion builds each point as one):
// no text to print and parse again, and no duplicate keys to find (a JSON object has none).
StatusOr<PointConfig> PointConfigFromJson(const nlohmann::json& root, const std::string& source);
StatusOr<PointConfig> LoadPointConfig(const std::string& path);

// The full configuration with every default filled in, in canonical key order.
nlohmann::json PointConfigToJson(const PointConfig& config);

// `config` (a PointConfigToJson) without the keys that say where the point runs or where its data
// file lies rather than what the experiment is: `device`, `threads`, `data.path`, and
// `train.precision` when "auto" (bf16 on CUDA, fp32 on CPU: like `device`, a property of the
// machine). Two configurations with equal experiment parts are the same experiment; the point id
// hashes this part with the data's content in place of its path.
nlohmann::json ExperimentPart(const nlohmann::json& config);

const char* ModelTypeName(ModelType type);
const char* DeviceName(Device device);
const char* PrecisionName(Precision precision);

}  // namespace perflaw::worker
