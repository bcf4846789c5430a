// Adaptive rounds (the sweep's policy.adaptive): when every point of a run is done, fit the law,
// and for each group the verdict does not yet settle, add the points `perflaw suggest` proposes to
// the same sweep, round after round, until every group is settled or the rounds or the point
// budget are spent. Each round is recorded in the results database (rounds, round_points) before
// its points run, so an interrupted run resumes inside the round like any sweep. docs/sweep.md,
// "Adaptive rounds".
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "apen/status.h"
#include "orchestrator/store/results_db.h"
#include "orchestrator/schedule/scheduler.h"
#include "orchestrator/sweep/sweep.h"

namespace perflaw::orchestrator {

// What the rounds did in this run and before it; starts as "not run".
struct AdaptiveSummary {
  bool enabled = false;
  int64_t rounds = 0;           // rounds that added points (earlier runs included)
  int64_t points_added = 0;     // by those rounds
  bool ended = false;           // a final round was recorded
  std::string end = "not run";  // why the rounds ended ("" while they go on)
};

class AdaptiveRounds {
 public:
  // `sweep` and `db` must outlive it. `law_group_by` as RunPlan::law_group_by.
  AdaptiveRounds(const Sweep& sweep, std::string db_path, std::string law_group_by, ResultsDb* db,
                 int64_t sweep_id);

  // Reads the rounds recorded for the sweep (resume continues after the last one).
  Status Load();

  // The next round: fits the law, then either records a round that adds points and returns them
  // (to run now) or records why the rounds end and returns none. `event` gets one line for the
  // log. Database errors are returned; a law fit that fails ends the rounds (recorded, not an
  // error).
  StatusOr<std::vector<PendingPoint>> Next(std::string* event);

  const AdaptiveSummary& summary() const { return summary_; }

 private:
  // Records `round` as the final one, ended for `why`.
  Status Finish(RoundRecord* round, const std::string& why, std::string* event);
  // The ids of every point of the sweep (any state): a suggestion among them is not added again.
  StatusOr<std::set<std::string>> SweepPoints() const;

  const Sweep& sweep_;
  std::string db_path_, group_by_;
  ResultsDb* db_;
  int64_t sweep_id_;
  AdaptiveSummary summary_;
  int64_t last_round_ = 0;
};

}  // namespace perflaw::orchestrator
