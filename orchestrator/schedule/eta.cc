#include "orchestrator/schedule/eta.h"

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>

namespace perflaw::orchestrator {

void DurationModel::Add(double cost, double seconds) {
  n_ += 1;
  sx_ += cost;
  sy_ += seconds;
  sxx_ += cost * cost;
  sxy_ += cost * seconds;
}

double DurationModel::beta() const {
  const double var = n_ * sxx_ - sx_ * sx_;
  // Costs that do not separate (one sample, or all equal up to rounding) give no slope.
  if (n_ < 2 || !(var > 1e-12 * sxx_ * n_)) return 0;
  return std::max(0.0, (n_ * sxy_ - sx_ * sy_) / var);
}

double DurationModel::alpha() const {
  if (n_ == 0) return 0;
  return (sy_ - beta() * sx_) / n_;
}

double DurationModel::Predict(double cost) const { return std::max(0.0, alpha() + beta() * cost); }

double RemainingSeconds(const DurationModel& model, const RunningWork& running) {
  double left = std::max(0.0, model.Predict(running.cost) - running.elapsed_seconds);
  if (running.epochs_this_attempt > 0 && running.epochs_max > 0) {
    const double pace = running.elapsed_seconds / running.epochs_this_attempt;
    const double epochs_left =
        running.epochs_max > running.last_epoch ? running.epochs_max - running.last_epoch : 0;
    left = std::min(left, pace * epochs_left);
  }
  return left;
}

double CombineEta(double waiting_seconds, const std::vector<double>& running_remaining,
                  int groups) {
  double work = waiting_seconds, longest = 0;
  for (double left : running_remaining) {
    work += left;
    longest = std::max(longest, left);
  }
  return std::max(work / std::max(1, groups), longest);
}

std::optional<double> EstimateEta(const DurationModel& model,
                                  const std::vector<double>& waiting_costs,
                                  const std::vector<RunningWork>& running, int groups) {
  if (waiting_costs.empty() && running.empty()) return 0.0;
  if (!model.Identified()) return std::nullopt;
  double waiting = 0;
  for (double cost : waiting_costs) waiting += model.Predict(cost);
  std::vector<double> left;
  for (const RunningWork& r : running) left.push_back(RemainingSeconds(model, r));
  return CombineEta(waiting, left, groups);
}

uint32_t EpochLimit(const nlohmann::json& config) {
  const nlohmann::json::json_pointer at("/train/epochs");
  if (!config.is_object() || !config.contains(at) || !config[at].is_number_integer()) return 0;
  const int64_t epochs = config[at].get<int64_t>();
  return epochs > 0 && epochs <= UINT32_MAX ? static_cast<uint32_t>(epochs) : 0;
}

}  // namespace perflaw::orchestrator
