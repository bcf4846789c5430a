// NCCL collectives on device memory for CUDA builds (compiled only when LibTorch has CUDA and NCCL
// is found). The communicator spans the ranks of an MPI communicator: rank 0 makes the ncclUniqueId
// and broadcasts it over MPI. Needs no LibTorch: callers pass raw device pointers and their CUDA
// stream (the trainer's current stream), so it also compiles against the CUDA toolkit alone.
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstddef>
#include <memory>

#include "apen/status.h"
#include "orchestrator/mpi_util.h"  // <mpi.h>, the C API only

namespace perflaw::worker {

class NcclCollective {
 public:
  // Joins every rank of `comm` (collective over it: all ranks must call) on CUDA device `device`,
  // then waits at an MPI barrier so no rank all-reduces before every communicator exists.
  static StatusOr<std::unique_ptr<NcclCollective>> Create(MPI_Comm comm, int device);
  ~NcclCollective();  // destroys the communicator
  NcclCollective(const NcclCollective&) = delete;
  NcclCollective& operator=(const NcclCollective&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // In-place sum over all ranks of n floats of device memory, in buckets of at most `bucket`
  // elements (bounded NCCL launches, like the MPI implementation's buckets), enqueued on `stream`;
  // returns once enqueued, not completed.
  Status AllReduceSum(float* device_data, size_t n, size_t bucket, cudaStream_t stream);
  // Overwrites device_data on every rank with root's, enqueued on `stream`.
  Status Broadcast(float* device_data, size_t n, int root, cudaStream_t stream);

 private:
  NcclCollective(ncclComm_t comm, int rank, int size) : comm_(comm), rank_(rank), size_(size) {}
  ncclComm_t comm_ = nullptr;
  int rank_ = 0, size_ = 1;
};

}  // namespace perflaw::worker
