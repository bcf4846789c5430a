// Fakes for the group server tests (group_server_test.cc): a clock that moves only when told, a
// control link whose messages cross as bytes (EncodeMessage / Decode*, so the wire form is
// exercised too), the ranks of a group passing orders in memory, and a point runner scripted per
// point. The server's threads are real: the tests wait for what it sends with a deadline in real
// time.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "worker/group_server.h"
#include "worker/protocol/messages.h"

namespace perflaw::worker::testing {

namespace msg = protocol;

// How long a test waits for the server to do something before it fails.
constexpr std::chrono::seconds kPatience{10};

// Seconds that move only when a test says so.
class FakeClock {
 public:
  std::function<double()> AsFunction() {
    return [this] { return now_.load(); };
  }
  void Advance(double seconds) { now_.store(now_.load() + seconds); }

 private:
  std::atomic<double> now_{1000.0};
};

// The leader's link: what the test delivers is received in order, what the server sends is kept.
class FakeLink final : public ControlLink {
 public:
  void Deliver(const msg::ToGroup& message) { DeliverBytes(msg::EncodeMessage(message)); }
  void DeliverBytes(std::string bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    inbox_.push_back(std::move(bytes));
    empty_polls_ = 0;
  }
  // Waits until the server has taken and handled everything delivered: a Receive found nothing
  // after the last delivery (the control thread handles each message before it receives again).
  bool WaitAllTaken() const {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, kPatience, [&] { return inbox_.empty() && empty_polls_ > 0; });
  }
  // From now on Receive (or Send) fails with `why`.
  void FailReceives(std::string why) {
    std::lock_guard<std::mutex> lock(mu_);
    receive_error_ = std::move(why);
  }
  void FailSends(std::string why) {
    std::lock_guard<std::mutex> lock(mu_);
    send_error_ = std::move(why);
  }

  Status Send(std::string bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (send_error_) return Status::IoError(*send_error_);
    StatusOr<msg::FromGroup> message = msg::DecodeFromGroup(bytes);
    if (!message.ok()) return Status::Internal("the server sent bytes that do not decode");
    sent_.push_back(std::move(*message));
    changed_.notify_all();
    return Status::Ok();
  }
  StatusOr<std::optional<std::string>> Receive() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (receive_error_) return Status::IoError(*receive_error_);
    if (inbox_.empty()) {
      ++empty_polls_;
      changed_.notify_all();
      return std::optional<std::string>();
    }
    std::string bytes = std::move(inbox_.front());
    inbox_.pop_front();
    return std::optional<std::string>(std::move(bytes));
  }
  Status Flush(double) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++flushes_;
    return Status::Ok();
  }

  // Everything sent so far.
  std::vector<msg::FromGroup> sent() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_;
  }
  int flushes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return flushes_;
  }
  // Waits until `done(sent())` or kPatience has passed; the final answer of `done`.
  bool WaitUntil(const std::function<bool(const std::vector<msg::FromGroup>&)>& done) const {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, kPatience, [&] { return done(sent_); });
  }
  // Waits until `count` messages of type T have been sent.
  template <typename T>
  bool WaitForCount(size_t count) const {
    return WaitUntil(
        [count](const std::vector<msg::FromGroup>& sent) { return Count<T>(sent) >= count; });
  }

  template <typename T>
  static size_t Count(const std::vector<msg::FromGroup>& sent) {
    size_t n = 0;
    for (const msg::FromGroup& m : sent) n += std::holds_alternative<T>(m) ? 1 : 0;
    return n;
  }
  template <typename T>
  size_t Count() const {
    return Count<T>(sent());
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  std::deque<std::string> inbox_;
  std::vector<msg::FromGroup> sent_;
  std::optional<std::string> receive_error_, send_error_;
  int flushes_ = 0;
  int empty_polls_ = 0;  // Receives that found nothing since the last delivery
};

// The ranks of one group: the leader's Share hands its bytes to every other rank's queue, the
// others wait for theirs.
class FakeGroupRanks {
 public:
  explicit FakeGroupRanks(int size) : queues_(static_cast<size_t>(size)) {
    for (int r = 0; r < size; ++r) channels_.push_back(std::make_unique<Channel>(this, r));
  }
  GroupChannel* channel(int rank) { return channels_.at(static_cast<size_t>(rank)).get(); }
  // Every Share fails from now on.
  void Fail() {
    std::lock_guard<std::mutex> lock(mu_);
    failed_ = true;
    cv_.notify_all();
  }
  int shares() const {
    std::lock_guard<std::mutex> lock(mu_);
    return shares_;
  }

 private:
  class Channel final : public GroupChannel {
   public:
    Channel(FakeGroupRanks* ranks, int rank) : ranks_(ranks), rank_(rank) {}
    int rank() const override { return rank_; }
    int size() const override { return static_cast<int>(ranks_->queues_.size()); }
    Status Share(std::string* bytes) override { return ranks_->Share(rank_, bytes); }

