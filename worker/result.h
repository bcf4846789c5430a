// What running one point produced. A result starts as "not run" and says how it ended.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "apen/status.h"
#include "worker/metrics.h"
#include "worker/point_config.h"

namespace perflaw::worker {

enum class RunStatus {
  kNotRun,       // the initial value
  kOk,           // trained and evaluated
  kDiverged,     // a NaN/Inf loss ended training ("diverged at step S")
  kFailed,       // an exception or error (message says which)
  kInterrupted,  // SIGTERM/SIGUSR1: a checkpoint was written; resume with the same --checkpoint-dir
};
const char* RunStatusName(RunStatus status);

struct EpochRecord {
  uint32_t epoch = 0;        // 1-based
  uint64_t steps = 0;        // optimizer steps done after this epoch
  double train_loss = 0.0;   // mean per-position loss over the epoch's targets
  double seconds = 0.0;      // training time of the epoch (without evaluation), wall clock
  double cpu_seconds = 0.0;  // process CPU time of the same (all threads: robust to a busy machine)
  double eval_seconds = 0.0;  // validation time after the epoch
  RankMetrics valid;
};

struct ParamCounts {
  uint64_t embedding = 0;      // item and position embeddings
  uint64_t non_embedding = 0;  // everything else
};

struct PointResult {
  RunStatus status = RunStatus::kNotRun;
  std::string message = "not run";
  bool user_error = false;     // a failure caused by the input (bad data file, infeasible protocol)
  bool storage_error = false;  // files could not be read or written (full disk, read-only, removed)
  PointConfig config;
  std::string device;         // where it ran ("cpu", "cuda:0")
  int world_size = 1;         // data-parallel ranks
  std::string precision;      // the arithmetic used: "fp32" or "bf16" (train.precision resolved)
  std::string attention;      // the attention kernel: "math" or "sdpa" (LibTorch's fused kernels)
  uint32_t eval_threads = 0;  // threads that scored the evaluation's users (1 on a GPU)
  uint64_t num_users = 0, num_items = 0, num_train_interactions = 0;
  ParamCounts params;
  std::vector<EpochRecord> epochs;
  uint32_t best_epoch = 0;  // the epoch whose model the test metrics are for
  std::optional<RankMetrics> best_valid;
  std::optional<RankMetrics> test;
  uint64_t steps = 0;
  uint64_t tokens_seen = 0;        // training positions with a loss (non-padding), over all ranks
  double wall_seconds = 0.0;       // the whole run: loading, training, evaluation
  double train_seconds = 0.0;      // training steps only
  double tokens_per_second = 0.0;  // tokens_seen / train_seconds
};

nlohmann::json RankMetricsToJson(const RankMetrics& m);
RankMetrics RankMetricsFromJson(const nlohmann::json& j);
nlohmann::json EpochRecordToJson(const EpochRecord& e);
EpochRecord EpochRecordFromJson(const nlohmann::json& j);
nlohmann::json PointResultToJson(const PointResult& r);
// One line for a person: how it ended, the test metrics with what they are (protocol, split, users,
// eval seed, the epoch validation chose), epochs, time and the evaluation's threads. E.g.
// "ok: test HR@10 0.7018 NDCG@10 0.4717 MRR 0.4101 (sampled:100, test split, 10000 users, eval seed
// 0; model of epoch 17 of 20, chosen on valid NDCG@10); 61.3 s wall, 52.0 s training; evaluation on
// 2 threads (cpu)"
std::string SummaryLine(const PointResult& r);
// Writes the JSON atomically (temp file + rename).
Status WriteResultFile(const PointResult& r, const std::string& path);

}  // namespace perflaw::worker
