#include <CLI/CLI.hpp>

#include "orchestrator/cli.h"

namespace perflaw::cli {

void RegisterLawCommands(CLI::App& app, Action* action) {
  (void)app;
  (void)action;
}

}  // namespace perflaw::cli
