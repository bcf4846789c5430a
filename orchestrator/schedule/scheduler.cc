#include "orchestrator/schedule/scheduler.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <deque>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <queue>
#include <set>
#include <sstream>
#include <unordered_set>
#include <utility>

#include "apen/text.h"

namespace perflaw::orchestrator {
namespace {

bool Finite(double x) { return std::isfinite(x); }

// "option must be <rule>, got <value>" or nothing.
bool Check(bool ok, const char* option, const char* rule, double value, std::string* why) {
  if (ok) return true;
  if (why)
    *why = std::string("scheduler option ") + option + " must be " + rule + ", got " +
           apen::ShortNum(value);
  return false;
}

}  // namespace

bool SchedulerOptions::IsValid(std::string* why) const {
  return Check(max_attempts >= 1, "max_attempts", ">= 1", max_attempts, why) &&
         Check(Finite(point_timeout) && point_timeout > 0, "point_timeout", "> 0 seconds",
               point_timeout, why) &&
         Check(Finite(heartbeat_interval) && heartbeat_interval > 0, "heartbeat_interval",
               "> 0 seconds", heartbeat_interval, why) &&
         Check(Finite(heartbeat_grace) && heartbeat_grace > 1, "heartbeat_grace",
               "> 1 (a multiple of heartbeat_interval)", heartbeat_grace, why) &&
         Check(Finite(ready_timeout) && ready_timeout > 0, "ready_timeout", "> 0 seconds",
               ready_timeout, why) &&
         Check(Finite(stop_grace) && stop_grace >= 0, "stop_grace", ">= 0 seconds", stop_grace,
               why) &&
         Check(Finite(max_poll_wait) && max_poll_wait > 0, "max_poll_wait", "> 0 seconds",
               max_poll_wait, why) &&
         Check(Finite(progress_interval) && progress_interval > 0, "progress_interval",
               "> 0 seconds", progress_interval, why) &&
         Check(Finite(dispatch_ahead) && dispatch_ahead >= 0, "dispatch_ahead",
               ">= 0 seconds (0: off)", dispatch_ahead, why) &&
         Check(max_sent_ahead >= 1, "max_sent_ahead", ">= 1", max_sent_ahead, why);
}

const char* GroupStateName(GroupState state) {
  switch (state) {
    case GroupState::kStarting:
      return "starting";
    case GroupState::kIdle:
      return "idle";
    case GroupState::kBusy:
      return "busy";
    case GroupState::kUnresponsive:
      return "unresponsive";
    case GroupState::kLost:
      return "lost";
  }
  return "unknown";
}

const char* RunEndName(RunEnd end) {
  switch (end) {
    case RunEnd::kNotRun:
      return "not run";
    case RunEnd::kCompleted:
      return "completed";
    case RunEnd::kAllGroupsLost:
      return "all groups lost";
    case RunEnd::kInterrupted:
      return "interrupted";
    case RunEnd::kTransportError:
      return "transport error";
  }
  return "unknown";
}

StatusOr<LptBounds> ComputeLptBounds(std::vector<double> durations, int groups) {
  if (groups < 1) return Status::InvalidArgument("LPT bounds: groups must be >= 1");
  for (double d : durations) {
    if (!Finite(d) || d < 0) {
      return Status::InvalidArgument("LPT bounds: durations must be finite and >= 0, got " +
                                     apen::ShortNum(d));
    }
  }
  LptBounds bounds;
  if (durations.empty()) return bounds;
  std::sort(durations.begin(), durations.end(), std::greater<double>());
  const double total = std::accumulate(durations.begin(), durations.end(), 0.0);
  bounds.lower_bound = std::max(durations.front(), total / groups);
  // Greedy LPT: the next-longest job goes to the machine that frees up first.
  std::priority_queue<double, std::vector<double>, std::greater<double>> loads;
  for (int g = 0; g < groups; ++g) loads.push(0.0);
  for (double d : durations) {
    const double least = loads.top();
    loads.pop();
    loads.push(least + d);
  }
  while (loads.size() > 1) loads.pop();
  bounds.lpt_makespan = loads.top();
  return bounds;
}

namespace {

Status ValidatePoints(const std::vector<PendingPoint>& points, uint32_t max_attempts) {
  std::unordered_set<std::string> seen;
  for (size_t i = 0; i < points.size(); ++i) {
    const PendingPoint& p = points[i];
    const std::string where = "point #" + std::to_string(i) + " ('" + p.id + "')";
    if (p.id.empty()) return Status::InvalidArgument("point #" + std::to_string(i) + ": empty id");
    if (!seen.insert(p.id).second) return Status::InvalidArgument(where + ": duplicate id");
    if (!Finite(p.cost) || p.cost < 0) {
      return Status::InvalidArgument(where + ": cost must be finite and >= 0, got " +
                                     apen::ShortNum(p.cost));
    }
    if (p.failures > p.attempts) {
      return Status::InvalidArgument(where + ": failures " + std::to_string(p.failures) +
                                     " exceed attempts " + std::to_string(p.attempts));
    }
    if (p.failures >= max_attempts) {
      return Status::InvalidArgument(where + ": already failed " + std::to_string(p.failures) +
                                     " times, max_attempts is " + std::to_string(max_attempts));
    }
  }
  return Status::Ok();
}

// The upper median (element n / 2 of the sorted values) of a growing multiset, in O(log n) per
// value: the lower half in a max-heap, the upper half (ceil(n / 2) values) in a min-heap.
class UpperMedian {
 public:
  void Add(double x) {
    if (high_.empty() || x >= high_.top()) {
      high_.push(x);
    } else {
      low_.push(x);
    }
    const size_t n = low_.size() + high_.size();
    while (high_.size() > n - n / 2) {
      low_.push(high_.top());
      high_.pop();
    }
    while (high_.size() < n - n / 2) {
      high_.push(low_.top());
      low_.pop();
    }
  }
  bool empty() const { return high_.empty(); }
  double Get() const { return high_.top(); }

