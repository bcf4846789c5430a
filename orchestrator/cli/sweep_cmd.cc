// `perflaw sweep check SWEEP.yaml [--format table|json]`: validates a sweep and lists its points
// (id, axes, size and cost estimates) without writing anything but apen's dataset cache.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "law/forms.h"
#include "orchestrator/cli/cli.h"
#include "orchestrator/sweep/sweep.h"
#include "orchestrator/cli/table.h"

namespace perflaw::cli {
namespace {

using orchestrator::CanonicalJson;
using orchestrator::GridPoint;
using orchestrator::Sweep;

struct CheckArgs {
  std::string path;
  std::string format = "table";
};

std::string Sci(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3g", x);
  return buf;
}

// The law's groups (law.group_by) that a form in law.forms cannot identify: fewer points than its
// parameters plus one, or fewer distinct layers or d_model values than it needs. `perflaw fit`
// then falls back to the scaling baseline (performance) or stops (the other forms).
std::vector<std::string> LawWarnings(const Sweep& sweep) {
  std::vector<std::string> out;
  if (!sweep.law.enabled) return out;
  struct Group {
    size_t points = 0;
    std::set<double> layers, d_model;
  };
  std::map<std::string, Group> groups;
  for (const GridPoint& p : sweep.points) {
    std::string key;
    for (const std::string& axis : sweep.law.group_by) {
      auto it = p.axes.find(axis);
      key += (key.empty() ? "" : ", ") + axis + " " +
             (it != p.axes.end()  ? it->second
              : axis == "dataset" ? p.dataset
                                  : "?");
    }
    Group& g = groups[key];
    ++g.points;
    g.layers.insert(p.config.model.layers);
    g.d_model.insert(p.config.model.d_model);
  }
  for (const std::string& name : sweep.law.forms) {
    StatusOr<std::unique_ptr<law::Form>> form = law::MakeForm(name);
    if (!form.ok()) continue;
    for (const auto& [key, g] : groups) {
      std::vector<std::string> lacks;
      if (g.points <= (*form)->num_params())
        lacks.push_back(std::to_string(g.points) + " points (needs " +
                        std::to_string((*form)->num_params() + 1) + ")");
      if (static_cast<int>(g.layers.size()) < (*form)->min_distinct_layers())
        lacks.push_back(std::to_string(g.layers.size()) + " layers values (needs " +
                        std::to_string((*form)->min_distinct_layers()) + ")");
      if (static_cast<int>(g.d_model.size()) < (*form)->min_distinct_d_model())
        lacks.push_back(std::to_string(g.d_model.size()) + " d_model values (needs " +
                        std::to_string((*form)->min_distinct_d_model()) + ")");
      if (lacks.empty()) continue;
      std::string w = "law form " + name + " cannot be identified" +
                      (key.empty() ? std::string() : " for " + key) + ": ";
      for (size_t i = 0; i < lacks.size(); ++i) w += (i ? ", " : "") + lacks[i];
      w += name == "performance" ? "; perflaw fit will fit the scaling baseline instead"
                                 : "; perflaw fit will stop for this form";
      out.push_back(w);
    }
  }
  return out;
}

// The grid as aligned columns: short id, each axis (a point without it shows "-"), then its
// parameter count, tokens and cost.
std::string GridText(const Sweep& sweep) {
  const std::vector<std::string>& axes = sweep.axis_names;
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"id"});
  rows[0].insert(rows[0].end(), axes.begin(), axes.end());
  rows[0].insert(rows[0].end(), {"params(n-e)", "train_tokens", "cost"});
  for (const GridPoint& p : sweep.points) {
    std::vector<std::string> row = {p.id.substr(0, 12)};
    for (const std::string& a : axes) {
      auto it = p.axes.find(a);
      row.push_back(it == p.axes.end() ? "-" : it->second);
    }
    row.insert(row.end(), {Sci(p.non_embedding_params), Sci(p.tokens), Sci(p.cost)});
    rows.push_back(std::move(row));
  }
  return orchestrator::AlignedText(rows);
}

