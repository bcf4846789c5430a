// Fakes for the scheduler tests: a clock that moves only when told, and a Transport that simulates
// worker groups as a discrete-event system on that clock. Every message crosses the fake as bytes
// (EncodeMessage / Decode*), so the wire form is exercised too.
//
// A simulated group says Ready at time 0, and on RunPoint "trains" for config["seconds"] (times its
// slowdown), sending a Heartbeat every `heartbeat_every` seconds, then PointDone (or PointFailed
// when config["fail"] names a reason, or its own fail_points says so) followed by Ready. Like the
// real worker it runs one point at a time: a RunPoint that arrives while it is busy (sent ahead)
// starts when the current point ends, and a StopPoint for it before then drops it and answers
// PointFailed (preempted).
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "orchestrator/schedule/clock.h"
#include "orchestrator/schedule/transport.h"

namespace perflaw::orchestrator::testing {

class FakeClock final : public Clock {
 public:
  double Now() const override { return now_; }
  // Moves to t; never backwards.
  void Set(double t) { now_ = std::max(now_, t); }

 private:
  double now_ = 0;
};

struct FakeGroup {
  bool never_ready = false;   // never sends its first Ready
  double silent_after = -1;   // >= 0: sends nothing once an attempt has run this long (hangs)
  bool ignore_stop = false;   // does not react to StopPoint
  double slowdown = 1.0;      // multiplies every point's duration
  double lost_at = -1;        // >= 0: the transport reports it lost at this time
  bool refuse_sends = false;  // Send to it fails (an unreachable rank)
  std::map<std::string, int> fail_points;  // point -> how many more times to fail it here
};

class FakeWorld final : public Transport {
 public:
  // `max_polls`: Poll fails past this many calls (a scheduler that spins is caught, not hung).
  FakeWorld(FakeClock* clock, int groups, double heartbeat_every = 1.0,
            uint64_t max_polls = 1000000)
      : clock_(clock), groups_(groups), heartbeat_every_(heartbeat_every), max_polls_(max_polls) {}

  FakeGroup& group(int g) { return groups_.at(g); }

  // Runs `action` (e.g. Scheduler::RequestStop) when the clock reaches t.
  void At(double t, std::function<void()> action) { Push(t, -1, "", std::move(action)); }
  // Delivers `message` from group g at time t (late or duplicate replies).
  void Inject(double t, int g, const FromGroup& message) { PushMessage(t, g, "", message); }
  // Poll fails with an error once the clock reaches t.
  void FailPollAt(double t) { fail_poll_at_ = t; }

  // Everything the scheduler sent, in order.
  struct Sent {
    double time;
    int group;
    ToGroup message;
  };
  const std::vector<Sent>& sent() const { return sent_; }

  // The RunPoints, in order, as "point#attempt@group".
  std::vector<std::string> Dispatches() const {
    std::vector<std::string> out;
    for (const Sent& s : sent_) {
      if (const auto* run = std::get_if<RunPoint>(&s.message)) {
        out.push_back(run->point + "#" + std::to_string(run->attempt) + "@" +
                      std::to_string(s.group));
      }
    }
    return out;
  }
  int CountSent(int g, size_t variant_index) const {
    int n = 0;
    for (const Sent& s : sent_) n += s.group == g && s.message.index() == variant_index;
    return n;
  }

  // When group g starts (or started) attempt `attempt` of `point`; empty if it was never sent.
  std::optional<double> AttemptStart(int g, const std::string& point, uint32_t attempt) const {
    const auto it = starts_.find(Tag(g, point, attempt));
    if (it == starts_.end()) return std::nullopt;
    return it->second;
  }

  int GroupCount() const override { return static_cast<int>(groups_.size()); }

  Status Send(int g, const ToGroup& message) override {
    StartOnce();
    auto decoded = DecodeToGroup(EncodeMessage(message));
    if (!decoded.ok()) return decoded.status();
    if (groups_.at(g).refuse_sends) return Status::IoError("fake: group unreachable");
    if (lost_.count(g)) return Status::IoError("fake: group " + std::to_string(g) + " is dead");
    sent_.push_back({clock_->Now(), g, *decoded});
    std::visit([&](const auto& m) { React(g, m); }, *decoded);
    return Status::Ok();
  }

  StatusOr<std::optional<Incoming>> Poll(double timeout) override {
    StartOnce();
    if (++polls_ > max_polls_) {
      return Status::Internal("fake: more than " + std::to_string(max_polls_) + " polls");
    }
    if (timeout < 0) return Status::Internal("fake: negative poll timeout");
    const double until = clock_->Now() + timeout;
    if (fail_poll_at_ >= 0 && until >= fail_poll_at_) {
      clock_->Set(fail_poll_at_);
      return Status::IoError("fake: transport broke");
    }
    if (events_.empty() || events_.begin()->first.first > until) {
      clock_->Set(until);
      return std::optional<Incoming>();
    }
    Event event = std::move(events_.begin()->second);
    events_.erase(events_.begin());
    clock_->Set(event.time);
    if (event.action) {
      event.action();
      return std::optional<Incoming>();
    }
    auto decoded = DecodeFromGroup(event.bytes);
    if (!decoded.ok()) return decoded.status();
    if (std::holds_alternative<GroupLost>(*decoded)) MarkLost(event.group);
    return std::optional<Incoming>(Incoming{event.group, *decoded});
  }

