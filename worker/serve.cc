#include "worker/serve.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "worker/collective_mpi.h"
#include "worker/point_config.h"
#include "worker/protocol/messages.h"
#include "worker/protocol/mpi_protocol.h"
#include "worker/protocol/mpi_util.h"
#include "worker/result.h"
#include "worker/trainer.h"
#ifdef PERFLAW_WITH_NCCL
#include "worker/collective_nccl.h"
#endif

namespace perflaw::worker {
namespace {

namespace proto = protocol;
namespace msg = protocol;
using SteadyClock = std::chrono::steady_clock;

int Complain(const std::string& what) {
  std::cerr << "perflaw-worker serve: error: " << what << std::endl;
  return 1;
}

// RAII for a communicator this file creates.
struct Comm {
  MPI_Comm comm = MPI_COMM_NULL;
  Comm() = default;
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;
  ~Comm() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (comm != MPI_COMM_NULL && !finalized) MPI_Comm_free(&comm);
  }
};

// The leader's link to rank 0. One thread does all control traffic, so the training thread never
// waits on the orchestrator and heartbeats continue during long steps and evaluations.
class LeaderLink {
 public:
  LeaderLink(MPI_Comm control, const std::atomic<bool>* terminate)
      : control_(control), terminate_(terminate) {}
  ~LeaderLink() { Stop(); }

  void Start() {
    thread_ = std::thread([this] { Loop(); });
  }
  // Sends what is queued, then ends the thread.
  void Stop() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      quit_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }

  void Post(const msg::FromGroup& message) {
    std::lock_guard<std::mutex> lock(mu_);
    outbox_.push_back(msg::EncodeMessage(message));
    wake_.notify_one();  // a reply goes out now, not after the control thread's nap
  }

  // The reply to an attempt, and Ready unless the orchestrator already sent the next order (it
  // dispatches ahead to busy groups): one message less on rank 0's path per point.
  void PostReply(const msg::FromGroup& reply) {
    std::lock_guard<std::mutex> lock(mu_);
    outbox_.push_back(msg::EncodeMessage(reply));
    if (orders_.empty()) outbox_.push_back(msg::EncodeMessage(msg::FromGroup(msg::Ready{})));
    wake_.notify_one();
  }

