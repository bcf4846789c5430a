// The `perflaw` command line: each module registers its subcommands; main() runs the one parsed.
#pragma once

#include <functional>
#include <iosfwd>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "apen/status.h"
#include "law/suggest.h"
#include "law/verdict.h"

namespace CLI {
class App;
class FormatterBase;
}  // namespace CLI
namespace perflaw::orchestrator {
class ResultsDb;
class Statement;
}  // namespace perflaw::orchestrator

namespace perflaw::cli {

// What a parsed subcommand does. Registrations store it into the slot they are given, from the
// subcommand's parse callback, so exactly one action runs per invocation.
using Action = std::function<Status()>;

// The help formatter of every command (help_format.cc): readable metavariables (N, FILE,
// table|json, the option's name in capitals) instead of CLI11's type names. Set it on the app
// before registering the subcommands, which inherit it.
std::shared_ptr<CLI::FormatterBase> MakeHelpFormatter();

void RegisterDataCommands(CLI::App& app, Action* action);  // data_cmd.cc: perflaw data ...
void RegisterLawCommands(CLI::App& app,
                         Action* action);  // law_cmd.cc: fit, predict, suggest, report
void RegisterSweepCommands(CLI::App& app, Action* action);   // sweep_cmd.cc: sweep check
void RegisterDbCommands(CLI::App& app, Action* action);      // db_cmd.cc: status, results, sql
void RegisterInitCommands(CLI::App& app, Action* action);    // init_cmd.cc: init
void RegisterCurvesCommands(CLI::App& app, Action* action);  // curves_cmd.cc: curves
void RegisterRunCommands(CLI::App& app, Action* action);     // run_cmd.cc: run, orchestrate, resume
void RegisterSubmitCommands(CLI::App& app, Action* action);  // submit_cmd.cc: submit --slurm

// The law fit `perflaw run` ends with (law_cmd.cc): `perflaw fit DB --form FORM --metric METRIC
// --group-by GROUP_BY` with the default fit options, its table printed to `out`, the fits stored.
// Each group's verdict (summary, then its "next" steps) is appended to `verdicts` when given.
Status FitLawFromDb(const std::string& db, const std::string& form, const std::string& metric,
                    const std::string& group_by, std::ostream& out,
                    std::vector<std::string>* verdicts = nullptr);

// What the law says of one group, for an adaptive round (law_cmd.cc): the verdict of `form` fitted
// to `metric` (as `perflaw fit DB` with the default fit options and `verdict`; nothing stored) and
// the points `perflaw suggest` proposes for it. A group whose fit failed has a verdict that did not
// run and no suggestions; `fit_error` says why.
struct GroupAdvice {
  law::GroupKey key;
  law::Verdict verdict;
  law::GroupSuggestions suggestions;
  std::string fit_error;
};
StatusOr<std::vector<GroupAdvice>> AdviseFromDb(const std::string& db, const std::string& form,
                                                const std::string& metric,
                                                const std::string& group_by,
                                                const law::SuggestOptions& suggest,
                                                const law::VerdictOptions& verdict);

// The `--where` clauses of `perflaw results` (db_cmd.cc), for another command reading `points p`:
// appends " AND <condition>" per clause to `sql` (fixed text with ? placeholders) and its values to
// `params`, to be bound in order by BindParams. A malformed clause or unknown key is
// InvalidArgument naming it.
Status AppendWhereClauses(const orchestrator::ResultsDb& db, const std::vector<std::string>& where,
                          std::string* sql, std::vector<nlohmann::json>* params);
Status BindParams(orchestrator::Statement& st, const std::vector<nlohmann::json>& params);

// `perflaw curves` (curves_cmd.cc): per-epoch train loss and validation metric of the selected
// points, one PNG + SVG figure per group of points that differ only in model size and seed.
struct CurvesRequest {
  std::string db;
  std::string sweep;               // id or name; "" = every sweep
  std::vector<std::string> where;  // as `perflaw results --where`
  std::string metric = "NDCG@10";  // validation metric: HR@K, NDCG@K or MRR
  std::string protocol;            // "" = the one protocol the selection has
  std::string out;                 // output directory, created if missing
  bool completed_only = false;     // perflaw report: only COMPLETED points, as its fits
};
struct CurvesOutput {
  std::vector<std::string> files;   // every file written, in order
  std::vector<std::string> images;  // the PNG file names (relative to out)
  int points = 0;
  std::vector<std::string> still_improving;  // "L2 d64 (point ID)" of each point still improving
  std::string metric_label;  // what the validation panel shows, e.g. "valid NDCG@10 (full)"
};
StatusOr<CurvesOutput> WriteCurves(const CurvesRequest& request);

// A command that ends without an error but not fully done (run, orchestrate, resume: 1 = points
// FAILED, 3 = points left PENDING) sets its exit code here; main() returns it when the action
// returned OK (0 when never set). Defined in run_cmd.cc.
void SetExitCode(int code);
int RequestedExitCode();

// 0 for OK, 2 for the user's errors (bad input, missing files), 1 for everything else.
int ExitCodeFor(const Status& status);

// The one-line error every command prints: "perflaw: error: <message>".
void PrintError(const std::string& message);

}  // namespace perflaw::cli
