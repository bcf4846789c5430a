// The progress line's ETA, kept up to date from a run's events.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "orchestrator/schedule/clock.h"
#include "orchestrator/schedule/eta.h"
#include "orchestrator/schedule/scheduler.h"

namespace perflaw::orchestrator {

// The progress line's ETA (orchestrator/schedule/eta.h, the estimate `perflaw status` and the run summary
// give too) kept up to date from the run's events: a DurationModel over this run's completed
// attempts, the waiting points by cost and the running ones with their epochs. Forwards every
// report to `inner` (the database listener), with Progress::eta_seconds and the running points'
// epochs filled in.
class EtaListener final : public SchedulerListener {
 public:
  // `inner` and `clock` must outlive it; `points` are the ones given to Scheduler::Run.
  EtaListener(SchedulerListener* inner, const Clock& clock,
              const std::vector<PendingPoint>& points);

  void OnAttemptStarted(const std::string& point, uint32_t attempt, int group) override;
  void OnEpochMetrics(const std::string& point, uint32_t attempt, uint32_t epoch,
                      const nlohmann::json& metrics) override;
  void OnPointCompleted(const std::string& point, uint32_t attempt,
                        const nlohmann::json& result) override;
  void OnAttemptFailed(const std::string& point, uint32_t attempt, FailureReason reason,
                       const std::string& message, bool will_retry) override;
  void OnGroupStateChanged(int group, GroupState state, const std::string& why) override;
  void OnProgress(const Progress& progress) override;
  void OnQuiet() override { inner_->OnQuiet(); }

  // Points added to the run after it started (Scheduler's Refill).
  void AddPoints(const std::vector<PendingPoint>& points);

  // Seconds until every point not done is done; empty while the model is not identified.
  std::optional<double> Eta(int groups) const;

 private:
  struct State {
    double cost = 0;
    double started = -1;  // clock time of the running attempt's start; -1 when not running
    bool done = false;
    size_t slot = 0;              // its place in cost order (sums_)
    uint32_t epochs_max = 0;      // train.epochs of its configuration
    uint32_t last_epoch = 0;      // the latest epoch the running attempt reported
    uint32_t epochs_attempt = 0;  // epochs the running attempt reported
  };
  // Sums over the points waiting to start, by cost order, so that an ETA costs O(log points +
  // running points) instead of a pass over every point (one comes after every change).
  class CostSums {
   public:
    void Reset(size_t n);
    void Add(size_t slot, double count, double cost);
    // (points, summed cost) in slots >= slot.
    std::pair<double, double> From(size_t slot) const;

   private:
    std::vector<std::pair<double, double>> tree_;  // Fenwick tree of (count, cost)
  };
  // Puts `s` where its flags say: waiting (in sums_), running (in running_), or done (nowhere).
  void Place(State& s, bool add);
  // The point's state; one never heard of is added with cost 0 (the cost order is rebuilt).
  State& Find(const std::string& id);
  // Sorts every point by cost and files the waiting ones in sums_ (construction, AddPoints).
  void Rebuild();

  SchedulerListener* inner_;
  const Clock& clock_;
  std::map<std::string, State> points_;
  std::vector<double> costs_;  // every point's cost, ascending: slot i holds costs_[i]
  CostSums sums_;
  std::set<State*> running_;
  DurationModel model_;  // over this run's completed attempts
};

}  // namespace perflaw::orchestrator