 private:
  std::priority_queue<double> low_;
  std::priority_queue<double, std::vector<double>, std::greater<double>> high_;
};

constexpr double kNever = std::numeric_limits<double>::infinity();

}  // namespace

// One Run's state. Points and groups are indexed; the pending queue holds point indices ordered by
// cost (largest first), ties by input order, so dispatch is deterministic. Nothing done per message
// scans all points, and scans over all groups happen only when something changed or a deadline
// came: counts per phase and state are kept up to date, deadlines sit in an ordered set, and the
// dispatch passes run only after a change (or when a busy group becomes due for more points).
struct Scheduler::Impl {
  // kQueued: sent ahead to a busy group, which starts it when its current attempt ends.
  // kWithdrawing: sent ahead, then taken back; it waits for that group's answer about it before it
  // may go anywhere else (the group may have started it already: two groups must never run one
  // point at once).
  enum class PointPhase { kPending, kQueued, kWithdrawing, kRunning, kCompleted, kFailed };
  struct Point {
    PendingPoint in;
    PointPhase phase = PointPhase::kPending;
  };
  struct Sent {  // an attempt of a point, sent to a group
    int point;
    uint32_t attempt;
  };
  struct Group {
    GroupState state = GroupState::kStarting;
    int point = -1;  // index of the point it runs, when busy
    uint32_t attempt = 0;
    std::deque<Sent> ahead;  // points sent ahead (dispatch_ahead), in the order it will run them
    std::vector<Sent> withdrawing;  // taken back from it, awaiting its answer about them
    double started = 0, last_heard = 0;
    double answer_by = -1;  // a timed-out group counts as live until then, awaiting its Ready
    GroupSummary summary;
  };

  const SchedulerOptions& opt;
  Transport& transport;
  const Clock& clock;
  SchedulerListener& listener;
  const std::atomic<bool>& stop_requested;
  Refill refill;

  struct LptOrder {  // largest cost first, ties by input order
    const Impl* impl;
    bool operator()(int a, int b) const { return impl->Before(a, b); }
  };

  std::vector<Point> points;
  std::vector<Group> groups;
  std::set<int, LptOrder> queue{LptOrder{this}};  // pending point indices, LPT order
  SchedulerSummary summary;
  double start = 0, first_dispatch = -1, last_end = -1, next_progress = 0;
  bool stopping = false, progress_changed = true;
  double stop_deadline = 0;
  bool weigh_by_cost = false;
  UpperMedian rates;                 // seconds per unit of weight of this run's completed attempts
  std::array<int, 6> phase_count{};  // points per PointPhase
  std::array<int, 5> state_count{};  // groups per GroupState
  std::set<int> unresponsive;        // groups in kUnresponsive
  size_t withdrawing_count = 0;      // points withdrawing, over all groups
  size_t ahead_count = 0;            // points sent ahead, over all groups
  std::set<std::pair<double, int>> deadlines;  // (Deadline(g), g) where finite
  std::vector<double> deadline_of;             // per group: its entry in `deadlines`, or kNever
  bool dispatch_changed = true;  // something a dispatch pass depends on changed since the last
  double next_dispatch_ahead = kNever;  // NextDispatchAhead() as of the last dispatch pass

  Impl(const SchedulerOptions& o, Transport& t, const Clock& c, SchedulerListener& l,
       const std::atomic<bool>& stop, Refill r)
      : opt(o), transport(t), clock(c), listener(l), stop_requested(stop), refill(std::move(r)) {}

  // ---- set-up ----

  void Init(std::vector<PendingPoint> input) {
    start = clock.Now();
    next_progress = start;
    for (auto& p : input) points.push_back(Point{std::move(p), PointPhase::kPending});
    phase_count[Phase(PointPhase::kPending)] = static_cast<int>(points.size());
    groups.resize(transport.GroupCount());
    state_count[State(GroupState::kStarting)] = static_cast<int>(groups.size());
    deadline_of.assign(groups.size(), kNever);
    for (int g = 0; g < static_cast<int>(groups.size()); ++g) Touch(g);
    weigh_by_cost =
        std::any_of(points.begin(), points.end(), [](const Point& p) { return p.in.cost > 0; });
    for (int i = 0; i < static_cast<int>(points.size()); ++i) Enqueue(i);
    summary.points = static_cast<int>(points.size());
  }

