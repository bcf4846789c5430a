#include "worker/collective_mpi.h"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <string>

#include "worker/protocol/mpi_util.h"

namespace perflaw::worker {
namespace {

// MPI counts are int: large buffers go in slices.
constexpr size_t kMaxCount = INT_MAX / 2;

}  // namespace

MpiSession::MpiSession(int* argc, char*** argv, int required) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    MPI_Init_thread(argc, argv, required, &provided_);
    owns_ = true;
  } else {
    MPI_Query_thread(&provided_);
  }
}

MpiSession::~MpiSession() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (owns_ && !finalized) MPI_Finalize();
}

MpiCollective::MpiCollective(MPI_Comm comm) {
  MPI_Comm_dup(comm, &comm_);
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
}

MpiCollective::~MpiCollective() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (comm_ != MPI_COMM_NULL && !finalized) MPI_Comm_free(&comm_);
}

Status MpiCollective::Check(int code, const char* what) const {
  if (code == MPI_SUCCESS) return Status::Ok();
  return Status::Internal(std::string(what) + " failed on rank " + std::to_string(rank_) + ": " +
                          protocol::MpiErrorText(code));
}

Status MpiCollective::AllReduceSum(float* data, size_t n) {
  for (size_t i = 0; i < n; i += kMaxCount) {
    const int count = static_cast<int>(std::min(kMaxCount, n - i));
    PERFLAW_RETURN_IF_ERROR(Check(
        MPI_Allreduce(MPI_IN_PLACE, data + i, count, MPI_FLOAT, MPI_SUM, comm_), "MPI_Allreduce"));
  }
  return Status::Ok();
}

Status MpiCollective::AllReduceSum(double* data, size_t n) {
  for (size_t i = 0; i < n; i += kMaxCount) {
    const int count = static_cast<int>(std::min(kMaxCount, n - i));
    PERFLAW_RETURN_IF_ERROR(Check(
        MPI_Allreduce(MPI_IN_PLACE, data + i, count, MPI_DOUBLE, MPI_SUM, comm_), "MPI_Allreduce"));
  }
  return Status::Ok();
}

Status MpiCollective::Broadcast(float* data, size_t n, int root) {
  for (size_t i = 0; i < n; i += kMaxCount) {
    const int count = static_cast<int>(std::min(kMaxCount, n - i));
    PERFLAW_RETURN_IF_ERROR(Check(MPI_Bcast(data + i, count, MPI_FLOAT, root, comm_), "MPI_Bcast"));
  }
  return Status::Ok();
}

Status MpiCollective::Barrier() { return Check(MPI_Barrier(comm_), "MPI_Barrier"); }

bool LaunchedByMpi() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) {
    const char* v = std::getenv(var);
    if (v && std::atoi(v) > 1) return true;
  }
  // Slurm's PMIx plugin (srun --mpi=pmix) names the rank but no world size: take the step's.
  const char* step_tasks = std::getenv("SLURM_STEP_NUM_TASKS");
  return std::getenv("PMIX_RANK") && step_tasks && std::atoi(step_tasks) > 1;
}

int LocalRank() {
  for (const char* var :
       {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID", "PMIX_LOCAL_RANK"}) {
    const char* v = std::getenv(var);
    if (v && *v) return std::max(0, std::atoi(v));
  }
  return 0;
}

}  // namespace perflaw::worker
