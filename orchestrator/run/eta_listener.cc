#include "orchestrator/run/eta_listener.h"

#include <algorithm>

namespace perflaw::orchestrator {

void EtaListener::CostSums::Reset(size_t n) { tree_.assign(n + 1, {0.0, 0.0}); }

void EtaListener::CostSums::Add(size_t slot, double count, double cost) {
  for (size_t i = slot + 1; i < tree_.size(); i += i & (~i + 1)) {
    tree_[i].first += count;
    tree_[i].second += cost;
  }
}

std::pair<double, double> EtaListener::CostSums::From(size_t slot) const {
  std::pair<double, double> all{0, 0}, below{0, 0};
  for (size_t i = tree_.size() - 1; i > 0; i -= i & (~i + 1)) {
    all.first += tree_[i].first;
    all.second += tree_[i].second;
  }
  for (size_t i = slot; i > 0; i -= i & (~i + 1)) {
    below.first += tree_[i].first;
    below.second += tree_[i].second;
  }
  return {all.first - below.first, all.second - below.second};
}

EtaListener::EtaListener(SchedulerListener* inner, const Clock& clock,
                         const std::vector<PendingPoint>& points)
    : inner_(inner), clock_(clock) {
  AddPoints(points);
}

void EtaListener::Place(State& s, bool add) {
  const double sign = add ? 1.0 : -1.0;
  if (s.done) return;
  if (s.started >= 0) {
    if (add) {
      running_.insert(&s);
    } else {
      running_.erase(&s);
    }
  } else {
    sums_.Add(s.slot, sign, sign * s.cost);
  }
}

void EtaListener::Rebuild() {
  std::vector<State*> order;
  for (auto& [id, s] : points_) order.push_back(&s);
  std::stable_sort(order.begin(), order.end(),
                   [](const State* a, const State* b) { return a->cost < b->cost; });
  costs_.clear();
  sums_.Reset(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    order[i]->slot = i;
    costs_.push_back(order[i]->cost);
    if (!order[i]->done && order[i]->started < 0) sums_.Add(i, 1, order[i]->cost);
  }
}

void EtaListener::AddPoints(const std::vector<PendingPoint>& points) {
  for (const PendingPoint& p : points) {
    State& s = points_[p.id];
    running_.erase(&s);
    s = State{};
    s.cost = p.cost;
    s.epochs_max = EpochLimit(p.config);
  }
  Rebuild();
}

EtaListener::State& EtaListener::Find(const std::string& id) {
  auto it = points_.find(id);
  if (it != points_.end()) return it->second;
  State& s = points_[id];
  Rebuild();
  return s;
}

void EtaListener::OnAttemptStarted(const std::string& point, uint32_t attempt, int group) {
  State& s = Find(point);
  Place(s, false);
  s.started = clock_.Now();
  s.last_epoch = s.epochs_attempt = 0;
  Place(s, true);
  inner_->OnAttemptStarted(point, attempt, group);
}

void EtaListener::OnEpochMetrics(const std::string& point, uint32_t attempt, uint32_t epoch,
                                 const nlohmann::json& metrics) {
  State& s = Find(point);
  if (s.started >= 0) {
    s.last_epoch = std::max(s.last_epoch, epoch);
    ++s.epochs_attempt;
  }
  inner_->OnEpochMetrics(point, attempt, epoch, metrics);
}

void EtaListener::OnPointCompleted(const std::string& point, uint32_t attempt,
                                   const nlohmann::json& result) {
  State& s = Find(point);
  if (s.started >= 0) model_.Add(s.cost, clock_.Now() - s.started);
  Place(s, false);
  s.started = -1;
  s.done = true;
  inner_->OnPointCompleted(point, attempt, result);
}

void EtaListener::OnAttemptFailed(const std::string& point, uint32_t attempt, FailureReason reason,
                                  const std::string& message, bool will_retry) {
  State& s = Find(point);
  Place(s, false);
  s.started = -1;
  s.done = !will_retry;
  Place(s, true);
  inner_->OnAttemptFailed(point, attempt, reason, message, will_retry);
}

void EtaListener::OnGroupStateChanged(int group, GroupState state, const std::string& why) {
  inner_->OnGroupStateChanged(group, state, why);
}

void EtaListener::OnProgress(const Progress& progress) {
  Progress p = progress;
  p.running_epochs_done = p.running_epochs_max = 0;
  for (const State* s : running_) {
    p.running_epochs_done += std::min(s->last_epoch, s->epochs_max);
    p.running_epochs_max += s->epochs_max;
  }
  p.eta_seconds =
      p.running + p.pending == 0 ? std::optional<double>(0.0) : Eta(std::max(1, p.live_groups));
  inner_->OnProgress(p);
}

std::optional<double> EtaListener::Eta(int groups) const {
  if (!model_.Identified()) return std::nullopt;
  const double alpha = model_.alpha(), beta = model_.beta();
  // Waiting points: alpha + beta * cost where that is positive, a suffix of the cost order.
  double waiting = 0;
  if (beta > 0) {
    const size_t from = static_cast<size_t>(
        std::lower_bound(costs_.begin(), costs_.end(), -alpha / beta) - costs_.begin());
    const auto [count, cost] = sums_.From(from);
    waiting = std::max(0.0, alpha * count + beta * cost);
  } else {
    waiting = sums_.From(0).first * std::max(0.0, alpha);
  }
  const double now = clock_.Now();
  std::vector<double> left;
  for (const State* s : running_) {
    left.push_back(RemainingSeconds(
        model_, {s->cost, now - s->started, s->last_epoch, s->epochs_attempt, s->epochs_max}));
  }
  return CombineEta(waiting, left, groups);
}

}  // namespace perflaw::orchestrator
