#include "orchestrator/schedule/mpi_transport.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "worker/protocol/mpi_util.h"

namespace perflaw::orchestrator {
namespace {

namespace proto = protocol;

Status MpiError(int code, const std::string& what) {
  return Status::Internal("MPI: " + what + ": " + proto::MpiErrorText(code));
}

}  // namespace

StatusOr<std::unique_ptr<MpiRuntime>> MpiRuntime::Init(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) return Status::FailedPrecondition("MPI is already initialised");
  // When ranks outnumber cores, mpirun tells every rank to call sched_yield whenever a probe finds
  // nothing new (mpi_yield_when_idle). Rank 0 never waits inside MPI (Poll probes and naps), so
  // each yield only sends it to the back of the run queue: with 8 busy worker ranks on 2 cores it
  // handled about one message per scheduling round (~2 ms) and the workers ran out of orders
  // (docs/benchmarks.md). Workers keep the setting: their collectives do wait inside MPI.
  setenv("OMPI_MCA_mpi_yield_when_idle", "0", /*overwrite=*/1);
  int provided = 0;
  const int rc = MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided);
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Init_thread");
  std::unique_ptr<MpiRuntime> runtime(new MpiRuntime());
  MPI_Comm_rank(MPI_COMM_WORLD, &runtime->rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &runtime->size_);
  return runtime;
}

MpiRuntime::~MpiRuntime() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

StatusOr<std::unique_ptr<MpiTransport>> MpiTransport::Create(int ranks_per_point) {
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (rank != 0) return Status::FailedPrecondition("the orchestrator must be world rank 0");
  const int workers = size - 1;
  const bool groupable = ranks_per_point > 0 && workers > 0 && workers % ranks_per_point == 0;
  // The handshake always happens, so that workers are told to exit when the grouping is bad.
  int handshake[proto::kHandshakeInts] = {proto::kVersion, groupable ? ranks_per_point : 0};
  int rc = MPI_Bcast(handshake, proto::kHandshakeInts, MPI_INT, 0, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) return MpiError(rc, "handshake broadcast");
  if (!groupable) {
    return Status::InvalidArgument(
        "the job has " + std::to_string(workers) + " worker rank(s), which cannot form groups of " +
        "resources.ranks_per_point = " + std::to_string(ranks_per_point) +
        " (start a positive multiple of it besides the orchestrator)");
  }
  std::unique_ptr<MpiTransport> t(new MpiTransport());
  t->ranks_per_point_ = ranks_per_point;
  t->groups_ = workers / ranks_per_point;
  rc = MPI_Comm_split(MPI_COMM_WORLD, MPI_UNDEFINED, 0, &t->no_group_);
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Comm_split");
  rc = MPI_Comm_dup(MPI_COMM_WORLD, &t->control_);
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Comm_dup");
  MPI_Comm_set_errhandler(t->control_, MPI_ERRORS_RETURN);

  std::vector<char> mine(proto::kHostNameBytes, '\0'), all(size_t(size) * proto::kHostNameBytes);
  int len = 0;
  MPI_Get_processor_name(mine.data(), &len);
  rc = MPI_Gather(mine.data(), proto::kHostNameBytes, MPI_CHAR, all.data(), proto::kHostNameBytes,
                  MPI_CHAR, 0, t->control_);
  if (rc != MPI_SUCCESS) return MpiError(rc, "host name gather");
  for (int r = 0; r < size; ++r) {
    const char* name = all.data() + size_t(r) * proto::kHostNameBytes;
    t->hosts_.emplace_back(name, strnlen(name, proto::kHostNameBytes));
  }
  return t;
}

MpiTransport::~MpiTransport() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  sends_.Abandon();  // sends still in flight (the job is ending)
  if (control_ != MPI_COMM_NULL) MPI_Comm_free(&control_);
  if (no_group_ != MPI_COMM_NULL) MPI_Comm_free(&no_group_);
}

std::vector<int> MpiTransport::GroupRanks(int group) const {
  std::vector<int> ranks;
  for (int i = 0; i < ranks_per_point_; ++i) ranks.push_back(1 + group * ranks_per_point_ + i);
  return ranks;
}

std::vector<std::string> MpiTransport::GroupHosts(int group) const {
  std::vector<std::string> hosts;
  for (int r : GroupRanks(group)) {
    if (r < static_cast<int>(hosts_.size())) hosts.push_back(hosts_[static_cast<size_t>(r)]);
  }
  return hosts;
}

Status MpiTransport::Send(int group, const ToGroup& message) {
  if (group < 0 || group >= groups_) {
    return Status::InvalidArgument("no worker group " + std::to_string(group));
  }
  PERFLAW_RETURN_IF_ERROR(ReapSends());
  std::string bytes = EncodeMessage(message);
  if (bytes.size() > static_cast<size_t>(INT_MAX))
    return Status::InvalidArgument("control message too large");
  const int leader = 1 + group * ranks_per_point_;
  const int rc = sends_.Start(std::move(bytes), leader, proto::kControlTag, control_);
  if (rc != MPI_SUCCESS) return MpiError(rc, "send to group " + std::to_string(group));
  return Status::Ok();
}

Status MpiTransport::ReapSends() {
  const int rc = sends_.Reap();
  return rc == MPI_SUCCESS ? Status::Ok() : MpiError(rc, "completing a send");
}

StatusOr<std::optional<Incoming>> MpiTransport::Poll(double timeout_seconds) {
  using Clock = std::chrono::steady_clock;
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(std::max(0.0, timeout_seconds)));
  proto::PollBackoff backoff;
  while (true) {
    PERFLAW_RETURN_IF_ERROR(ReapSends());
    int flag = 0;
    MPI_Status status;
    int rc = MPI_Iprobe(MPI_ANY_SOURCE, proto::kControlTag, control_, &flag, &status);
    if (rc != MPI_SUCCESS) return MpiError(rc, "probe");
    if (flag) {
      int count = 0;
      MPI_Get_count(&status, MPI_CHAR, &count);
      std::string bytes(static_cast<size_t>(std::max(count, 0)), '\0');
      rc = MPI_Recv(bytes.data(), count, MPI_CHAR, status.MPI_SOURCE, proto::kControlTag, control_,
                    MPI_STATUS_IGNORE);
      if (rc != MPI_SUCCESS) return MpiError(rc, "receive");
      const int source = status.MPI_SOURCE;
      if (source < 1 || (source - 1) % ranks_per_point_ != 0) {
        return Status::Internal("control message from rank " + std::to_string(source) +
                                ", which leads no worker group");
      }
      StatusOr<FromGroup> message = DecodeFromGroup(bytes);
      if (!message.ok()) {
        return Status::Internal("from rank " + std::to_string(source) + ": " +
                                message.status().message());
      }
      return std::optional<Incoming>(Incoming{(source - 1) / ranks_per_point_, *message});
    }
    const auto now = Clock::now();
    if (now >= deadline) return std::optional<Incoming>();
    std::this_thread::sleep_for(std::min<Clock::duration>(backoff.Next(), deadline - now));
  }
}

Status MpiTransport::Flush(double timeout_seconds) {
  const int rc = sends_.Drain(std::chrono::duration<double>(timeout_seconds));
  if (rc != MPI_SUCCESS) return MpiError(rc, "completing a send");
  if (sends_.empty()) return Status::Ok();
  return Status::Internal(std::to_string(sends_.size()) +
                          " control message(s) not delivered before the deadline");
}

}  // namespace perflaw::orchestrator