  // The next RunPoint or Shutdown from the orchestrator; nullopt if the link failed.
  std::optional<msg::ToGroup> WaitOrder() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return !orders_.empty() || failed_; });
    if (orders_.empty()) return std::nullopt;
    msg::ToGroup order = std::move(orders_.front());
    orders_.pop_front();
    // From here on a StopPoint for this attempt stops it, even before BeginAttempt.
    if (const auto* run = std::get_if<msg::RunPoint>(&order)) {
      point_ = run->point;
      attempt_ = run->attempt;
      stop_.store(false);
    }
    return order;
  }

  // While an attempt runs the thread sends heartbeats and maps StopPoint/SIGTERM onto `stop`.
  void BeginAttempt(const msg::RunPoint& run, const LiveProgress* live) {
    std::lock_guard<std::mutex> lock(mu_);
    busy_ = true;
    interval_ = run.heartbeat_interval > 0 ? run.heartbeat_interval : 10.0;
    live_ = live;
    // The first heartbeat after one interval: the attempt's deadline starts at dispatch on rank 0,
    // and an immediate one would only add a message per point to rank 0's hot path.
    next_beat_ = SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(
                                          std::chrono::duration<double>(interval_));
  }
  void EndAttempt() {
    std::lock_guard<std::mutex> lock(mu_);
    busy_ = false;
    live_ = nullptr;
  }
  const std::atomic<bool>* stop_flag() const { return &stop_; }
  std::string error() const {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }

 private:
  void Loop() {
    RunLoop();
    FinishSends(std::chrono::seconds(10));
  }

  void RunLoop() {
    proto::PollBackoff backoff;
    while (true) {
      bool quit = false;
      std::vector<std::string> out;
      {
        std::lock_guard<std::mutex> lock(mu_);
        quit = quit_;
        out.assign(outbox_.begin(), outbox_.end());
        outbox_.clear();
        if (terminate_ && terminate_->load() && busy_) stop_.store(true);
        if (busy_ && SteadyClock::now() >= next_beat_) {
          out.push_back(msg::EncodeMessage(
              msg::FromGroup(msg::Heartbeat{point_, attempt_, live_ ? live_->steps.load() : 0,
                                            live_ ? live_->epochs.load() : 0})));
          next_beat_ = SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(
                                                std::chrono::duration<double>(interval_));
        }
      }
      bool active = !out.empty();
      for (std::string& bytes : out) {
        if (!StartSend(std::move(bytes))) return;
      }
      if (!ReapSends()) return;
      if (quit) return;
      // Every order waiting, not one per nap: points sent ahead come in bursts.
      while (true) {
        int flag = 0;
        MPI_Status status;
        if (!Check(MPI_Iprobe(0, proto::kControlTag, control_, &flag, &status), "probe")) return;
        if (!flag) break;
        active = true;
        if (!Receive(status)) return;
      }
      if (active) backoff.Reset();
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait_for(lock, backoff.Next(), [this] { return !outbox_.empty() || quit_; });
    }
  }

  // Sends do not block: a blocking MPI_Send returns only when rank 0 has taken the message (Open
  // MPI's shared-memory transport returns the buffer then), and until then this thread took no
  // orders and spun in MPI progress (16% of a worker's CPU with 8 ranks on 2 cores).
  bool StartSend(std::string bytes) {
    if (bytes.size() > static_cast<size_t>(INT_MAX)) {
      std::lock_guard<std::mutex> lock(mu_);
      return Fail("control message too large");
    }
    return Check(sends_.Start(std::move(bytes), 0, proto::kControlTag, control_),
                 "send to the orchestrator");
  }
  bool ReapSends() { return Check(sends_.Reap(), "completing a send"); }
  // Before the thread ends, what it sent (the last reply) is delivered: rank 0 takes it within its
  // poll naps. Past `limit`, or after a link failure, the rest is abandoned (the job is ending).
  void FinishSends(std::chrono::seconds limit) {
    bool failed = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      failed = failed_;
    }
    if (!failed) (void)Check(sends_.Drain(limit), "completing a send");
    sends_.Abandon();
  }

  bool Receive(MPI_Status& status) {
    int count = 0;
    MPI_Get_count(&status, MPI_CHAR, &count);
    std::string bytes(static_cast<size_t>(std::max(count, 0)), '\0');
    if (!Check(MPI_Recv(bytes.data(), count, MPI_CHAR, 0, proto::kControlTag, control_,
                        MPI_STATUS_IGNORE),
               "receive"))
      return false;
    StatusOr<msg::ToGroup> order = msg::DecodeToGroup(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    if (!order.ok()) return Fail(order.status().message());
    if (const auto* stop = std::get_if<msg::StopPoint>(&*order)) {
      // A stop for an attempt already finished needs no action: the result is on its way (the flag
      // is cleared when the next order is taken).
      if (stop->point == point_ && stop->attempt == attempt_) stop_.store(true);
      if (DropOrder(*stop)) {
        outbox_.push_back(msg::EncodeMessage(msg::FromGroup(
            msg::PointFailed{stop->point, stop->attempt, msg::FailureReason::kPreempted,
                             "taken back before it started", true})));
        // The reply before it skipped Ready for this order: a group that rank 0 holds
        // unresponsive (timed out) needs one to be used again.
        if (orders_.empty() && !busy_)
          outbox_.push_back(msg::EncodeMessage(msg::FromGroup(msg::Ready{})));
      }
      return true;
    }
    orders_.push_back(std::move(*order));
    cv_.notify_all();
    return true;
  }

  // A point sent ahead and taken back before it started is forgotten; true if there was one. The
  // orchestrator gives the point to another group only once it has this group's answer about it
  // (this drop, or the attempt's own reply if it had started). Requires mu_.
  bool DropOrder(const msg::StopPoint& stop) {
    const auto it = std::find_if(orders_.begin(), orders_.end(), [&](const msg::ToGroup& order) {
      const auto* run = std::get_if<msg::RunPoint>(&order);
      return run && run->point == stop.point && run->attempt == stop.attempt;
    });
    if (it == orders_.end()) return false;
    orders_.erase(it);
    return true;
  }

  bool Check(int code, const char* what) {
    if (code == MPI_SUCCESS) return true;
    std::lock_guard<std::mutex> lock(mu_);
    return Fail(std::string(what) + ": " + proto::MpiErrorText(code));
  }
  // Requires mu_. Wakes the training thread, which then leaves.
  bool Fail(const std::string& why) {
    failed_ = true;
    error_ = why;
    cv_.notify_all();
    return false;
  }

  MPI_Comm control_;
  const std::atomic<bool>* terminate_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;    // orders for the training thread
  std::condition_variable wake_;  // outgoing messages for the control thread
  std::deque<std::string> outbox_;
  proto::SendQueue sends_;  // control thread only
  std::deque<msg::ToGroup> orders_;
  bool quit_ = false, failed_ = false;
  std::string error_;
  bool busy_ = false;
  std::string point_;
  uint32_t attempt_ = 0;
  double interval_ = 10.0;
  const LiveProgress* live_ = nullptr;
  SteadyClock::time_point next_beat_;
  std::atomic<bool> stop_{false};
};

