#include "orchestrator/run/adaptive.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <utility>

#include "orchestrator/cli/cli.h"
#include "orchestrator/store/sqlite_util.h"

namespace perflaw::orchestrator {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A group needs no more points: its optimum is identified (on every axis for all_axes).
bool Settled(const cli::GroupAdvice& g, const AdaptivePolicy& policy) {
  if (!g.fit_error.empty() || !g.verdict.identified) return false;
  if (policy.stop_when != "all_axes") return true;
  for (const law::AxisVerdict& a : g.verdict.axes)
    if (!a.identified) return false;
  return !g.verdict.axes.empty();
}

json VerdictsJson(const std::vector<cli::GroupAdvice>& advice, const AdaptivePolicy& policy) {
  json out = json::array();
  for (const cli::GroupAdvice& g : advice) {
    json pinned = json::array();
    for (const law::AxisVerdict& a : g.verdict.axes)
      if (a.identified) pinned.push_back(a.axis);
    out.push_back({{"group", g.key.Label()},
                   {"identified", g.verdict.identified},
                   {"pinned", pinned},
                   {"settled", Settled(g, policy)},
                   {"verdict", g.fit_error.empty() ? g.verdict.summary : g.fit_error}});
  }
  return out;
}

// The sweep's name of the dataset the law calls `label` (the file's stem, or its path when two
// files share a stem; law_db.h), "" when the group spans every dataset.
StatusOr<std::string> DatasetName(const Sweep& sweep, const std::string& label) {
  if (label.empty()) return std::string();
  for (const DatasetSpec& d : sweep.datasets)
    if (fs::path(d.path).stem().string() == label || d.path == label) return d.name;
  return Status::NotFound("the law's group dataset \"" + label +
                          "\" is none of the sweep's datasets (the database holds other data)");
}

// Whether `p` (whose canonical configuration is `config`) is a point the include entry `e` makes:
// its dataset, and its settings' values.
bool Made(const GridPoint& p, const json& config, const ExtraPoint& e) {
  if (!e.dataset.empty() && p.dataset != e.dataset) return false;
  for (const auto& [key, value] : e.settings) {
    std::string pointer = "/" + key;
    std::replace(pointer.begin(), pointer.end(), '.', '/');
    const json::json_pointer at(pointer);
    if (!config.contains(at) || !config[at].is_number() || config[at].get<double>() != value)
      return false;
  }
  return true;
}

std::string Describe(const law::Suggestion& s) {
  std::ostringstream out;
  out << s.layers << "x" << s.d_model << " (" << s.rule << ")";
  return out.str();
}

}  // namespace

AdaptiveRounds::AdaptiveRounds(const Sweep& sweep, std::string db_path, std::string law_group_by,
                               ResultsDb* db, int64_t sweep_id)
    : sweep_(sweep),
      db_path_(std::move(db_path)),
      group_by_(std::move(law_group_by)),
      db_(db),
      sweep_id_(sweep_id) {
  summary_.enabled = sweep.policy.adaptive.enabled();
  summary_.end = summary_.enabled ? "" : "off (no policy.adaptive)";
}

Status AdaptiveRounds::Load() {
  StatusOr<std::vector<RoundRecord>> rounds = db_->Rounds(sweep_id_);
  if (!rounds.ok()) return rounds.status();
  for (const RoundRecord& r : *rounds) {
    last_round_ = r.round;
    if (r.final) {
      summary_.ended = true;
      summary_.end = r.decision;
    } else {
      ++summary_.rounds;
      summary_.points_added += static_cast<int64_t>(r.points.size());
    }
  }
  return Status::Ok();
}

StatusOr<std::set<std::string>> AdaptiveRounds::SweepPoints() const {
  StatusOr<Statement> st =
      Statement::Prepare(db_->connection(), "SELECT point FROM sweep_points WHERE sweep = ?");
  if (!st.ok()) return st.status();
  PERFLAW_RETURN_IF_ERROR(st->BindAll(sweep_id_));
  std::set<std::string> ids;
  PERFLAW_RETURN_IF_ERROR(st->ForEachRow([&](Statement& row) { ids.insert(row.Text(0)); }));
  return ids;
}

Status AdaptiveRounds::Finish(RoundRecord* round, const std::string& why, std::string* event) {
  round->final = true;
  round->decision = why;
  PERFLAW_RETURN_IF_ERROR(db_->RecordRound(*round, {}));
  last_round_ = round->round;
  summary_.ended = true;
  summary_.end = why;
  *event = "adaptive rounds end (" + round->metric + ", " + round->form + " form, after " +
           std::to_string(summary_.rounds) + " round(s), " + std::to_string(summary_.points_added) +
           " point(s) added): " + why;
  return Status::Ok();
}

