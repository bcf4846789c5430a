// NCCL collectives on CUDA device memory, for data-parallel training on GPUs. Compiled only when
// LibTorch has CUDA and NCCL and MPI are found (PERFLAW_WITH_NCCL; worker/CMakeLists.txt); CI
// syntax-checks it against the CUDA toolkit's headers (scripts/ci/nccl-check.sh). Needs no
// LibTorch: callers pass raw device pointers, and operations are enqueued on one CUDA stream (by
// default the legacy default stream, where LibTorch enqueues its work unless told otherwise, so
// later LibTorch work sees the result without a synchronisation).
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstddef>
#include <memory>

#include "apen/status.h"
#include "worker/collective.h"
#include "worker/collective_mpi.h"

namespace perflaw::worker {

// The communicator spans the ranks of an MPI communicator: rank 0 makes the ncclUniqueId and
// broadcasts it over MPI. Host-memory operations (double sums, barriers) go over MPI.
class NcclCollective : public Collective {
 public:
  // Joins every rank of `comm` (collective over it: all ranks must call) on CUDA device `device`,
  // then waits at an MPI barrier so no rank all-reduces before every communicator exists.
  static StatusOr<std::unique_ptr<NcclCollective>> Create(MPI_Comm comm, int device,
                                                          cudaStream_t stream = nullptr);
  ~NcclCollective() override;  // destroys the communicator
  NcclCollective(const NcclCollective&) = delete;
  NcclCollective& operator=(const NcclCollective&) = delete;

  int rank() const override { return host_.rank(); }
  int size() const override { return host_.size(); }
  bool device_buffers() const override { return true; }
  int device() const { return device_; }
  // In-place sum of n floats of device memory; returns once enqueued, not completed. Errors that
  // NCCL reports later (a peer lost) come back from the next call or Barrier().
  Status AllReduceSum(float* device_data, size_t n) override;
  Status AllReduceSum(double* host_data, size_t n) override {
    return host_.AllReduceSum(host_data, n);
  }
  Status Broadcast(float* device_data, size_t n, int root) override;
  Status Barrier() override;

 private:
  NcclCollective(MPI_Comm comm, int device, cudaStream_t stream)
      : host_(comm), device_(device), stream_(stream) {}
  Status AsyncError() const;

  MpiCollective host_;
  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  ncclComm_t comm_ = nullptr;
};

// The NCCL collective of one worker group, made when a point of the group first trains on CUDA
// (the group's ranks run the same point, so they reach it together) and kept for later points:
// TrainOptions::cuda_collective.
class NcclGroup {
 public:
  explicit NcclGroup(MPI_Comm comm) : comm_(comm) {}
  StatusOr<Collective*> Get(int device);

 private:
  MPI_Comm comm_;
  std::unique_ptr<NcclCollective> nccl_;
};

}  // namespace perflaw::worker
