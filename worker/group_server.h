// The protocol logic of one worker group (`perflaw-worker serve`), apart from MPI: what the group's
// ranks do with the orchestrator's orders (docs/scheduler.md, "Messages"). Plain C++: messages go
// through a ControlLink (the leader's link to rank 0), orders reach the group's other ranks through
// a GroupChannel, training is an injected PointRunner and time an injected clock, so it is tested
// without mpirun or LibTorch (tests/worker/group_server_test.cc, fakes in
// tests/worker/group_fakes.h). The MPI implementations of the two interfaces are worker/mpi_link.h;
// worker/serve.cc wires them to the trainer.
//
// The leader (rank 0 of the group) runs two threads: a control thread that owns all traffic with
// rank 0 (it takes every order that arrives, keeps the orders sent ahead in a queue, turns a
// stop_point for the running attempt or a SIGTERM into the runner's stop flag, drops a queued order
// that a stop_point takes back, sends Ready / Heartbeat / EpochMetrics / replies, and heart-beats
// while an attempt runs, through long steps and evaluations), and the caller's thread, which takes
// the queued orders in turn, passes each to the rest of the group and runs it. The other ranks
// follow the leader's broadcast orders.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "apen/status.h"
#include "worker/point_config.h"
#include "worker/protocol/messages.h"
#include "worker/result.h"
#include "worker/trainer.h"  // LiveProgress (declarations only: no LibTorch)

namespace perflaw::worker {

// The leader's link to the orchestrator: one encoded message (protocol::EncodeMessage) per call.
// Used from the control thread only.
class ControlLink {
 public:
  virtual ~ControlLink() = default;
  // Starts sending `bytes` to the orchestrator and returns without waiting for it to take them.
  virtual Status Send(std::string bytes) = 0;
  // The next message from the orchestrator if one has arrived, nullopt if none; never waits.
  virtual StatusOr<std::optional<std::string>> Receive() = 0;
  // The serving ends: delivers what was sent, waiting at most `limit_seconds`; the rest is
  // abandoned. Not called after the link failed.
  virtual Status Flush(double limit_seconds) = 0;
};

// The group's ranks, for the leader's orders. Every rank of the group calls Share once per order,
// in step (a collective); a group of one never calls it.
class GroupChannel {
 public:
  virtual ~GroupChannel() = default;
  virtual int rank() const = 0;  // 0: the leader
  virtual int size() const = 0;  // ranks in the group
  // The leader's `*bytes` replace `*bytes` on every other rank.
  virtual Status Share(std::string* bytes) = 0;
};

// One attempt as the runner sees it.
struct AttemptContext {
  const protocol::RunPoint* order = nullptr;  // point, attempt, checkpoint_dir
  const PointConfig* config = nullptr;        // order->config, parsed
  // Raised to checkpoint and stop at the next step boundary: a stop_point for this attempt or a
  // SIGTERM on the leader; the terminate flag on the other ranks (the trainer agrees on stopping).
  const std::atomic<bool>* stop = nullptr;
  LiveProgress* live = nullptr;  // what the heartbeats report; the runner updates it
  // The leader's: sends one finished epoch to the orchestrator (EpochMetrics). Empty on the others.
  std::function<void(const EpochRecord&)> on_epoch;
};

// Trains and evaluates one point on this rank (every rank of the group runs it, in step). Should
// not throw; an exception becomes a failed result.
using PointRunner = std::function<PointResult(const AttemptContext&)>;

struct GroupServerOptions {
  // Raised by SIGTERM (job preemption): the running point checkpoints and is reported as preempted,
  // and later orders are refused until the orchestrator says shutdown. nullptr: never.
  const std::atomic<bool>* terminate = nullptr;
  // Seconds between heartbeats when a RunPoint asks for none (heartbeat_interval <= 0).
  double default_heartbeat_interval = 10.0;
  // After SIGTERM, seconds the leader waits before refusing an order (no busy loop of refusals).
  double refusal_delay = 1.0;
  // At the end, seconds the last sends (the last reply) may take before they are abandoned.
  double final_send_limit = 10.0;

  bool IsValid(std::string* why) const;
};

enum class ServeEnd {
  kNotRun,       // Run has not finished (the initial value)
  kShutdown,     // the orchestrator said shutdown
  kLinkFailed,   // the link to the orchestrator failed, or it sent an undecodable message
  kGroupFailed,  // passing an order inside the group failed, or the order did not decode
};
const char* ServeEndName(ServeEnd end);

struct GroupServerSummary {
  ServeEnd end = ServeEnd::kNotRun;
  std::string message = "not run";
  int attempts = 0;    // RunPoints run on this rank
  int refused = 0;     // RunPoints refused after SIGTERM
  int dropped = 0;     // leader: orders sent ahead and taken back before they started
  int heartbeats = 0;  // leader: heartbeats sent
};

// The reply to one finished attempt: PointDone, or PointFailed with the reason and retryable flag
// of docs/scheduler.md (stopped: preempted; NaN/Inf: diverged, not retryable; storage; a user error
// in the input: failed, not retryable; any other error: failed, retryable).
protocol::FromGroup ReplyTo(const protocol::RunPoint& run, const PointResult& result);

// Seconds on std::chrono::steady_clock; the clock a GroupServer uses unless given another.
double SteadySeconds();

class GroupServer {
 public:
  // `channel` and (on the leader, channel->rank() == 0) `link` must outlive the server; the other
  // ranks pass link = nullptr. `now`: monotonic seconds (heartbeat times).
  GroupServer(GroupServerOptions options, GroupChannel* channel, ControlLink* link,
              PointRunner runner, std::function<double()> now = SteadySeconds);

  // Serves until the orchestrator's Shutdown or a failure (GroupServerSummary::end). Invalid
  // options or wiring (no channel or runner, a leader without a link): InvalidArgument, and nothing
  // is sent. Run once.
  StatusOr<GroupServerSummary> Run();

 private:
  class Control;
  StatusOr<protocol::ToGroup> NextOrder(Control* control, GroupServerSummary* summary);
  void Attempt(const protocol::RunPoint& run, Control* control, GroupServerSummary* summary);
  PointResult RunOne(const AttemptContext& context);

  GroupServerOptions options_;
  GroupChannel* channel_;
  ControlLink* link_;
  PointRunner runner_;
  std::function<double()> now_;
  bool ran_ = false;
};

}  // namespace perflaw::worker