  // Asks `refill` for more points once everything is done; true when it gave some.
  bool Refilled() {
    if (!refill || stopping || LiveGroups() == 0) return false;
    listener.OnQuiet();
    std::vector<PendingPoint> more = refill();
    if (more.empty()) return false;
    std::unordered_set<std::string> known;
    for (const Point& p : points) known.insert(p.in.id);
    Status valid = ValidatePoints(more, opt.max_attempts);
    for (const PendingPoint& p : more)
      if (valid.ok() && known.count(p.id))
        valid = Status::InvalidArgument("refilled point '" + p.id + "' is already in the run");
    if (!valid.ok()) {
      summary.refill_error = valid.message();
      return false;
    }
    // The cost weights of dispatch-ahead timing stay as they were decided (by cost or by count).
    for (auto& p : more) {
      points.push_back(Point{std::move(p), PointPhase::kPending});
      phase_count[Phase(PointPhase::kPending)]++;
      Enqueue(static_cast<int>(points.size()) - 1);
    }
    summary.points = static_cast<int>(points.size());
    ++summary.refills;
    Changed();
    return true;
  }

  // Weights of the per-point time rate that times dispatch ahead: the cost, or 1 per point when
  // no point has a cost.
  double Weight(const Point& p) const { return weigh_by_cost ? p.in.cost : 1.0; }

  bool Before(int a, int b) const {
    if (points[a].in.cost != points[b].in.cost) return points[a].in.cost > points[b].in.cost;
    return a < b;
  }

  void Enqueue(int p) {
    SetPhase(p, PointPhase::kPending);
    queue.insert(p);
    Changed();
  }

  static size_t Phase(PointPhase phase) { return static_cast<size_t>(phase); }
  static size_t State(GroupState state) { return static_cast<size_t>(state); }

  void SetPhase(int p, PointPhase phase) {
    Point& point = points[p];
    phase_count[Phase(point.phase)]--;
    phase_count[Phase(phase)]++;
    point.phase = phase;
  }

  int Count(PointPhase phase) const { return phase_count[Phase(phase)]; }

  // A change that progress reports and the dispatch passes must see.
  void Changed() {
    progress_changed = true;
    dispatch_changed = true;
  }

  // ---- groups ----

  static bool Live(GroupState s) {
    return s == GroupState::kStarting || s == GroupState::kIdle || s == GroupState::kBusy;
  }
  // Groups that may still run points, including timed-out ones still due to answer StopPoint.
  int LiveGroups() const {
    const double now = clock.Now();
    int live = state_count[State(GroupState::kStarting)] + state_count[State(GroupState::kIdle)] +
               state_count[State(GroupState::kBusy)];
    for (int g : unresponsive) live += now < groups[g].answer_by;
    return live;
  }

  // Changes other than idle <-> busy (those are the attempt events) go to the listener.
  void SetGroupState(int g, GroupState state, const std::string& why) {
    const GroupState old = groups[g].state;
    groups[g].state = state;
    state_count[State(old)]--;
    state_count[State(state)]++;
    if (state == GroupState::kUnresponsive) {
      unresponsive.insert(g);
    } else {
      unresponsive.erase(g);
    }
    Touch(g);
    if (!MayStillAnswer(g)) ReleaseWithdrawing(g);
    const bool routine = (old == GroupState::kBusy && state == GroupState::kIdle) ||
                         (old == GroupState::kIdle && state == GroupState::kBusy);
    if (old != state && !routine) listener.OnGroupStateChanged(g, state, why);
    Changed();
  }

  bool Avoids(const Point& p, int g) const {
    return std::find(p.in.avoid_groups.begin(), p.in.avoid_groups.end(), g) !=
           p.in.avoid_groups.end();
  }

  // A point goes to a group it failed on only when no other live group could take it.
  bool Eligible(const Point& p, int g) const {
    if (!Avoids(p, g)) return true;
    for (int h = 0; h < static_cast<int>(groups.size()); ++h) {
      if (h != g && Live(groups[h].state) && !Avoids(p, h)) return false;
    }
    return true;
  }

  // ---- dispatch ----

  // The passes below depend only on the state, apart from a busy group becoming due for more points
  // as time passes; so they run after a change, or when the next group becomes due.
  void Dispatch() {
    if (!dispatch_changed && clock.Now() < next_dispatch_ahead) return;
    dispatch_changed = false;
    DispatchIdleGroups();
    DispatchAhead();
    next_dispatch_ahead = NextDispatchAhead();
  }

  void DispatchIdleGroups() {
    if (stopping || state_count[State(GroupState::kIdle)] == 0) return;
    for (int g = 0; g < static_cast<int>(groups.size()); ++g) {
      if (groups[g].state != GroupState::kIdle) continue;
      auto it = NextFor(g);
      if (it == queue.end() && TakeBackForIdle(g)) it = NextFor(g);
      if (it != queue.end()) StartAttempt(g, it);
    }
  }

