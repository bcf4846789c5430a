// Collective operations between the data-parallel ranks that train one point. The trainer only sees
// this interface; implementations: Local (one process), MPI (worker/collective_mpi.h: host memory,
// CPU training and CUDA builds without NCCL), NCCL (worker/collective_nccl.h: CUDA device memory).
#pragma once

#include <cstddef>
#include <memory>

#include "apen/status.h"

namespace perflaw::worker {

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Where the float buffers of AllReduceSum and Broadcast live: false host memory, true CUDA device
  // memory of the rank's device (operations are then enqueued on its stream and return before
  // they complete; later work on that stream sees the result).
  virtual bool device_buffers() const { return false; }
  // In-place element-wise sums over all ranks (float: in the memory device_buffers() names).
  virtual Status AllReduceSum(float* data, size_t n) = 0;
  // Host memory whatever device_buffers() says: small scalars (loss sums, stop requests).
  virtual Status AllReduceSum(double* data, size_t n) = 0;
  // Overwrites `data` on every rank with root's (in the memory device_buffers() names).
  virtual Status Broadcast(float* data, size_t n, int root) = 0;
  virtual Status Barrier() = 0;
};

// One rank: every operation is the identity.
class LocalCollective : public Collective {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  Status AllReduceSum(float*, size_t) override { return Status::Ok(); }
  Status AllReduceSum(double*, size_t) override { return Status::Ok(); }
  Status Broadcast(float*, size_t, int) override { return Status::Ok(); }
  Status Barrier() override { return Status::Ok(); }
};

}  // namespace perflaw::worker
