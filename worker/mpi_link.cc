#include "worker/mpi_link.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdint>
#include <thread>
#include <utility>

namespace perflaw::worker {
namespace {

Status MpiError(int code, const char* what) {
  return Status::IoError(std::string(what) + ": " + protocol::MpiErrorText(code));
}

}  // namespace

MpiComm::~MpiComm() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (comm_ != MPI_COMM_NULL && !finalized) MPI_Comm_free(&comm_);
}

Status MpiControlLink::Send(std::string bytes) {
  if (bytes.size() > static_cast<size_t>(INT_MAX))
    return Status::InvalidArgument("control message too large");
  const int rc = sends_.Start(std::move(bytes), 0, protocol::kControlTag, control_);
  if (rc != MPI_SUCCESS) return MpiError(rc, "send to the orchestrator");
  return Status::Ok();
}

StatusOr<std::optional<std::string>> MpiControlLink::Receive() {
  int rc = sends_.Reap();
  if (rc != MPI_SUCCESS) return MpiError(rc, "completing a send");
  int flag = 0;
  MPI_Status status;
  rc = MPI_Iprobe(0, protocol::kControlTag, control_, &flag, &status);
  if (rc != MPI_SUCCESS) return MpiError(rc, "probe");
  if (!flag) return std::optional<std::string>();
  int count = 0;
  MPI_Get_count(&status, MPI_CHAR, &count);
  std::string bytes(static_cast<size_t>(std::max(count, 0)), '\0');
  rc = MPI_Recv(bytes.data(), count, MPI_CHAR, 0, protocol::kControlTag, control_,
                MPI_STATUS_IGNORE);
  if (rc != MPI_SUCCESS) return MpiError(rc, "receive");
  return std::optional<std::string>(std::move(bytes));
}

Status MpiControlLink::Flush(double limit_seconds) {
  const int rc = sends_.Drain(std::chrono::duration<double>(limit_seconds));
  sends_.Abandon();
  if (rc != MPI_SUCCESS) return MpiError(rc, "completing a send");
  return Status::Ok();
}

MpiGroupChannel::MpiGroupChannel(MPI_Comm group) : group_(group) {
  MPI_Comm_rank(group_, &rank_);
  MPI_Comm_size(group_, &size_);
}

Status MpiGroupChannel::Share(std::string* bytes) {
  auto wait = [](MPI_Request* request) {
    protocol::PollBackoff backoff;
    while (true) {
      int done = 0;
      if (MPI_Test(request, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return false;
      if (done) return true;
      std::this_thread::sleep_for(backoff.Next());
    }
  };
  const Status failed = Status::IoError("broadcast inside the worker group failed");
  uint64_t size = bytes->size();
  MPI_Request request;
  if (MPI_Ibcast(&size, 1, MPI_UINT64_T, 0, group_, &request) != MPI_SUCCESS || !wait(&request))
    return failed;
  bytes->resize(size);
  if (MPI_Ibcast(bytes->data(), static_cast<int>(size), MPI_CHAR, 0, group_, &request) !=
          MPI_SUCCESS ||
      !wait(&request))
    return failed;
  return Status::Ok();
}

}  // namespace perflaw::worker