 private:
  struct Event {
    double time = 0;
    int group = -1;
    std::string tag;    // "g:point#attempt" of the attempt it belongs to ("" = none)
    std::string bytes;  // an encoded FromGroup message, or empty for an action
    std::function<void()> action;
  };

  void StartOnce() {
    if (started_) return;
    started_ = true;
    for (int g = 0; g < GroupCount(); ++g) {
      if (!groups_[g].never_ready) PushMessage(0, g, "", Ready{});
      if (groups_[g].lost_at >= 0) {
        PushMessage(groups_[g].lost_at, g, "", GroupLost{"fake: ranks of group died"});
      }
    }
  }

  void Push(double t, int g, std::string tag, std::function<void()> action,
            std::string bytes = "") {
    events_.emplace(std::make_pair(t, seq_++),
                    Event{t, g, std::move(tag), std::move(bytes), std::move(action)});
  }
  void PushMessage(double t, int g, std::string tag, const FromGroup& m) {
    Push(t, g, std::move(tag), nullptr, EncodeMessage(m));
  }

  static std::string Tag(int g, const std::string& point, uint32_t attempt) {
    return std::to_string(g) + ":" + point + "#" + std::to_string(attempt);
  }

  void Cancel(const std::function<bool(const Event&)>& match) {
    for (auto it = events_.begin(); it != events_.end();) {
      it = match(it->second) ? events_.erase(it) : std::next(it);
    }
  }

  void MarkLost(int g) {
    lost_.insert(g);
    Cancel([g](const Event& e) { return e.group == g; });
  }

  // The simulated worker: a RunPoint schedules its heartbeats and its ending, from when the group
  // is free (a hung group never is again).
  void React(int g, const RunPoint& m) {
    const FakeGroup& fg = groups_[g];
    const double start = std::max(clock_->Now(), free_at_[g]);
    const std::string tag = Tag(g, m.point, m.attempt);
    starts_[tag] = start;
    if (std::isinf(start)) return;
    const double seconds = m.config.value("seconds", 1.0) * fg.slowdown;
    const double end = start + seconds;
    const double silent_from = fg.silent_after >= 0 ? start + fg.silent_after : end + 1;
    free_at_[g] = end < silent_from ? end : std::numeric_limits<double>::infinity();
    uint64_t step = 0;
    for (double t = start + heartbeat_every_; t < end && t < silent_from; t += heartbeat_every_) {
      PushMessage(t, g, tag, Heartbeat{m.point, m.attempt, ++step, 0});
    }
    if (end >= silent_from) return;
    PushMessage(end, g, tag, EpochMetrics{m.point, m.attempt, 1, {{"train_loss", 0.5}}});
    PushMessage(end, g, tag, Ending(g, m));
    PushMessage(end, g, tag, Ready{});
  }

  FromGroup Ending(int g, const RunPoint& m) {
    auto& fails = groups_[g].fail_points;
    if (fails.count(m.point) && fails[m.point] > 0) {
      fails[m.point]--;
      return PointFailed{m.point, m.attempt, FailureReason::kFailed, "fake: fails on this group",
                         true};
    }
    if (m.config.contains("fail")) {
      const auto reason = FailureReasonFromName(m.config["fail"].get<std::string>());
      return PointFailed{m.point, m.attempt, reason.value_or(FailureReason::kFailed),
                         "fake: this point fails", m.config.value("retryable", true)};
    }
    return PointDone{
        m.point, m.attempt, {{"point", m.point}, {"attempt", m.attempt}, {"group", g}}};
  }

  void React(int g, const StopPoint& m) {
    if (groups_[g].ignore_stop) return;
    const std::string tag = Tag(g, m.point, m.attempt);
    const auto start = starts_.find(tag);
    if (start != starts_.end() && start->second > clock_->Now()) {  // sent ahead, not started
      Cancel([&](const Event& e) { return e.tag == tag; });
      free_at_[g] = start->second;
      PushMessage(clock_->Now(), g, "",
                  PointFailed{m.point, m.attempt, FailureReason::kPreempted,
                              "fake: taken back before it started", true});
      return;
    }
    bool running = false;
    for (const auto& [key, e] : events_) running |= e.tag == tag;
    if (!running) return;  // already finished (or hung): nothing answers
    Cancel([&](const Event& e) { return e.tag == tag; });
    const double t = clock_->Now() + 0.5;  // time to write the checkpoint
    free_at_[g] = t;
    PushMessage(t, g, "",
                PointFailed{m.point, m.attempt, FailureReason::kPreempted,
                            "fake: checkpointed and stopped", true});
    PushMessage(t, g, "", Ready{});
  }

  void React(int g, const Shutdown&) {
    Cancel([g](const Event& e) { return e.group == g && !e.tag.empty(); });
  }

  FakeClock* clock_;
  std::vector<FakeGroup> groups_;
  double heartbeat_every_;
  uint64_t max_polls_;
  std::map<std::pair<double, uint64_t>, Event> events_;  // by (time, arrival order)
  uint64_t seq_ = 0;
  std::vector<Sent> sent_;
  std::set<int> lost_;
  std::map<int, double> free_at_;         // group -> when its last point ends
  std::map<std::string, double> starts_;  // tag -> when that attempt starts
  bool started_ = false;
  double fail_poll_at_ = -1;
  uint64_t polls_ = 0;
};

}  // namespace perflaw::orchestrator::testing