  // Nothing queued for idle group g, but points may wait on busy groups (typically the last points
  // of a sweep, behind an attempt running past its estimate): take back the costliest point that
  // waits last in some group's line and that g may run, so that it starts now.
  bool TakeBackForIdle(int g) {
    // One point on its way back per idle group is enough: each comes back after its group's answer
    // (a round trip), and idle groups ask again at every dispatch pass meanwhile.
    const size_t idle = state_count[State(GroupState::kIdle)];
    if (ahead_count == 0 || withdrawing_count >= idle) return false;
    int from = -1;
    for (int h = 0; h < static_cast<int>(groups.size()); ++h) {
      if (groups[h].ahead.empty() || !Eligible(points[groups[h].ahead.back().point], g)) continue;
      if (from < 0 || Before(groups[h].ahead.back().point, groups[from].ahead.back().point)) {
        from = h;
      }
    }
    if (from < 0) return false;
    TakeBackLast(from, true);
    return true;
  }

  using QueueIt = std::set<int, LptOrder>::iterator;

  // The first queued point group g may take, or queue.end().
  QueueIt NextFor(int g) {
    return std::find_if(queue.begin(), queue.end(), [&](int p) { return Eligible(points[p], g); });
  }

  // Sends the queued point to group g as its next attempt and takes it off the queue. If the send
  // fails the point never left: it stays queued, and the error says why.
  StatusOr<Sent> SendFromQueue(int g, QueueIt queued) {
    const int p = *queued;
    Point& point = points[p];
    const uint32_t attempt = point.in.attempts + 1;
    const Status sent =
        transport.Send(g, RunPoint{point.in.id, attempt, point.in.config, point.in.checkpoint_dir,
                                   opt.heartbeat_interval});
    if (!sent.ok()) return Status::IoError("sending RunPoint failed: " + sent.message());
    queue.erase(queued);
    point.in.attempts = attempt;
    Changed();
    return Sent{p, attempt};
  }

  void StartAttempt(int g, QueueIt queued) {
    const StatusOr<Sent> sent = SendFromQueue(g, queued);
    if (!sent.ok()) {  // the group is gone
      SetGroupState(g, GroupState::kLost, sent.status().message());
      return;
    }
    Begin(g, sent->point, sent->attempt);
  }

  // Group g now runs attempt `attempt` of point p.
  void Begin(int g, int p, uint32_t attempt) {
    const double now = clock.Now();
    Point& point = points[p];
    SetPhase(p, PointPhase::kRunning);
    Group& group = groups[g];
    group.point = p;
    group.attempt = attempt;
    group.started = group.last_heard = now;
    group.summary.attempts++;
    summary.attempts_started++;
    if (first_dispatch < 0) first_dispatch = now;
    SetGroupState(g, GroupState::kBusy, "");
    listener.OnAttemptStarted(point.in.id, attempt, g);
  }

  // ---- dispatch ahead ----

  double MedianRate() const { return rates.Get(); }

  // When group g's attempt should end, from the median rate of completed attempts; none before
  // the first completion.
  std::optional<double> ExpectedEnd(int g) const {
    if (rates.empty()) return std::nullopt;
    const Group& group = groups[g];
    return group.started + Weight(points[group.point]) * MedianRate();
  }

  // When group g should be through its attempt and the points already sent ahead to it.
  std::optional<double> ExpectedFree(int g) const {
    auto end = ExpectedEnd(g);
    if (!end) return end;
    for (const auto& a : groups[g].ahead) *end += Weight(points[a.point]) * MedianRate();
    return end;
  }

  // A busy group whose known work should be done within dispatch_ahead gets more, unless its
  // attempt runs more than dispatch_ahead past its estimate (the estimate is wrong for it).
  bool DueForMore(int g) const {
    const Group& group = groups[g];
    if (group.state != GroupState::kBusy || group.ahead.size() >= opt.max_sent_ahead) return false;
    const auto end = ExpectedEnd(g);
    const double now = clock.Now();
    return end && now - *end <= opt.dispatch_ahead && *ExpectedFree(g) - now <= opt.dispatch_ahead;
  }

  // In rounds of one point per due group, so that the largest points spread over the groups.
  void DispatchAhead() {
    if (stopping || opt.dispatch_ahead <= 0) return;
    for (bool sent = true; sent;) {
      sent = false;
      for (int g = 0; g < static_cast<int>(groups.size()); ++g) {
        if (!DueForMore(g)) continue;
        auto it = NextFor(g);
        if (it != queue.end()) sent |= SendAhead(g, it);
      }
    }
  }

  bool SendAhead(int g, QueueIt queued) {
    const StatusOr<Sent> sent = SendFromQueue(g, queued);
    if (!sent.ok()) {  // the group's current attempt is lost with it
      const std::string& msg = sent.status().message();
      Fail(g, FailureReason::kGroupLost, msg, true, GroupState::kLost, msg);
      return false;
    }
    SetPhase(sent->point, PointPhase::kQueued);
    groups[g].ahead.push_back(*sent);
    ahead_count++;
    summary.sent_ahead++;
    return true;
  }

