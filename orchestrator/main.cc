// perflaw: the CLI, orchestrator and law fitting (no LibTorch in this executable; see docs/design.md).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "apen/did_you_mean.h"
#include "orchestrator/cli/cli.h"

namespace perflaw::cli {

int ExitCodeFor(const Status& status) {
  if (status.ok()) return 0;
  return status.IsUserError() ? 2 : 1;
}

// Control bytes (from a binary file quoted in a message, say) are shown as \xNN, so that an error
// stays one readable line and cannot drive the terminal.
std::string Printable(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c >= 0x20 && c != 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

void PrintError(const std::string& message) {
  std::fflush(stdout);
  std::cerr << "perflaw: error: " << Printable(message) << std::endl;
}

namespace {
// "unknown command 'statuss' (did you mean 'status'?)" for a first word that names no command
// (CLI11 would only say that a subcommand is required); empty when it names one, or is an option.
std::string UnknownCommand(CLI::App& app, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return "";
  const std::string word = argv[1];
  std::vector<std::string> names;
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    names.push_back(sub->get_name());
  if (std::find(names.begin(), names.end(), word) != names.end()) return "";
  const std::string* close = ClosestMatch(word, names);
  return "unknown command '" + Printable(word) + "'" +
         (close ? " (did you mean '" + *close + "'?)" : "") + "; commands: " + JoinWords(names);
}
}  // namespace

}  // namespace perflaw::cli

int main(int argc, char** argv) {
  using namespace perflaw;
  CLI::App app{"perflaw: scaling studies of sequential-recommendation transformers"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "perflaw 0.1.0");
  app.formatter(cli::MakeHelpFormatter());

  cli::Action action;
  cli::RegisterDataCommands(app, &action);
  cli::RegisterLawCommands(app, &action);
  cli::RegisterInitCommands(app, &action);
  cli::RegisterSweepCommands(app, &action);
  cli::RegisterDbCommands(app, &action);
  cli::RegisterCurvesCommands(app, &action);
  cli::RegisterRunCommands(app, &action);
  cli::RegisterSubmitCommands(app, &action);

  if (const std::string unknown = cli::UnknownCommand(app, argc, argv); !unknown.empty()) {
    cli::PrintError(unknown);
    return 2;
  }
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
