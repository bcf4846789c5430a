#include "worker/collective_nccl.h"

#include <string>

namespace perflaw::worker {
namespace {

Status NcclStatus(ncclResult_t r, const char* what) {
  if (r == ncclSuccess) return Status::Ok();
  return Status::Internal(std::string(what) + " failed: " + ncclGetErrorString(r));
}

Status CudaStatus(cudaError_t r, const char* what) {
  if (r == cudaSuccess) return Status::Ok();
  return Status::Internal(std::string(what) + " failed: " + cudaGetErrorString(r));
}

Status MpiStatus(int code, const char* what) {
  if (code == MPI_SUCCESS) return Status::Ok();
  return Status::Internal(std::string(what) + " failed: " + protocol::MpiErrorText(code));
}

}  // namespace

StatusOr<std::unique_ptr<NcclCollective>> NcclCollective::Create(MPI_Comm comm, int device,
                                                                 cudaStream_t stream) {
  int rank = 0, size = 1;
  PERFLAW_RETURN_IF_ERROR(MpiStatus(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank"));
  PERFLAW_RETURN_IF_ERROR(MpiStatus(MPI_Comm_size(comm, &size), "MPI_Comm_size"));
  PERFLAW_RETURN_IF_ERROR(CudaStatus(cudaSetDevice(device), "cudaSetDevice"));
  ncclUniqueId id;
  if (rank == 0) PERFLAW_RETURN_IF_ERROR(NcclStatus(ncclGetUniqueId(&id), "ncclGetUniqueId"));
  PERFLAW_RETURN_IF_ERROR(
      MpiStatus(MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, comm), "MPI_Bcast of the ncclUniqueId"));
  std::unique_ptr<NcclCollective> owned(new NcclCollective(comm, device, stream));
  PERFLAW_RETURN_IF_ERROR(
      NcclStatus(ncclCommInitRank(&owned->comm_, size, id, rank), "ncclCommInitRank"));
  PERFLAW_RETURN_IF_ERROR(MpiStatus(MPI_Barrier(comm), "MPI_Barrier after ncclCommInitRank"));
  return owned;
}

NcclCollective::~NcclCollective() {
  if (comm_ != nullptr) ncclCommDestroy(comm_);
}

Status NcclCollective::AsyncError() const {
  ncclResult_t async = ncclSuccess;
  PERFLAW_RETURN_IF_ERROR(
      NcclStatus(ncclCommGetAsyncError(comm_, &async), "ncclCommGetAsyncError"));
  return NcclStatus(async, "an earlier NCCL operation");
}

Status NcclCollective::AllReduceSum(float* device_data, size_t n) {
  PERFLAW_RETURN_IF_ERROR(AsyncError());
  return NcclStatus(
      ncclAllReduce(device_data, device_data, n, ncclFloat32, ncclSum, comm_, stream_),
      "ncclAllReduce");
}

Status NcclCollective::Broadcast(float* device_data, size_t n, int root) {
  if (root < 0 || root >= size())
    return Status::InvalidArgument("NCCL broadcast root " + std::to_string(root) + " outside [0, " +
                                   std::to_string(size()) + ")");
  PERFLAW_RETURN_IF_ERROR(AsyncError());
  return NcclStatus(ncclBroadcast(device_data, device_data, n, ncclFloat32, root, comm_, stream_),
                    "ncclBroadcast");
}

Status NcclCollective::Barrier() {
  PERFLAW_RETURN_IF_ERROR(CudaStatus(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"));
  PERFLAW_RETURN_IF_ERROR(AsyncError());
  return host_.Barrier();
}

StatusOr<Collective*> NcclGroup::Get(int device) {
  if (!nccl_ || nccl_->device() != device) {
    nccl_.reset();
    StatusOr<std::unique_ptr<NcclCollective>> made = NcclCollective::Create(comm_, device);
    if (!made.ok()) return made.status();
    nccl_ = std::move(made).value();
  }
  return static_cast<Collective*>(nccl_.get());
}

}  // namespace perflaw::worker
