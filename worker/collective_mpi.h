// MPI implementation of the collective interface (CPU buffers), and RAII for MPI itself.
#pragma once

#include "worker/collective.h"
#include "worker/protocol/mpi_util.h"  // <mpi.h>, the C API only

namespace perflaw::worker {

// Initialises MPI if nobody has, and finalises it on destruction if it initialised it. `required`:
// MPI_THREAD_FUNNELED when only the training thread calls MPI (perflaw-worker train),
// MPI_THREAD_MULTIPLE when a control thread talks to the orchestrator meanwhile (serve).
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv, int required = MPI_THREAD_FUNNELED);
  // The thread level MPI provides (compare with the one required).
  int provided() const { return provided_; }
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

 private:
  bool owns_ = false;
  int provided_ = MPI_THREAD_SINGLE;
};

// Collectives over a private duplicate of `comm` (so our messages never match the caller's), with
// MPI_ERRORS_RETURN on it: failures come back as Status instead of aborting the job. The duplicate
// is freed on destruction.
class MpiCollective : public Collective {
 public:
  explicit MpiCollective(MPI_Comm comm);
  ~MpiCollective() override;
  MpiCollective(const MpiCollective&) = delete;
  MpiCollective& operator=(const MpiCollective&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  Status AllReduceSum(float* data, size_t n) override;
  Status AllReduceSum(double* data, size_t n) override;
  Status Broadcast(float* data, size_t n, int root) override;
  Status Barrier() override;

 private:
  Status Check(int code, const char* what) const;
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
};

// True when this process was started by an MPI launcher (mpirun, srun --mpi) with more than one
// rank.
bool LaunchedByMpi();
// This process's index among the ranks on its node, as the launcher says (Open MPI, Slurm, MPICH,
// PMIx); 0 when none does. Picks the rank's GPU (TrainOptions::local_rank).
int LocalRank();

}  // namespace perflaw::worker
