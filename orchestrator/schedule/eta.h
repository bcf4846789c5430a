// The one estimate of how long a sweep still needs. The progress line of `perflaw run` (fed live by
// EtaListener), the run summary of a stopped run and `perflaw status` (fed from the database) all
// compute it here, so they agree on the same facts.
//
// A point's duration is modelled as alpha + beta * cost, least squares over completed attempts
// (cost: the sweep's estimate, non-embedding parameters x training tokens). Time is not
// proportional to cost: the fixed part (start-up, evaluation) dominates small models. With one
// completed attempt, or costs that do not separate, the model is the mean duration.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <vector>

namespace perflaw::orchestrator {

class DurationModel {
 public:
  void Add(double cost, double seconds);
  // True once an attempt completed: before that no duration is known.
  bool Identified() const { return n_ > 0; }
  int64_t samples() const { return static_cast<int64_t>(n_); }
  double mean() const { return sy_ / n_; }  // of the durations; requires Identified()
  // alpha + beta * cost, never negative. Requires Identified().
  double Predict(double cost) const;
  // The fitted line: beta >= 0 (a falling trend is no trend; then alpha is the mean).
  double alpha() const;
  double beta() const;

 private:
  double n_ = 0, sx_ = 0, sy_ = 0, sxx_ = 0, sxy_ = 0;
};

// A point being trained now.
struct RunningWork {
  double cost = 0;
  double elapsed_seconds = 0;        // of this attempt
  uint32_t last_epoch = 0;           // the latest epoch it finished (a checkpoint's count too)
  uint32_t epochs_this_attempt = 0;  // epochs this attempt finished (its pace)
  uint32_t epochs_max = 0;           // train.epochs (an early stop may end it sooner); 0: unknown
};

// Seconds a running point still needs: the model's duration less what it has run, and never more
// than its remaining epochs at the pace this attempt has shown. Requires
// model.Identified().
double RemainingSeconds(const DurationModel& model, const RunningWork& running);

// The ETA from the summed predicted durations of the points waiting to start and the running
// ones: max(all that work spread over `groups`, the longest single remaining piece).
double CombineEta(double waiting_seconds, const std::vector<double>& running_remaining, int groups);

// Every input from scratch (perflaw status, the run summary): empty while nothing completed.
std::optional<double> EstimateEta(const DurationModel& model,
                                  const std::vector<double>& waiting_costs,
                                  const std::vector<RunningWork>& running, int groups);

// train.epochs of a point's configuration (JSON); 0 when it has none.
uint32_t EpochLimit(const nlohmann::json& config);

}  // namespace perflaw::orchestrator
