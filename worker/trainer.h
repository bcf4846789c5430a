// Training and evaluating one point (LibTorch stays behind this header).
#pragma once

#include <atomic>
#include <string>

#include "apen/dataset.h"
#include "worker/collective.h"
#include "worker/point_config.h"
#include "worker/result.h"

namespace perflaw::worker {

struct RunOptions {
  // Checkpoints go to DIR/checkpoint.pt at every epoch end and when `stop` is raised; a run finding
  // one there resumes from it. "" disables checkpointing.
  std::string checkpoint_dir;
  // Data-parallel group (nullptr: one process).
  Collective* collective = nullptr;
  // Raised (by a SIGTERM/SIGUSR1 handler) to checkpoint and stop at the next step boundary.
  const std::atomic<bool>* stop = nullptr;
  // Test hook: behave as if `stop` was raised before this optimizer step (0: never).
  uint64_t stop_before_step = 0;
  // Cache for apen::LoadDataset ("" : apen's default directory).
  std::string cache_dir;
};

// Loads the dataset of `config.data` and runs the point. Never throws: errors and exceptions become
// a failed result with the message.
PointResult RunPoint(const PointConfig& config, const RunOptions& options);
// The same on an already loaded dataset (tests, synthetic data).
PointResult RunPointOnDataset(const PointConfig& config, const apen::Dataset& dataset,
                              const RunOptions& options);

}  // namespace perflaw::worker
