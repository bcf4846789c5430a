// Placing a sweep's MPI job on the nodes of a hostfile (`perflaw run SWEEP --hostfile F`): rank 0
// (the orchestrator) on the first node, and worker groups of ranks_per_point consecutive ranks each
// on one node unless spanning is asked for (docs/cluster.md, "Multi-node with a hostfile").
#pragma once

#include <string>
#include <vector>

#include "apen/status.h"

namespace perflaw::orchestrator {

struct HostSlots {
  std::string host;
  long long slots = 0;
};

// Reads an Open MPI style hostfile: one `HOST [slots=N] [max_slots=M]` per line, `#` comments,
// blank lines ignored; a host without slots= has 1 slot, and a host named again adds its slots.
// Nodes keep the order of their first line.
StatusOr<std::vector<HostSlots>> ReadHostfile(const std::string& path);

// How many ranks go to each node: the orchestrator first on nodes[0] (on top of its slots), then
// `workers` worker ranks filling the nodes in order. Without `span`, a node takes only whole
// groups of `ranks_per_point`, so no group straddles two nodes; with it, ranks fill every slot.
// Nodes left without ranks are dropped. Errors (one line) when the slots cannot hold the workers.
StatusOr<std::vector<HostSlots>> PlaceRanks(const std::vector<HostSlots>& nodes, long long workers,
                                            long long ranks_per_point, bool span);

// The hostfile given to mpirun: each node with exactly its placed ranks as slots, so that mpirun's
// by-slot mapping (--map-by slot) puts ranks 0, 1, ... on the nodes in this order.
std::string RenderHostfile(const std::vector<HostSlots>& placed);

}  // namespace perflaw::orchestrator