void PrintTable(const Sweep& sweep) {
  std::printf(
      "sweep %s: %zu point%s (grid %zu, include %zu, excluded %zu, duplicates dropped %zu)\n",
      sweep.name.c_str(), sweep.points.size(), sweep.points.size() == 1 ? "" : "s",
      sweep.grid_points, sweep.included_points, sweep.excluded_points, sweep.duplicate_points);
  std::printf("db: %s\nwork dir: %s\n", sweep.db_path.c_str(), sweep.work_dir.c_str());
  for (const auto& ds : sweep.datasets)
    std::printf("dataset %s: %s%s\n", ds.name.c_str(), ds.path.c_str(),
                ds.synthetic ? " (synthetic, written at run time)" : "");
  std::printf(
      "resources: ranks_per_point %u, workers %u; policy: max_attempts %u, point_timeout %g s, "
      "heartbeat %g s / timeout %g s, dispatch ahead %g s\n",
      sweep.resources.ranks_per_point, sweep.resources.workers, sweep.policy.max_attempts,
      sweep.policy.point_timeout, sweep.policy.heartbeat_interval, sweep.policy.heartbeat_timeout,
      sweep.policy.dispatch_ahead);
  const orchestrator::AdaptivePolicy& a = sweep.policy.adaptive;
  if (a.enabled())
    std::printf(
        "adaptive: after these points, up to %u round(s) of %u point(s) (at most %llu in all) "
        "until every group is %s (interval hi/lo <= %g), chosen by the %s verdict on %s\n",
        a.rounds, a.points_per_round, static_cast<unsigned long long>(a.budget()),
        a.stop_when == "all_axes" ? "identified on both axes" : "identified", a.max_interval_ratio,
        a.form.c_str(), a.metric.c_str());
  std::fputs(GridText(sweep).c_str(), stdout);
  std::printf(
      "params(n-e) = non-embedding parameters, train_tokens = training tokens over all epochs, "
      "cost = their product\n");
  for (const std::string& w : LawWarnings(sweep)) std::printf("warning: %s\n", w.c_str());
}

void PrintJson(const Sweep& sweep) {
  nlohmann::json points = nlohmann::json::array();
  for (const GridPoint& p : sweep.points)
    points.push_back({{"id", p.id},
                      {"dataset", p.dataset},
                      {"axes", p.axes},
                      {"non_embedding_params", p.non_embedding_params},
                      {"train_tokens", p.tokens},
                      {"cost", p.cost},
                      {"config", CanonicalJson(p.config)}});
  nlohmann::json out = {{"name", sweep.name},
                        {"db", sweep.db_path},
                        {"work_dir", sweep.work_dir},
                        {"grid_points", sweep.grid_points},
                        {"included_points", sweep.included_points},
                        {"excluded_points", sweep.excluded_points},
                        {"duplicate_points", sweep.duplicate_points},
                        {"law_warnings", LawWarnings(sweep)},
                        {"adaptive", nullptr},
                        {"points", points}};
  const orchestrator::AdaptivePolicy& a = sweep.policy.adaptive;
  if (a.enabled())
    out["adaptive"] = {{"rounds", a.rounds},
                       {"points_per_round", a.points_per_round},
                       {"budget_points", a.budget()},
                       {"stop_when", a.stop_when},
                       {"max_interval_ratio", a.max_interval_ratio},
                       {"metric", a.metric},
                       {"form", a.form}};
  std::cout << out.dump(2) << std::endl;
}

Status RunCheck(const CheckArgs& args) {
  if (args.format != "table" && args.format != "json")
    return Status::InvalidArgument("--format must be table or json, got \"" + args.format + "\"");
  StatusOr<Sweep> sweep = orchestrator::LoadSweep(args.path);
  if (!sweep.ok()) return sweep.status();
  if (args.format == "json")
    PrintJson(*sweep);
  else
    PrintTable(*sweep);
  return Status::Ok();
}

}  // namespace

void RegisterSweepCommands(CLI::App& app, Action* action) {
  CLI::App* sweep = app.add_subcommand("sweep", "Sweep files: validate and list the points");
  sweep->require_subcommand(1);
  auto args = std::make_shared<CheckArgs>();
  CLI::App* check = sweep->add_subcommand(
      "check", "Validate a sweep YAML and list its points (writes nothing but the dataset cache)");
  check->add_option("SWEEP", args->path, "sweep YAML file")->required();
  check->add_option("--format", args->format, "table (default) or json");
  check->callback([args, action] { *action = [args] { return RunCheck(*args); }; });
}

}  // namespace perflaw::cli
