// perflaw: the CLI, orchestrator and law fitting (no LibTorch in this executable; see DESIGN.md).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <iostream>

#include "orchestrator/cli.h"

namespace perflaw::cli {

int ExitCodeFor(const Status& status) {
  if (status.ok()) return 0;
  return status.IsUserError() ? 2 : 1;
}

void PrintError(const std::string& message) {
  std::fflush(stdout);
  std::cerr << "perflaw: error: " << message << std::endl;
}

}  // namespace perflaw::cli

int main(int argc, char** argv) {
  using namespace perflaw;
  CLI::App app{"perflaw: scaling studies of sequential-recommendation transformers"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "perflaw 0.1.0");

  cli::Action action;
  cli::RegisterDataCommands(app, &action);
  cli::RegisterLawCommands(app, &action);
  cli::RegisterSweepCommands(app, &action);
  cli::RegisterDbCommands(app, &action);
  cli::RegisterRunCommands(app, &action);
  cli::RegisterSubmitCommands(app, &action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11's own messages name the option; keep them to one line and use our exit code.
    cli::PrintError(e.what());
    return 2;
  }
  if (!action) {
    cli::PrintError("no command given; see perflaw --help");
    return 2;
  }
  try {
    Status st = action();
    if (!st.ok()) cli::PrintError(st.message());
    return st.ok() ? cli::RequestedExitCode() : cli::ExitCodeFor(st);
  } catch (const std::exception& e) {
    cli::PrintError(std::string("internal: ") + e.what());
    return 1;
  }
}