   private:
    FakeGroupRanks* ranks_;
    int rank_;
  };

  Status Share(int rank, std::string* bytes) {
    std::unique_lock<std::mutex> lock(mu_);
    ++shares_;
    if (rank == 0) {
      if (failed_) return Status::IoError("broadcast inside the worker group failed");
      for (size_t r = 1; r < queues_.size(); ++r) queues_[r].push_back(*bytes);
      cv_.notify_all();
      return Status::Ok();
    }
    auto& queue = queues_[static_cast<size_t>(rank)];
    cv_.wait(lock, [&] { return failed_ || !queue.empty(); });
    if (queue.empty()) return Status::IoError("broadcast inside the worker group failed");
    *bytes = std::move(queue.front());
    queue.pop_front();
    return Status::Ok();
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::deque<std::string>> queues_;
  std::vector<std::unique_ptr<Channel>> channels_;
  bool failed_ = false;
  int shares_ = 0;
};

// A point runner scripted per point id: an attempt returns its point's result (ok by default), or,
// for a blocked point, waits until the test releases it or the stop flag is raised (then it returns
// kInterrupted, as the trainer does after its checkpoint).
class FakeRunner {
 public:
  struct Call {
    std::string point;
    uint32_t attempt = 0;
    bool had_stop_flag = false;
    bool had_on_epoch = false;
  };

  void SetResult(const std::string& point, PointResult result) {
    std::lock_guard<std::mutex> lock(mu_);
    results_[point] = std::move(result);
  }
  void Block(const std::string& point) {
    std::lock_guard<std::mutex> lock(mu_);
    blocked_.insert(point);
  }
  void Release(const std::string& point) {
    std::lock_guard<std::mutex> lock(mu_);
    blocked_.erase(point);
    cv_.notify_all();
  }
  void ReleaseAll() {
    std::lock_guard<std::mutex> lock(mu_);
    blocked_.clear();
    cv_.notify_all();
  }
  // While a blocked point runs: its progress, for the heartbeats.
  void SetProgress(uint64_t steps, uint32_t epochs) {
    std::lock_guard<std::mutex> lock(mu_);
    steps_ = steps;
    epochs_ = epochs;
    cv_.notify_all();
  }
  // Each attempt reports these epochs (EpochMetrics) before it returns.
  void ReportEpochs(uint32_t epochs) {
    std::lock_guard<std::mutex> lock(mu_);
    report_epochs_ = epochs;
  }
  // Waits until an attempt of `point` has started.
  bool WaitStarted(const std::string& point) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kPatience, [&] {
      for (const Call& c : calls_)
        if (c.point == point) return true;
      return false;
    });
  }
  std::vector<Call> calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

  PointRunner AsRunner() {
    return [this](const AttemptContext& attempt) { return Run(attempt); };
  }

 private:
  PointResult Run(const AttemptContext& attempt) {
    std::unique_lock<std::mutex> lock(mu_);
    const std::string& point = attempt.order->point;
    calls_.push_back(
        Call{point, attempt.order->attempt, attempt.stop != nullptr, bool(attempt.on_epoch)});
    cv_.notify_all();
    auto stopped = [&] { return attempt.stop && attempt.stop->load(); };
    while (blocked_.count(point) && !stopped()) {
      attempt.live->steps.store(steps_);
      attempt.live->epochs.store(epochs_);
      cv_.wait_for(lock, std::chrono::milliseconds(1));
    }
    if (blocked_.count(point)) {
      PointResult interrupted;
      interrupted.status = RunStatus::kInterrupted;
      interrupted.message = "interrupted at step " + std::to_string(steps_);
      return interrupted;
    }
    const uint32_t epochs = report_epochs_;
    PointResult result;
    result.status = RunStatus::kOk;
    result.message = "ok";
    if (const auto it = results_.find(point); it != results_.end()) result = it->second;
    lock.unlock();
    for (uint32_t e = 1; e <= epochs && attempt.on_epoch; ++e) {
      EpochRecord record;
      record.epoch = e;
      record.steps = 10 * e;
      attempt.on_epoch(record);
    }
    return result;
  }

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::map<std::string, PointResult> results_;
  std::set<std::string> blocked_;
  std::vector<Call> calls_;
  uint64_t steps_ = 0;
  uint32_t epochs_ = 0;
  uint32_t report_epochs_ = 0;
};

// An order for point `point`: a valid minimal configuration.
inline msg::RunPoint Order(const std::string& point, uint32_t attempt = 1,
                           double heartbeat_interval = 10.0) {
  msg::RunPoint run;
  run.point = point;
  run.attempt = attempt;
  run.config = nlohmann::json{{"data", {{"path", "x.txt"}}}};
  run.checkpoint_dir = "/tmp/ckpt-" + point;
  run.heartbeat_interval = heartbeat_interval;
  return run;
}

}  // namespace perflaw::worker::testing
