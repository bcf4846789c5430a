#include "worker/group_server.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "worker/protocol/mpi_protocol.h"  // PollBackoff (no MPI types)

namespace perflaw::worker {
namespace msg = protocol;

namespace {

// "option must be <rule>, got <value>" or nothing.
bool Check(bool ok, const char* option, const char* rule, double value, std::string* why) {
  if (ok) return true;
  if (why) {
    std::ostringstream out;
    out << "group server option " << option << " must be " << rule << ", got " << value;
    *why = out.str();
  }
  return false;
}

PointResult Failed(std::string message, bool user_error) {
  PointResult failed;
  failed.status = RunStatus::kFailed;
  failed.message = std::move(message);
  failed.user_error = user_error;
  return failed;
}

}  // namespace

bool GroupServerOptions::IsValid(std::string* why) const {
  return Check(std::isfinite(default_heartbeat_interval) && default_heartbeat_interval > 0,
               "default_heartbeat_interval", "> 0 seconds", default_heartbeat_interval, why) &&
         Check(std::isfinite(refusal_delay) && refusal_delay >= 0, "refusal_delay", ">= 0 seconds",
               refusal_delay, why) &&
         Check(std::isfinite(final_send_limit) && final_send_limit >= 0, "final_send_limit",
               ">= 0 seconds", final_send_limit, why);
}

const char* ServeEndName(ServeEnd end) {
  switch (end) {
    case ServeEnd::kNotRun:
      return "not_run";
    case ServeEnd::kShutdown:
      return "shutdown";
    case ServeEnd::kLinkFailed:
      return "link_failed";
    case ServeEnd::kGroupFailed:
      return "group_failed";
  }
  return "unknown";
}

msg::FromGroup ReplyTo(const msg::RunPoint& run, const PointResult& result) {
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

double SteadySeconds() {
  using Seconds = std::chrono::duration<double>;
  return std::chrono::duration_cast<Seconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The leader's control thread and the queue of orders between it and the training thread. One
// thread does all control traffic, so the training thread never waits on the orchestrator and
// heartbeats continue during long steps and evaluations.
class GroupServer::Control {
 public:
  Control(ControlLink* link, const GroupServerOptions& options, std::function<double()> now)
      : link_(link), options_(options), now_(std::move(now)) {}
  Control(const Control&) = delete;
  Control& operator=(const Control&) = delete;
  ~Control() { Stop(); }

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
    interval_ =
        run.heartbeat_interval > 0 ? run.heartbeat_interval : options_.default_heartbeat_interval;
    live_ = live;
    // The first heartbeat after one interval: the attempt's deadline starts at dispatch on rank 0,
    // and an immediate one would only add a message per point to rank 0's hot path.
    next_beat_ = now_() + interval_;
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
  int heartbeats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return heartbeats_;
  }
  int dropped() const {
    std::lock_guard<std::mutex> lock(mu_);
    return dropped_;
  }

 private:
  void Loop() {
    RunLoop();
    // Before the thread ends, what it sent (the last reply) is delivered: rank 0 takes it within
    // its poll naps. Past the limit, or after a link failure, the rest is abandoned (the job is
    // ending).
    bool failed = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      failed = failed_;
    }
    if (!failed) (void)link_->Flush(options_.final_send_limit);
  }

  void RunLoop() {
    msg::PollBackoff backoff;
    while (true) {
      bool quit = false;
      std::vector<std::string> out;
      {
        std::lock_guard<std::mutex> lock(mu_);
        quit = quit_;
        out.assign(outbox_.begin(), outbox_.end());
        outbox_.clear();
        if (options_.terminate && options_.terminate->load() && busy_) stop_.store(true);
        if (busy_ && now_() >= next_beat_) {
          out.push_back(msg::EncodeMessage(
              msg::FromGroup(msg::Heartbeat{point_, attempt_, live_ ? live_->steps.load() : 0,
                                            live_ ? live_->epochs.load() : 0})));
          ++heartbeats_;
          next_beat_ = now_() + interval_;
        }
      }
      bool active = !out.empty();
      for (std::string& bytes : out) {
        if (!Check(link_->Send(std::move(bytes)))) return;
      }
      if (quit) return;
      // Every order waiting, not one per nap: points sent ahead come in bursts.
      while (true) {
        StatusOr<std::optional<std::string>> bytes = link_->Receive();
        if (!Check(bytes.status())) return;
        if (!*bytes) break;
        active = true;
        if (!Handle(**bytes)) return;
      }
      if (active) backoff.Reset();
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait_for(lock, backoff.Next(), [this] { return !outbox_.empty() || quit_; });
    }
  }

  // One message from the orchestrator; false if it ends the link.
  bool Handle(const std::string& bytes) {
    StatusOr<msg::ToGroup> order = msg::DecodeToGroup(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    if (!order.ok()) return Fail(order.status().message());
    if (const auto* stop = std::get_if<msg::StopPoint>(&*order)) {
      // A stop for an attempt already finished needs no action: the result is on its way (the flag
      // is cleared when the next order is taken).
      if (stop->point == point_ && stop->attempt == attempt_) stop_.store(true);
      if (DropOrder(*stop)) {
        ++dropped_;
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

  bool Check(const Status& status) {
    if (status.ok()) return true;
    std::lock_guard<std::mutex> lock(mu_);
    return Fail(status.message());
  }
  // Requires mu_. Wakes the training thread, which then leaves.
  bool Fail(const std::string& why) {
    failed_ = true;
    error_ = why;
    cv_.notify_all();
    return false;
  }

  ControlLink* link_;  // control thread only
  const GroupServerOptions& options_;
  std::function<double()> now_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;    // orders for the training thread
  std::condition_variable wake_;  // outgoing messages for the control thread
  std::deque<std::string> outbox_;
  std::deque<msg::ToGroup> orders_;
  bool quit_ = false, failed_ = false;
  std::string error_;
  bool busy_ = false;
  std::string point_;
  uint32_t attempt_ = 0;
  double interval_ = 0;
  const LiveProgress* live_ = nullptr;
  double next_beat_ = 0;
  int heartbeats_ = 0, dropped_ = 0;
  std::atomic<bool> stop_{false};
};

GroupServer::GroupServer(GroupServerOptions options, GroupChannel* channel, ControlLink* link,
                         PointRunner runner, std::function<double()> now)
    : options_(options),
      channel_(channel),
      link_(link),
      runner_(std::move(runner)),
      now_(std::move(now)) {}

StatusOr<GroupServerSummary> GroupServer::Run() {
  if (ran_) return Status::FailedPrecondition("GroupServer::Run called twice");
  std::string why;
  if (!options_.IsValid(&why)) return Status::InvalidArgument(why);
  if (!channel_ || !runner_ || !now_)
    return Status::InvalidArgument("a group server needs a channel, a point runner and a clock");
  const bool leader = channel_->rank() == 0;
  if (leader != (link_ != nullptr))
    return Status::InvalidArgument(
        "the group's leader (rank 0), and only it, needs a link to the orchestrator");
  ran_ = true;

  GroupServerSummary summary;
  std::optional<Control> control;
  if (leader) {
    control.emplace(link_, options_, now_);
    control->Start();
    control->Post(msg::Ready{});
  }
  while (true) {
    StatusOr<msg::ToGroup> order = NextOrder(control ? &*control : nullptr, &summary);
    if (!order.ok()) break;
    if (std::holds_alternative<msg::Shutdown>(*order)) {
      summary.end = ServeEnd::kShutdown;
      summary.message = "shutdown";
      break;
    }
    if (const auto* run = std::get_if<msg::RunPoint>(&*order))
      Attempt(*run, control ? &*control : nullptr, &summary);
  }
  if (control) {
    control->Stop();
    summary.heartbeats = control->heartbeats();
    summary.dropped = control->dropped();
  }
  return summary;
}

// The leader's next order, on every rank of the group (a group of one skips the broadcast). On a
// failure: the error, also recorded in `summary`.
StatusOr<msg::ToGroup> GroupServer::NextOrder(Control* control, GroupServerSummary* summary) {
  auto fail = [summary](ServeEnd end, std::string message) {
    summary->end = end;
    summary->message = message;
    return Status::IoError(std::move(message));
  };
  std::string bytes;
  if (control) {
    std::optional<msg::ToGroup> order = control->WaitOrder();
    if (!order)
      return fail(ServeEnd::kLinkFailed, "link to the orchestrator failed: " + control->error());
    if (channel_->size() == 1) return *std::move(order);
    bytes = msg::EncodeMessage(*order);
  }
  const Status shared = channel_->Share(&bytes);
  if (!shared.ok()) return fail(ServeEnd::kGroupFailed, shared.message());
  StatusOr<msg::ToGroup> order = msg::DecodeToGroup(bytes);
  if (!order.ok()) return fail(ServeEnd::kGroupFailed, order.status().message());
  return order;
}

void GroupServer::Attempt(const msg::RunPoint& run, Control* control, GroupServerSummary* summary) {
  // After SIGTERM no new work starts (in step on every rank: the flag is checked after the
  // broadcast, and the ranks of a job are signalled together; a rank that missed it would be
  // stopped through the trainer's agreement on stopping).
  if (options_.terminate && options_.terminate->load()) {
    ++summary->refused;
    if (control) {
      // No busy loop of refusals.
      std::this_thread::sleep_for(std::chrono::duration<double>(options_.refusal_delay));
      control->PostReply(msg::PointFailed{run.point, run.attempt, msg::FailureReason::kPreempted,
                                          "the worker is stopping (SIGTERM)", true});
    }
    return;
  }
  ++summary->attempts;
  LiveProgress live;
  AttemptContext context;
  context.order = &run;
  context.live = &live;
  context.stop = control ? control->stop_flag() : options_.terminate;
  if (control) {
    context.on_epoch = [&run, control](const EpochRecord& record) {
      control->Post(
          msg::EpochMetrics{run.point, run.attempt, record.epoch, EpochRecordToJson(record)});
    };
    control->BeginAttempt(run, &live);
  }
  const PointResult result = RunOne(context);
  if (control) {
    control->EndAttempt();
    control->PostReply(ReplyTo(run, result));
  }
}

PointResult GroupServer::RunOne(const AttemptContext& context) {
  const msg::RunPoint& run = *context.order;
  StatusOr<PointConfig> config = PointConfigFromJson(run.config, "point " + run.point);
  if (!config.ok()) return Failed(config.status().message(), config.status().IsUserError());
  AttemptContext with_config = context;
  with_config.config = &*config;
  try {
    return runner_(with_config);
  } catch (const std::exception& e) {
    return Failed(e.what(), false);
  } catch (...) {
    return Failed("unknown exception", false);
  }
}

}  // namespace perflaw::worker