  // The group answered for its current attempt, so it has started the first point sent ahead.
  void StartNext(int g) {
    Group& group = groups[g];
    if (group.ahead.empty()) return;
    const Sent next = group.ahead.front();
    group.ahead.pop_front();
    ahead_count--;
    Begin(g, next.point, next.attempt);
  }

  // The last point sent ahead to g is taken back. A group that may still be alive is told to stop
  // it and the point waits for the group's answer (dropped before it started, or the result of the
  // attempt if it had started); a lost group's point goes straight back to the queue.
  void TakeBackLast(int g, bool tell_group) {
    Group& group = groups[g];
    const Sent last = group.ahead.back();
    group.ahead.pop_back();
    ahead_count--;
    if (tell_group) {
      // Even if the stop cannot be sent the group may run the point: its answer (or its loss)
      // decides, as for a stop that arrives too late.
      (void)transport.Send(g, StopPoint{points[last.point].in.id, last.attempt});
      SetPhase(last.point, PointPhase::kWithdrawing);
      group.withdrawing.push_back(last);
      withdrawing_count++;
    } else {
      Requeue(last);
    }
    Changed();
  }

  // Back to the queue as if never sent: no attempt of it was recorded, so its number is reused.
  void Requeue(const Sent& sent) {
    points[sent.point].in.attempts = sent.attempt - 1;
    Enqueue(sent.point);
  }

  // A lost group, or an unresponsive one past the time it was given to answer (a timed-out group is
  // asked to stop and answers within stop_grace; a silent one is given none), will not answer about
  // the points withdrawn from it.
  bool MayStillAnswer(int g) const {
    const Group& group = groups[g];
    if (group.state == GroupState::kLost) return false;
    return group.state != GroupState::kUnresponsive || clock.Now() < group.answer_by;
  }

  // What group g was withdrawing goes back to the queue.
  void ReleaseWithdrawing(int g) {
    for (const Sent& sent : groups[g].withdrawing) Requeue(sent);
    withdrawing_count -= groups[g].withdrawing.size();
    groups[g].withdrawing.clear();
  }

  std::vector<Sent>::iterator FindWithdrawn(int g, const std::string& point, uint32_t attempt) {
    auto& list = groups[g].withdrawing;
    return std::find_if(list.begin(), list.end(), [&](const Sent& s) {
      return s.attempt == attempt && points[s.point].in.id == point;
    });
  }

  // The answer of group g about a point taken back from it, if (point, attempt) is one.
  std::optional<Sent> TakeWithdrawn(int g, const std::string& point, uint32_t attempt) {
    auto& list = groups[g].withdrawing;
    auto it = FindWithdrawn(g, point, attempt);
    if (it == list.end()) return std::nullopt;
    const Sent sent = *it;
    list.erase(it);
    withdrawing_count--;
    Changed();
    return sent;
  }

  // It had started before the stop reached it, and finished: the attempt is recorded after the
  // fact, with its result (its epoch metrics and heartbeats only kept the group alive).
  void CompleteWithdrawn(int g, const Sent& sent, const nlohmann::json& result) {
    Point& point = points[sent.point];
    SetPhase(sent.point, PointPhase::kCompleted);
    last_end = std::max(last_end, clock.Now());
    groups[g].summary.attempts++;
    groups[g].summary.completed++;
    summary.attempts_started++;
    summary.completed++;
    listener.OnAttemptStarted(point.in.id, sent.attempt, g);
    listener.OnPointCompleted(point.in.id, sent.attempt, result);
    Changed();
  }

  // All of them, last first, before anything else is said to the group.
  void TakeBackAhead(int g, bool tell_group) {
    while (!groups[g].ahead.empty()) TakeBackLast(g, tell_group);
  }

  // ---- attempt endings ----

  void EndAttempt(int g) {
    Group& group = groups[g];
    const double now = clock.Now();
    group.summary.busy_seconds += now - group.started;
    last_end = std::max(last_end, now);
  }

  void Complete(int g, const nlohmann::json& result) {
    EndAttempt(g);
    Group& group = groups[g];
    Point& point = points[group.point];
    const double weight = Weight(point);
    if (weight > 0) {
      const double rate = (clock.Now() - group.started) / weight;
      rates.Add(rate);
    }
    SetPhase(group.point, PointPhase::kCompleted);
    group.summary.completed++;
    summary.completed++;
    listener.OnPointCompleted(point.in.id, group.attempt, result);
    SetGroupState(g, GroupState::kIdle, "");
    StartNext(g);
  }

