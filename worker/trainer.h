// Training and evaluating one point (LibTorch stays behind this header).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "apen/dataset.h"
#include "worker/collective.h"
#include "worker/point_config.h"
#include "worker/result.h"

namespace perflaw::worker {

// How far a run is, for a thread that reports on it (heartbeats) while training runs.
struct LiveProgress {
  std::atomic<uint64_t> steps{0};   // optimizer steps done
  std::atomic<uint32_t> epochs{0};  // epochs done
};

struct TrainOptions {
  // Checkpoints go to DIR/checkpoint.pt at every epoch end and when `stop` is raised; a run finding
  // one there resumes from it. "" disables checkpointing.
  std::string checkpoint_dir;
  // Data-parallel group, host buffers (nullptr: one process).
  Collective* collective = nullptr;
  // When set and the point runs on CUDA in a group of several ranks: the group's collective on
  // device buffers for CUDA device `device` (NCCL: worker/collective_nccl.h), used instead of
  // `collective` for gradients and the initial broadcast. Called on every rank of the group.
  std::function<StatusOr<Collective*>(int device)> cuda_collective;
  // This rank's index among the ranks on its node: it trains on CUDA device
  // local_rank % (devices it sees), so one rank per GPU needs no configuration.
  int local_rank = 0;
  // Raised (by a SIGTERM/SIGUSR1 handler) to checkpoint and stop at the next step boundary.
  const std::atomic<bool>* stop = nullptr;
  // Test hook: behave as if `stop` was raised before this optimizer step (0: never).
  uint64_t stop_before_step = 0;
  // Updated after every step and epoch when set (rank 0 and the others alike).
  LiveProgress* live = nullptr;
  // Called on data-parallel rank 0 after every epoch finished in this run (not for epochs restored
  // from a checkpoint), from the training thread; must not throw.
  std::function<void(const EpochRecord&)> on_epoch;
  // Cache for apen::LoadDataset ("" : apen's default directory).
  std::string cache_dir;
};

// Loads the dataset of `config.data` and runs the point. Never throws: errors and exceptions become
// a failed result with the message.
PointResult TrainPoint(const PointConfig& config, const TrainOptions& options);
// The same on an already loaded dataset (tests, synthetic data).
PointResult TrainPointOnDataset(const PointConfig& config, const apen::Dataset& dataset,
                                const TrainOptions& options);

}  // namespace perflaw::worker
