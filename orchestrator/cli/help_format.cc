// `perflaw ... --help` without CLI11's type names (TEXT, UINT, FLOAT:POSITIVE, ...): each option
// shows a readable metavariable instead, so one place decides what every command's help says.
#include <CLI/CLI.hpp>
#include <cctype>
#include <map>
#include <sstream>

#include "orchestrator/cli/cli.h"

namespace perflaw::cli {
namespace {

// Options whose value is better named by what it holds than by the option's name.
const std::map<std::string, std::string>& NamedMetavars() {
  static const auto* names = new std::map<std::string, std::string>{
      {"sweep", "NAME|ID"},   {"point", "ID"},        {"out", "PATH"},
      {"db", "DB"},           {"csv", "FILE"},        {"template", "FILE"},
      {"worker-bin", "PATH"}, {"where", "KEY=VALUE"}, {"train-where", "EXPR"}};
  return *names;
}

// The choices of an IsMember check, "{table,json}" in the type name, as "table|json"; "" if none.
std::string Choices(const std::string& type_name) {
  const size_t open = type_name.find('{'), close = type_name.find('}', open);
  if (open == std::string::npos || close == std::string::npos) return "";
  std::string choices = type_name.substr(open + 1, close - open - 1);
  for (char& c : choices)
    if (c == ',') c = '|';
  return choices;
}

// N for a whole number, else the option's long name in capitals (--group-by: GROUP_BY).
std::string Metavar(const CLI::Option* opt) {
  if (!opt->get_option_text().empty()) return opt->get_option_text();
  const std::string type = opt->get_type_name();
  if (std::string choices = Choices(type); !choices.empty()) return choices;
  if (type.rfind("INT", 0) == 0 || type.rfind("UINT", 0) == 0) return "N";
  std::string name = opt->get_lnames().empty() ? opt->get_name() : opt->get_lnames().front();
  if (auto it = NamedMetavars().find(name); it != NamedMetavars().end()) return it->second;
  for (char& c : name) c = c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return name;
}

class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_option_opts(const CLI::Option* opt) const override {
    std::ostringstream out;
    if (opt->get_type_size() != 0) {
      // A flag has no value; a positional's name is its metavariable.
      if (opt->nonpositional() && !opt->get_type_name().empty()) out << " " << Metavar(opt);
      if (!opt->get_default_str().empty()) out << "=" << opt->get_default_str();
      if (opt->get_expected_max() == CLI::detail::expected_max_vector_size) out << " ...";
      if (opt->get_required()) out << " " << get_label("REQUIRED");
    }
    return out.str();
  }
};

}  // namespace

std::shared_ptr<CLI::FormatterBase> MakeHelpFormatter() {
  return std::make_shared<HelpFormatter>();
}

}  // namespace perflaw::cli