StatusOr<std::vector<PendingPoint>> AdaptiveRounds::Next(std::string* event) {
  event->clear();
  const AdaptivePolicy& policy = sweep_.policy.adaptive;
  if (!policy.enabled() || summary_.ended) return std::vector<PendingPoint>{};
  RoundRecord round;
  round.sweep = sweep_id_;
  round.round = last_round_ + 1;
  round.metric = policy.metric;
  round.form = policy.form;

  law::SuggestOptions suggest;
  // Twice the round's points: some may be in the sweep already (e.g. FAILED), or excluded.
  suggest.budget = static_cast<int>(2 * policy.points_per_round);
  law::VerdictOptions verdict;
  verdict.max_interval_ratio = policy.max_interval_ratio;
  StatusOr<std::vector<cli::GroupAdvice>> advice =
      cli::AdviseFromDb(db_path_, policy.form, policy.metric, group_by_, suggest, verdict);
  if (!advice.ok()) {
    PERFLAW_RETURN_IF_ERROR(
        Finish(&round, "the law could not be fitted: " + advice.status().message(), event));
    return std::vector<PendingPoint>{};
  }
  round.verdicts = VerdictsJson(*advice, policy);
  std::vector<const cli::GroupAdvice*> open;
  for (const cli::GroupAdvice& g : *advice)
    if (!Settled(g, policy)) open.push_back(&g);
  const std::string settled_words =
      policy.stop_when == "all_axes" ? "identified on both axes" : "identified";
  if (open.empty()) {
    PERFLAW_RETURN_IF_ERROR(Finish(&round, "every group is " + settled_words, event));
    return std::vector<PendingPoint>{};
  }
  const std::string unsettled = std::to_string(open.size()) + " of " +
                                std::to_string(advice->size()) + " group(s) not yet " +
                                settled_words;
  if (summary_.rounds >= static_cast<int64_t>(policy.rounds)) {
    PERFLAW_RETURN_IF_ERROR(
        Finish(&round, "the rounds are spent (" + std::to_string(policy.rounds) + "); " + unsettled,
               event));
    return std::vector<PendingPoint>{};
  }
  const uint64_t spent = static_cast<uint64_t>(summary_.points_added);
  if (spent >= policy.budget()) {
    PERFLAW_RETURN_IF_ERROR(Finish(
        &round, "the point budget is spent (" + std::to_string(policy.budget()) + "); " + unsettled,
        event));
    return std::vector<PendingPoint>{};
  }
  const uint64_t want = std::min<uint64_t>(policy.points_per_round, policy.budget() - spent);

  // The candidates in round-robin order over the open groups, each group's best first; the sweep
  // is expanded once with all of them.
  struct Candidate {
    const cli::GroupAdvice* group;
    const law::Suggestion* suggestion;
    ExtraPoint extra;
  };
  std::vector<Candidate> candidates;
  std::vector<ExtraPoint> extras;
  for (size_t rank = 0, added = 1; added > 0; ++rank) {
    added = 0;
    for (const cli::GroupAdvice* g : open) {
      if (rank >= g->suggestions.points.size()) continue;
      const law::Suggestion& s = g->suggestions.points[rank];
      StatusOr<std::string> dataset = DatasetName(sweep_, g->key.dataset);
      if (!dataset.ok()) return dataset.status();
      Candidate c{g, &s, {*dataset, {{"model.layers", s.layers}, {"model.d_model", s.d_model}}}};
      if (!g->key.max_seq_len.empty())
        c.extra.settings["data.max_seq_len"] = std::stod(g->key.max_seq_len);
      extras.push_back(c.extra);
      candidates.push_back(std::move(c));
      ++added;
    }
  }
  StatusOr<std::vector<GridPoint>> made = ExpandExtraPoints(sweep_, extras);
  if (!made.ok()) return made.status();
  StatusOr<std::set<std::string>> known = SweepPoints();
  if (!known.ok()) return known.status();
  std::vector<NewPoint> points;
  std::vector<PendingPoint> pending;
  std::string added_words;
  std::vector<json> canonical;  // of *made, once: every candidate looks at every made point
  for (const GridPoint& p : *made) canonical.push_back(CanonicalJson(p.config));
  for (const Candidate& c : candidates) {
    for (size_t i = 0; i < made->size(); ++i) {
      const GridPoint& p = (*made)[i];
      if (points.size() >= want) break;
      if (!Made(p, canonical[i], c.extra) || !known->insert(p.id).second) continue;
      const law::Suggestion& s = *c.suggestion;
      round.points.push_back({p.id, c.group->key.Label(), s.layers, s.d_model, s.rule, s.reason});
      PendingPoint run;
      run.id = p.id;
      run.config = canonical[i];
      points.push_back({p.id, run.config.dump(), p.cost});
      run.cost = p.cost;
      run.checkpoint_dir = (fs::path(sweep_.work_dir) / "checkpoints" / p.id).string();
      pending.push_back(std::move(run));
      added_words += (added_words.empty() ? "" : ", ") + Describe(s);
    }
  }
  if (points.empty()) {
    PERFLAW_RETURN_IF_ERROR(
        Finish(&round, "suggest has no new point for the open group(s); " + unsettled, event));
    return std::vector<PendingPoint>{};
  }
  round.decision = "added " + std::to_string(points.size()) + " point(s); " + unsettled;
  PERFLAW_RETURN_IF_ERROR(db_->RecordRound(round, points));
  last_round_ = round.round;
  ++summary_.rounds;
  summary_.points_added += static_cast<int64_t>(points.size());
  *event = "adaptive round " + std::to_string(summary_.rounds) + " of " +
           std::to_string(policy.rounds) + " (" + policy.metric + ", " + policy.form +
           " form): " + unsettled + "; training " + std::to_string(points.size()) +
           " new point(s), layers x d_model: " + added_words;
  return pending;
}

}  // namespace perflaw::orchestrator
