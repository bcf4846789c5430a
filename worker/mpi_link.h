// The MPI side of the group server (worker/group_server.h): the leader's control link to rank 0
// over the control communicator and the broadcast of orders inside a worker group, both with
// MPI_ERRORS_RETURN (an MPI error becomes a Status naming it), and the communicators they use.
// Linked only into perflaw-worker built with MPI (worker/serve.cc).
#pragma once

#include <optional>
#include <string>

#include "apen/status.h"
#include "worker/group_server.h"
#include "worker/protocol/mpi_util.h"

namespace perflaw::worker {

// A communicator this process created, freed at the end unless MPI is finalised by then.
class MpiComm {
 public:
  MpiComm() = default;
  MpiComm(const MpiComm&) = delete;
  MpiComm& operator=(const MpiComm&) = delete;
  ~MpiComm();
  MPI_Comm get() const { return comm_; }
  MPI_Comm* out() { return &comm_; }  // for MPI_Comm_split / MPI_Comm_dup to fill

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
};

// Control messages (tag protocol::kControlTag) between the group's leader and world rank 0 on the
// control communicator. Sends do not block: a blocking MPI_Send returns only when rank 0 has taken
// the message (Open MPI's shared-memory transport returns the buffer then), and until then the
// control thread took no orders and spun in MPI progress (16% of a worker's CPU with 8 ranks on 2
// cores). Receive is MPI_Iprobe, then MPI_Recv of what it found; it also completes finished sends.
class MpiControlLink final : public ControlLink {
 public:
  explicit MpiControlLink(MPI_Comm control) : control_(control) {}
  Status Send(std::string bytes) override;
  StatusOr<std::optional<std::string>> Receive() override;
  Status Flush(double limit_seconds) override;

 private:
  MPI_Comm control_;
  protocol::SendQueue sends_;
};

// The leader's order to every rank of the group over the group's communicator. Waiting ranks test a
// non-blocking broadcast with naps (protocol::PollBackoff) instead of spinning in a blocking one:
// idle ranks then leave the cores to training.
class MpiGroupChannel final : public GroupChannel {
 public:
  explicit MpiGroupChannel(MPI_Comm group);
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  Status Share(std::string* bytes) override;

 private:
  MPI_Comm group_;
  int rank_ = 0, size_ = 1;
};

}  // namespace perflaw::worker