// Moves the leader's order to every rank of the group. Waiting ranks test a non-blocking broadcast
// with naps instead of spinning in a blocking one: idle ranks then leave the cores to training.
bool ShareOrder(MPI_Comm group, std::string* bytes) {
  auto wait = [](MPI_Request* request) {
    proto::PollBackoff backoff;
    while (true) {
      int done = 0;
      if (MPI_Test(request, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return false;
      if (done) return true;
      std::this_thread::sleep_for(backoff.Next());
    }
  };
  uint64_t size = bytes->size();
  MPI_Request request;
  if (MPI_Ibcast(&size, 1, MPI_UINT64_T, 0, group, &request) != MPI_SUCCESS || !wait(&request))
    return false;
  bytes->resize(size);
  if (MPI_Ibcast(bytes->data(), static_cast<int>(size), MPI_CHAR, 0, group, &request) !=
          MPI_SUCCESS ||
      !wait(&request))
    return false;
  return true;
}

// The reply to one finished attempt.
msg::FromGroup Reply(const msg::RunPoint& run, const PointResult& result) {
  switch (result.status) {
    case RunStatus::kOk:
      return msg::PointDone{run.point, run.attempt, PointResultToJson(result)};
    case RunStatus::kInterrupted:
      return msg::PointFailed{run.point, run.attempt, msg::FailureReason::kPreempted,
                              result.message, true};
    case RunStatus::kDiverged:
      // Training is seeded: the same attempt would diverge again.
      return msg::PointFailed{run.point, run.attempt, msg::FailureReason::kDiverged, result.message,
                              false};
    default:
      if (result.storage_error)  // the run stops; the point is not at fault
        return msg::PointFailed{run.point, run.attempt, msg::FailureReason::kStorage,
                                result.message, true};
      return msg::PointFailed{run.point, run.attempt, msg::FailureReason::kFailed, result.message,
                              !result.user_error};
  }
}

class GroupServer {
 public:
  GroupServer(const ServeOptions& options, MPI_Comm group, MPI_Comm control)
      : options_(options), group_(group), collective_(group) {
    if (collective_.rank() == 0) link_.emplace(control, options.terminate);
  }

  int Run() {
    if (link_) {
      link_->Start();
      link_->Post(msg::Ready{});
    }
    while (true) {
      StatusOr<msg::ToGroup> order = NextOrder();
      if (!order.ok()) return Complain(order.status().message());
      if (std::holds_alternative<msg::Shutdown>(*order)) break;
      if (const auto* run = std::get_if<msg::RunPoint>(&*order)) Attempt(*run);
    }
    if (link_) link_->Stop();
    return 0;
  }

 private:
  // The leader's next order, on every rank of the group (a group of one skips the broadcast).
  StatusOr<msg::ToGroup> NextOrder() {
    std::string bytes;
    if (link_) {
      std::optional<msg::ToGroup> order = link_->WaitOrder();
      if (!order) return Status::IoError("link to the orchestrator failed: " + link_->error());
      if (collective_.size() == 1) return *std::move(order);
      bytes = msg::EncodeMessage(*order);
    }
    if (!ShareOrder(group_, &bytes))
      return Status::IoError("broadcast inside the worker group failed");
    return msg::DecodeToGroup(bytes);
  }

  void Attempt(const msg::RunPoint& run) {
    // After SIGTERM no new work starts (in step on every rank: the flag is checked after the
    // broadcast, and the ranks of a job are signalled together; a rank that missed it would be
    // stopped through the trainer's agreement on stopping).
    if (options_.terminate && options_.terminate->load()) {
      if (link_) {
        std::this_thread::sleep_for(std::chrono::seconds(1));  // no busy loop of refusals
        link_->PostReply(msg::PointFailed{run.point, run.attempt, msg::FailureReason::kPreempted,
                                          "the worker is stopping (SIGTERM)", true});
      }
      return;
    }
    LiveProgress live;
    TrainOptions options;
    options.checkpoint_dir = run.checkpoint_dir;
    options.collective = &collective_;
    options.local_rank = LocalRank();
#ifdef PERFLAW_WITH_NCCL
    options.cuda_collective = [this](int device) { return nccl_.Get(device); };
#endif
    options.cache_dir = options_.cache_dir;
    options.live = &live;
    options.stop = link_ ? link_->stop_flag() : options_.terminate;
    if (link_) {
      options.on_epoch = [&](const EpochRecord& record) {
        link_->Post(
            msg::EpochMetrics{run.point, run.attempt, record.epoch, EpochRecordToJson(record)});
      };
      link_->BeginAttempt(run, &live);
    }
    const PointResult result = RunOne(run, options);
    if (link_) {
      link_->EndAttempt();
      link_->PostReply(Reply(run, result));
    }
  }

  static PointResult RunOne(const msg::RunPoint& run, const TrainOptions& options) {
    StatusOr<PointConfig> config = ParsePointConfig(run.config.dump(), "point " + run.point);
    if (!config.ok()) {
      PointResult failed;
      failed.status = RunStatus::kFailed;
      failed.message = config.status().message();
      failed.user_error = config.status().IsUserError();
      return failed;
    }
    return TrainPoint(*config, options);
  }

  const ServeOptions& options_;
  MPI_Comm group_;
  MpiCollective collective_;
#ifdef PERFLAW_WITH_NCCL
  NcclGroup nccl_{group_};  // GPU gradients of the group's points (made on the first CUDA point)
#endif
  std::optional<LeaderLink> link_;
};

}  // namespace

int Serve(const ServeOptions& options) {
  int rank = 0, size = 0, provided = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Query_thread(&provided);
  if (rank == 0) return Complain("world rank 0 is the orchestrator's (perflaw orchestrate)");
  if (provided < MPI_THREAD_MULTIPLE) return Complain("MPI does not provide MPI_THREAD_MULTIPLE");

  int handshake[proto::kHandshakeInts] = {0, 0};
  if (MPI_Bcast(handshake, proto::kHandshakeInts, MPI_INT, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
    return Complain("start-up handshake failed");
  if (handshake[0] != proto::kVersion) {
    Complain("protocol version " + std::to_string(handshake[0]) + " from the orchestrator, " +
             std::to_string(proto::kVersion) +
             " here: use perflaw and perflaw-worker of one build");
    return 2;
  }
  const int ranks_per_point = handshake[1];
  if (ranks_per_point <= 0) return 2;  // the orchestrator explains

  Comm group, control;
  if (MPI_Comm_split(MPI_COMM_WORLD, (rank - 1) / ranks_per_point, rank, &group.comm) !=
          MPI_SUCCESS ||
      MPI_Comm_dup(MPI_COMM_WORLD, &control.comm) != MPI_SUCCESS)
    return Complain("creating the worker group's communicators failed");
  MPI_Comm_set_errhandler(group.comm, MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(control.comm, MPI_ERRORS_RETURN);
  std::vector<char> host(proto::kHostNameBytes, '\0');
  int len = 0;
  MPI_Get_processor_name(host.data(), &len);
  if (MPI_Gather(host.data(), proto::kHostNameBytes, MPI_CHAR, nullptr, 0, MPI_CHAR, 0,
                 control.comm) != MPI_SUCCESS)
    return Complain("host name gather failed");

  GroupServer server(options, group.comm, control.comm);
  return server.Run();
}

}  // namespace perflaw::worker
