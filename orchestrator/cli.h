// The `perflaw` command line: each module registers its subcommands; main() runs the one parsed.
#pragma once

#include <functional>
#include <string>

#include "apen/status.h"

namespace CLI {
class App;
}

namespace perflaw::cli {

// What a parsed subcommand does. Registrations store it into the slot they are given, from the
// subcommand's parse callback, so exactly one action runs per invocation.
using Action = std::function<Status()>;

void RegisterDataCommands(CLI::App& app, Action* action);  // data_cmd.cc: perflaw data ...
void RegisterLawCommands(CLI::App& app, Action* action);   // law_cmd.cc: fit, predict, report
void RegisterSweepCommands(CLI::App& app, Action* action);  // sweep_cmd.cc: sweep check
void RegisterDbCommands(CLI::App& app, Action* action);    // db_cmd.cc: status, results, sql

// 0 for OK, 2 for the user's errors (bad input, missing files), 1 for everything else.
int ExitCodeFor(const Status& status);

// The one-line error every command prints: "perflaw: error: <message>".
void PrintError(const std::string& message);

}  // namespace perflaw::cli
