#include "worker/collective_nccl.h"

#include <algorithm>
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
  return Status::Internal(std::string(what) +
                          " failed: " + orchestrator::mpi_protocol::MpiErrorText(code));
}

}  // namespace

StatusOr<std::unique_ptr<NcclCollective>> NcclCollective::Create(MPI_Comm comm, int device) {
  int rank = 0, size = 1;
  PERFLAW_RETURN_IF_ERROR(MpiStatus(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank"));
  PERFLAW_RETURN_IF_ERROR(MpiStatus(MPI_Comm_size(comm, &size), "MPI_Comm_size"));
  PERFLAW_RETURN_IF_ERROR(CudaStatus(cudaSetDevice(device), "cudaSetDevice"));
  ncclUniqueId id;
  if (rank == 0) PERFLAW_RETURN_IF_ERROR(NcclStatus(ncclGetUniqueId(&id), "ncclGetUniqueId"));
  PERFLAW_RETURN_IF_ERROR(
      MpiStatus(MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, comm), "MPI_Bcast of the ncclUniqueId"));
  ncclComm_t nccl = nullptr;
  PERFLAW_RETURN_IF_ERROR(NcclStatus(ncclCommInitRank(&nccl, size, id, rank), "ncclCommInitRank"));
  std::unique_ptr<NcclCollective> owned(new NcclCollective(nccl, rank, size));
  PERFLAW_RETURN_IF_ERROR(MpiStatus(MPI_Barrier(comm), "MPI_Barrier after ncclCommInitRank"));
  return owned;
}

NcclCollective::~NcclCollective() {
  if (comm_ != nullptr) ncclCommDestroy(comm_);
}

Status NcclCollective::AllReduceSum(float* device_data, size_t n, size_t bucket,
                                    cudaStream_t stream) {
  if (bucket == 0) return Status::InvalidArgument("NCCL all-reduce bucket size must be positive");
  // One group: the buckets' launches are fused instead of synchronising per bucket.
  PERFLAW_RETURN_IF_ERROR(NcclStatus(ncclGroupStart(), "ncclGroupStart"));
  for (size_t begin = 0; begin < n; begin += bucket) {
    const size_t count = std::min(bucket, n - begin);
    const ncclResult_t r = ncclAllReduce(device_data + begin, device_data + begin, count,
                                         ncclFloat32, ncclSum, comm_, stream);
    if (r != ncclSuccess) {
      ncclGroupEnd();
      return NcclStatus(r, "ncclAllReduce");
    }
  }
  return NcclStatus(ncclGroupEnd(), "ncclGroupEnd (all-reduce)");
}

Status NcclCollective::Broadcast(float* device_data, size_t n, int root, cudaStream_t stream) {
  if (root < 0 || root >= size_)
    return Status::InvalidArgument("NCCL broadcast root " + std::to_string(root) + " outside [0, " +
                                   std::to_string(size_) + ")");
  return NcclStatus(ncclBroadcast(device_data, device_data, n, ncclFloat32, root, comm_, stream),
                    "ncclBroadcast");
}

}  // namespace perflaw::worker