  // Ends the group's attempt without a result; `next` is what becomes of the group. A group that
  // answered (next == idle) goes on with the point sent ahead, unless it stopped its attempt on its
  // own (preempted: it is being stopped, e.g. by SIGTERM, and would refuse that one too); any other
  // loses it.
  void Fail(int g, FailureReason reason, const std::string& message, bool retryable,
            GroupState next, const std::string& why) {
    const bool keep_next = next == GroupState::kIdle && reason != FailureReason::kPreempted;
    if (!keep_next) TakeBackAhead(g, next != GroupState::kLost);
    EndAttempt(g);
    Group& group = groups[g];
    const int p = group.point;
    Point& point = points[p];
    summary.attempts_failed++;
    const bool counts = CountsAgainstPoint(reason);
    if (counts) {
      point.in.failures++;
      if (!Avoids(point, g)) point.in.avoid_groups.push_back(g);
    }
    const bool will_retry = !counts || (retryable && point.in.failures < opt.max_attempts);
    if (will_retry) {
      Enqueue(p);
    } else {
      SetPhase(p, PointPhase::kFailed);
      summary.failed++;
    }
    listener.OnAttemptFailed(point.in.id, group.attempt, reason, message, will_retry);
    SetGroupState(g, next, why);
    if (keep_next) StartNext(g);
  }

  // ---- deadlines ----

  double HeartbeatLimit() const { return opt.heartbeat_interval * opt.heartbeat_grace; }

  // The earliest time something must happen to group g without a message: its first Ready, its
  // attempt's timeout, heartbeat or stop deadline, or the end of its time to answer; kNever if
  // none.
  double Deadline(int g) const {
    const Group& group = groups[g];
    switch (group.state) {
      case GroupState::kStarting:
        return start + opt.ready_timeout;
      case GroupState::kBusy:
        return std::min({group.started + opt.point_timeout, group.last_heard + HeartbeatLimit(),
                         stopping ? stop_deadline : kNever});
      case GroupState::kUnresponsive:
        return group.answer_by > clock.Now() ? group.answer_by : kNever;
      default:
        return kNever;
    }
  }

  // Files group g's deadline anew; call after anything Deadline reads changed.
  void Touch(int g) {
    const double next = Deadline(g);
    if (next == deadline_of[g]) return;
    if (deadline_of[g] != kNever) deadlines.erase({deadline_of[g], g});
    if (next != kNever) deadlines.insert({next, g});
    deadline_of[g] = next;
  }

  // Only groups whose deadline came can have one to act on; they are handled in group order.
  void CheckDeadlines() {
    const double now = clock.Now();
    std::vector<int> due;
    for (auto it = deadlines.begin(); it != deadlines.end() && it->first <= now; ++it) {
      due.push_back(it->second);
    }
    std::sort(due.begin(), due.end());
    for (int g : due) {
      Group& group = groups[g];
      if (!group.withdrawing.empty() && !MayStillAnswer(g)) ReleaseWithdrawing(g);
      if (group.state == GroupState::kStarting && now >= start + opt.ready_timeout) {
        SetGroupState(g, GroupState::kUnresponsive,
                      "no Ready within ready_timeout " + apen::ShortNum(opt.ready_timeout) + " s");
      } else if (group.state == GroupState::kBusy && now >= group.started + opt.point_timeout) {
        TimeOut(g);
      } else if (group.state == GroupState::kBusy && now >= group.last_heard + HeartbeatLimit()) {
        const std::string msg = "no heartbeat for " + apen::ShortNum(now - group.last_heard) +
                                " s (limit " + apen::ShortNum(HeartbeatLimit()) + " s)";
        Fail(g, FailureReason::kHeartbeatLost, msg, true, GroupState::kUnresponsive, msg);
      } else if (group.state == GroupState::kBusy && stopping && now >= stop_deadline) {
        const std::string msg = "no answer to the stop request within stop_grace " +
                                apen::ShortNum(opt.stop_grace) + " s";
        Fail(g, FailureReason::kPreempted, msg, true, GroupState::kUnresponsive, msg);
      }
      Touch(g);  // an unresponsive group past its time to answer has no deadline left
    }
  }

  // The group may still be computing: ask it to checkpoint and stop, and use it again only once it
  // says Ready (a retry elsewhere may resume from that checkpoint). Until stop_grace has passed it
  // still counts as live, so that a run with one group does not end while it is answering.
  void TimeOut(int g) {
    TakeBackAhead(g, true);
    Group& group = groups[g];
    const Status sent = transport.Send(g, StopPoint{points[group.point].in.id, group.attempt});
    const std::string msg =
        "ran longer than point_timeout " + apen::ShortNum(opt.point_timeout) + " s";
    if (sent.ok()) group.answer_by = clock.Now() + opt.stop_grace;
    Fail(g, FailureReason::kTimeout, msg, true,
         sent.ok() ? GroupState::kUnresponsive : GroupState::kLost,
         sent.ok() ? msg : "sending StopPoint failed: " + sent.message());
  }

  double NextDeadline() const {
    const double group_deadline = deadlines.empty() ? kNever : deadlines.begin()->first;
    return std::min({next_progress, group_deadline, next_dispatch_ahead});
  }

