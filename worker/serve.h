// The worker side of a sweep's MPI job: `perflaw-worker serve` on every world rank but 0.
// After the start-up handshake (worker/protocol/mpi_protocol.h) the ranks form worker groups; each
// group trains one point at a time, data-parallel. The group's leader (its rank 0) owns the link to
// the orchestrator: a control thread receives orders, sends Ready / Heartbeat / EpochMetrics /
// PointDone / PointFailed (orchestrator/schedule/transport.h) and keeps heart-beating while the training
// thread trains or evaluates. Orders reach the rest of the group by broadcast. Protocol:
// docs/scheduler.md.
#pragma once

#include <atomic>
#include <string>

namespace perflaw::worker {

struct ServeOptions {
  // Cache for apen::LoadDataset ("" : apen's default directory).
  std::string cache_dir;
  // Raised by SIGTERM (job preemption): the running point checkpoints, is reported as preempted,
  // and later orders are refused until the orchestrator says shutdown.
  const std::atomic<bool>* terminate = nullptr;
};

// Runs until the orchestrator's Shutdown. MPI must be initialised with MPI_THREAD_MULTIPLE.
// Returns the process exit code: 0 after a shutdown, 2 if the handshake refused this job (version
// mismatch, ranks not divisible into groups: the orchestrator prints why), 1 on an MPI error.
int Serve(const ServeOptions& options);

}  // namespace perflaw::worker
