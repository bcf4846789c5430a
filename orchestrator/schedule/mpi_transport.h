// The MPI implementation of Transport (rank 0's side), and the start-up handshake it shares with
// `perflaw-worker serve` (worker/serve.cc), which is the other side. One MPMD job:
//   mpirun -np 1 perflaw orchestrate ... : -np N perflaw-worker serve
// World rank 0 is the orchestrator; ranks 1..N are split into N / ranks_per_point worker groups of
// consecutive ranks; each group's first rank (its leader) talks to rank 0. Control messages are the
// JSON of transport.h, sent on a private duplicate of MPI_COMM_WORLD with MPI_ERRORS_RETURN.
// Protocol and start-up: docs/scheduler.md.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "apen/status.h"
#include "orchestrator/schedule/transport.h"
#include "worker/protocol/mpi_protocol.h"
#include "worker/protocol/mpi_util.h"  // <mpi.h>, the C API only

namespace perflaw::orchestrator {

// Initialises MPI (MPI_THREAD_MULTIPLE requested) and finalises it on destruction.
class MpiRuntime {
 public:
  static StatusOr<std::unique_ptr<MpiRuntime>> Init(int* argc, char*** argv);
  ~MpiRuntime();
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;
  int world_rank() const { return rank_; }
  int world_size() const { return size_; }

 private:
  MpiRuntime() = default;
  int rank_ = 0, size_ = 1;
};

class MpiTransport final : public Transport {
 public:
  // Rank 0's half of the collective start-up (the workers run theirs in perflaw-worker serve):
  // broadcasts ranks_per_point, splits the world into groups and gathers the workers' host names.
  // If the worker ranks cannot be grouped (none, or not a multiple of ranks_per_point), the workers
  // are told to exit and InvalidArgument is returned. Must be called on world rank 0 only.
  static StatusOr<std::unique_ptr<MpiTransport>> Create(int ranks_per_point);
  ~MpiTransport() override;

  int GroupCount() const override { return groups_; }
  // Non-blocking (MPI_Isend); the bytes are kept until the send completes.
  Status Send(int group, const ToGroup& message) override;
  StatusOr<std::optional<Incoming>> Poll(double timeout_seconds) override;

  // Where a group runs: its world ranks and their host names (for the attempts table).
  std::vector<int> GroupRanks(int group) const;
  std::vector<std::string> GroupHosts(int group) const;

  // Waits up to `timeout_seconds` for sends still in flight (call after the last Shutdown).
  Status Flush(double timeout_seconds);

 private:
  MpiTransport() = default;
  Status ReapSends();
  MPI_Comm control_ = MPI_COMM_NULL;   // duplicate of the world, MPI_ERRORS_RETURN
  MPI_Comm no_group_ = MPI_COMM_NULL;  // rank 0's (null) result of the split
  int ranks_per_point_ = 1;
  int groups_ = 0;
  std::vector<std::string> hosts_;  // by world rank
  protocol::SendQueue sends_;
};

}  // namespace perflaw::orchestrator