  // When the next busy group becomes due for more points (+inf: none will before an event). Groups
  // due already got what they could in DispatchAhead; they wait for an event (a point ends, the
  // queue changes), not for a deadline.
  double NextDispatchAhead() const {
    double next = std::numeric_limits<double>::infinity();
    if (stopping || opt.dispatch_ahead <= 0 || queue.empty()) return next;
    const double now = clock.Now();
    for (int g = 0; g < static_cast<int>(groups.size()); ++g) {
      const Group& group = groups[g];
      if (group.state != GroupState::kBusy || group.ahead.size() >= opt.max_sent_ahead) continue;
      const auto free = ExpectedFree(g);
      if (free && *free - opt.dispatch_ahead > now)
        next = std::min(next, *free - opt.dispatch_ahead);
    }
    return next;
  }

  double PollTimeout() const {
    return std::clamp(NextDeadline() - clock.Now(), 0.0, opt.max_poll_wait);
  }

  // ---- stop request ----

  void BeginStop() {
    stopping = true;
    stop_deadline = clock.Now() + opt.stop_grace;
    next_dispatch_ahead = kNever;
    for (int g = 0; g < static_cast<int>(groups.size()); ++g) Touch(g);
    for (int g = 0; g < static_cast<int>(groups.size()); ++g) {
      const Group& group = groups[g];
      if (group.state != GroupState::kBusy) continue;
      TakeBackAhead(g, true);
      const Status sent = transport.Send(g, StopPoint{points[group.point].in.id, group.attempt});
      if (!sent.ok()) {
        const std::string msg = "sending StopPoint failed: " + sent.message();
        Fail(g, FailureReason::kGroupLost, msg, true, GroupState::kLost, msg);
      }
    }
  }

  // ---- messages ----

  bool IsCurrent(int g, const std::string& point, uint32_t attempt) const {
    const Group& group = groups[g];
    return group.state == GroupState::kBusy && group.attempt == attempt &&
           points[group.point].in.id == point;
  }

  void Handle(const Incoming& in) {
    const int g = in.group;
    if (g < 0 || g >= static_cast<int>(groups.size())) {
      summary.ignored_messages++;
      return;
    }
    std::visit([&](const auto& m) { On(g, m); }, in.message);
  }

  void On(int g, const Ready&) {
    const GroupState s = groups[g].state;
    // Ready from a busy group is the one it sent after its previous point, crossing our RunPoint.
    if (s == GroupState::kStarting || s == GroupState::kUnresponsive) {
      SetGroupState(g, GroupState::kIdle, "reported Ready");
    }
  }

  // A heartbeat or epoch of a point withdrawn from g that it had started: g is alive (it may look
  // busy with its next point, which has not started yet), though the attempt is not recorded.
  bool AliveWithWithdrawn(int g, const std::string& point, uint32_t attempt) {
    if (FindWithdrawn(g, point, attempt) == groups[g].withdrawing.end()) return false;
    MarkHeard(g);
    return true;
  }

  void MarkHeard(int g) {
    groups[g].last_heard = clock.Now();
    Touch(g);
  }

  // A heartbeat or epoch from g: true when it is about g's current attempt (g is heard from). One
  // of a point withdrawn from g only keeps g alive; any other is stale and ignored.
  bool HeardAboutCurrent(int g, const std::string& point, uint32_t attempt) {
    if (AliveWithWithdrawn(g, point, attempt)) return false;
    if (!IsCurrent(g, point, attempt)) {
      summary.ignored_messages++;
      return false;
    }
    MarkHeard(g);
    return true;
  }

  void On(int g, const Heartbeat& m) { HeardAboutCurrent(g, m.point, m.attempt); }

  void On(int g, const EpochMetrics& m) {
    if (HeardAboutCurrent(g, m.point, m.attempt)) {
      listener.OnEpochMetrics(m.point, m.attempt, m.epoch, m.metrics);
    }
  }

  void On(int g, const PointDone& m) {
    if (const auto withdrawn = TakeWithdrawn(g, m.point, m.attempt)) {
      return CompleteWithdrawn(g, *withdrawn, m.result);
    }
    if (!IsCurrent(g, m.point, m.attempt)) {
      summary.ignored_messages++;
      return;
    }
    Complete(g, m.result);
  }

  void On(int g, const PointFailed& m) {
    // Dropped before it started, or stopped: nothing counts against the point.
    if (const auto withdrawn = TakeWithdrawn(g, m.point, m.attempt)) return Requeue(*withdrawn);
    if (!IsCurrent(g, m.point, m.attempt)) {
      summary.ignored_messages++;
      return;
    }
    // The worker answered, so the group is alive and free.
    Fail(g, m.reason, m.message, m.retryable, GroupState::kIdle, "");
    if (m.reason == FailureReason::kStorage && summary.storage_error.empty()) {
      summary.storage_error = m.message;
      if (!stopping) BeginStop();
    }
  }

  void On(int g, const GroupLost& m) {
    if (groups[g].state == GroupState::kBusy) {
      Fail(g, FailureReason::kGroupLost, m.message, true, GroupState::kLost, m.message);
    } else if (groups[g].state != GroupState::kLost) {
      SetGroupState(g, GroupState::kLost, m.message);
    }
  }

  // ---- progress and the end ----

