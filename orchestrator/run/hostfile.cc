#include "orchestrator/run/hostfile.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace perflaw::orchestrator {

namespace {

// N of `key=N` (N >= 1), or an error naming the file and line.
StatusOr<long long> SlotCount(const std::string& token, const std::string& where) {
  const std::string value = token.substr(token.find('=') + 1);
  char* end = nullptr;
  errno = 0;
  const long long n = std::strtoll(value.c_str(), &end, 10);
  if (value.empty() || errno != 0 || *end != '\0' || n < 1 || n > 1000000)
    return Status::InvalidArgument(where + ": expected " + token.substr(0, token.find('=')) +
                                   "=N with N a positive integer, got '" + token + "'");
  return n;
}

// Adds one hostfile line's host and slots to `nodes`.
Status ParseLine(const std::string& line, const std::string& where, std::vector<HostSlots>* nodes) {
  std::istringstream in(line.substr(0, line.find('#')));
  std::string host, token;
  if (!(in >> host)) return Status::Ok();
  long long slots = 1;
  while (in >> token) {
    const std::string key = token.substr(0, token.find('='));
    if (token.find('=') == std::string::npos ||
        (key != "slots" && key != "max_slots" && key != "max-slots")) {
      return Status::InvalidArgument(where + ": unknown entry '" + token +
                                     "' (expected HOST [slots=N] [max_slots=N])");
    }
    StatusOr<long long> n = SlotCount(token, where);
    if (!n.ok()) return n.status();
    if (key == "slots") slots = *n;
  }
  auto it = std::find_if(nodes->begin(), nodes->end(),
                         [&](const HostSlots& h) { return h.host == host; });
  if (it == nodes->end()) {
    nodes->push_back({host, slots});
  } else {
    it->slots += slots;
  }
  return Status::Ok();
}

std::string Plural(long long n, const std::string& what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

}  // namespace

StatusOr<std::vector<HostSlots>> ReadHostfile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("--hostfile " + path + ": cannot read it");
  std::vector<HostSlots> nodes;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n)
    PERFLAW_RETURN_IF_ERROR(ParseLine(line, path + ":" + std::to_string(n), &nodes));
  if (nodes.empty()) return Status::InvalidArgument("--hostfile " + path + ": names no host");
  return nodes;
}

StatusOr<std::vector<HostSlots>> PlaceRanks(const std::vector<HostSlots>& nodes, long long workers,
                                            long long ranks_per_point, bool span) {
  // Worker ranks a node takes: its slots, or its whole groups unless groups may span nodes.
  auto room = [&](const HostSlots& n) {
    return span ? n.slots : n.slots / ranks_per_point * ranks_per_point;
  };
  long long largest = 0, usable = 0, total = 0;
  for (const HostSlots& n : nodes) {
    largest = std::max(largest, n.slots);
    usable += room(n);
    total += n.slots;
  }
  if (!span && ranks_per_point > largest) {
    return Status::InvalidArgument(
        "a worker group of resources.ranks_per_point = " + std::to_string(ranks_per_point) +
        " ranks is larger than any node of the hostfile (at most " + Plural(largest, "slot") +
        "): give nodes more slots, or --span-nodes to spread a group over nodes");
  }
  if (usable < workers) {
    return Status::InvalidArgument(
        "the hostfile's " + Plural(static_cast<long long>(nodes.size()), "node") + " (" +
        Plural(total, "slot") + ") hold " + std::to_string(usable) + " worker rank(s)" +
        (span ? "" : " in whole groups of " + std::to_string(ranks_per_point)) + ", not " +
        std::to_string(workers) + " (the orchestrator comes on top of the first node's slots)");
  }
  std::vector<HostSlots> placed;
  long long left = workers;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const long long here = std::min(room(nodes[i]), left);
    left -= here;
    const long long ranks = here + (i == 0 ? 1 : 0);  // rank 0 on the first node
    if (ranks > 0) placed.push_back({nodes[i].host, ranks});
  }
  return placed;
}

std::string RenderHostfile(const std::vector<HostSlots>& placed) {
  std::string text =
      "# Written by perflaw run: the ranks each node gets, in rank order (mpirun --map-by slot)\n";
  for (const HostSlots& n : placed) text += n.host + " slots=" + std::to_string(n.slots) + "\n";
  return text;
}

}  // namespace perflaw::orchestrator