  void ReportProgress(bool force) {
    const double now = clock.Now();
    if (!force && !progress_changed && now < next_progress) return;
    Progress pr;
    pr.completed = Count(PointPhase::kCompleted);
    pr.running = Count(PointPhase::kRunning);
    pr.failed = Count(PointPhase::kFailed);
    pr.pending = Count(PointPhase::kPending) + Count(PointPhase::kQueued) +
                 Count(PointPhase::kWithdrawing);  // not started
    pr.live_groups = LiveGroups();
    pr.elapsed_seconds = now - start;  // the ETA is EtaListener's (orchestrator/schedule/eta.h)
    listener.OnProgress(pr);
    progress_changed = false;
    next_progress = now + opt.progress_interval;
  }

  // A group stopped on a timeout may still answer within stop_grace: the run waits for it, so that
  // it can be shut down like the others instead of being left for MPI_Abort as hung.
  bool AwaitingAnswers() const {
    const double now = clock.Now();
    return std::any_of(unresponsive.begin(), unresponsive.end(),
                       [&](int g) { return now < groups[g].answer_by; });
  }

  // Sets summary.end when the run is over.
  bool Finished() {
    // A point being withdrawn is pending: it waits for its group's answer, then for a group.
    const int pending = Count(PointPhase::kPending) + Count(PointPhase::kWithdrawing);
    const int running = Count(PointPhase::kRunning);
    if (stopping) {
      if (running > 0 || AwaitingAnswers()) return false;
      summary.end = pending == 0 ? RunEnd::kCompleted : RunEnd::kInterrupted;
      return true;
    }
    if (pending == 0 && running == 0) {
      if (AwaitingAnswers() || Refilled()) return false;
      summary.end = RunEnd::kCompleted;
      return true;
    }
    if (LiveGroups() == 0) {
      summary.end = RunEnd::kAllGroupsLost;
      return true;
    }
    return false;
  }

  void CloseRunningAsInterrupted(const std::string& why) {
    for (int g = 0; g < static_cast<int>(groups.size()); ++g) {
      if (groups[g].state == GroupState::kBusy) {
        Fail(g, FailureReason::kInterrupted, why, true, GroupState::kUnresponsive, why);
      }
    }
  }

  // Every group not known dead gets Shutdown, unresponsive ones too: if they are merely slow, this
  // lets their ranks exit and the job end. Errors no longer matter here.
  void ShutdownGroups() {
    for (int g = 0; g < static_cast<int>(groups.size()); ++g) {
      if (groups[g].state != GroupState::kLost) (void)transport.Send(g, Shutdown{});
    }
  }

  void Summarise() {
    const double now = clock.Now();
    summary.pending =
        Count(PointPhase::kPending) + Count(PointPhase::kQueued) + Count(PointPhase::kWithdrawing);
    summary.elapsed_seconds = now - start;
    summary.makespan_seconds = first_dispatch < 0 ? 0 : last_end - first_dispatch;
    for (const Group& group : groups) {
      summary.groups.push_back(group.summary);
      summary.groups.back().state = group.state;
    }
    std::ostringstream msg;
    msg << RunEndName(summary.end) << ": " << summary.completed << " completed, " << summary.failed
        << " failed, " << summary.pending << " pending of " << summary.points << " points";
    if (!summary.message.empty() && summary.end == RunEnd::kTransportError) {
      msg << " (" << summary.message << ")";
    }
    summary.message = msg.str();
  }

  SchedulerSummary Run(std::vector<PendingPoint> input) {
    Init(std::move(input));
    while (true) {
      if (stop_requested.load(std::memory_order_relaxed) && !stopping) BeginStop();
      CheckDeadlines();
      Dispatch();
      ReportProgress(false);
      if (Finished()) break;
      auto polled = transport.Poll(0.0);
      if (polled.ok() && !polled->has_value()) {
        listener.OnQuiet();
        polled = transport.Poll(PollTimeout());
      }
      if (!polled.ok()) {
        summary.end = RunEnd::kTransportError;
        summary.message = polled.status().message();
        CloseRunningAsInterrupted("transport failed: " + polled.status().message());
        break;
      }
      if (polled->has_value()) Handle(**polled);
    }
    ShutdownGroups();
    ReportProgress(true);
    listener.OnQuiet();
    Summarise();
    return summary;
  }
};

Scheduler::Scheduler(SchedulerOptions options, Transport* transport, const Clock* clock,
                     SchedulerListener* listener)
    : options_(std::move(options)), transport_(transport), clock_(clock), listener_(listener) {}

StatusOr<SchedulerSummary> Scheduler::Run(std::vector<PendingPoint> points, Refill refill) {
  if (ran_) return Status::FailedPrecondition("Scheduler::Run called twice");
  std::string why;
  if (!options_.IsValid(&why)) return Status::InvalidArgument(why);
  PERFLAW_RETURN_IF_ERROR(ValidatePoints(points, options_.max_attempts));
  if (transport_->GroupCount() < 1) return Status::InvalidArgument("no worker groups to run on");
  ran_ = true;
  Impl impl(options_, *transport_, *clock_, *listener_, stop_requested_, std::move(refill));
  return impl.Run(std::move(points));
}

}  // namespace perflaw::orchestrator
