#!/usr/bin/env bash
# Open MPI launch agent (plm_rsh_agent) for simulated nodes on one machine: mpirun calls it like
# ssh, `sim-node-agent.sh [options] HOST COMMAND...`, to start its daemon (orted) on HOST. Instead
# of logging in anywhere it runs COMMAND here, in a UTS namespace of its own whose hostname is the
# node's name, so the daemon and its ranks see (gethostname, MPI_Get_processor_name) a host of
# their own. HOST is a loopback address from the test's hostfile (127.0.0.2, ...): the node is
# named sim-2, sim-3, ... after the last byte. Each node gets its own scratch directory (TMPDIR)
# under PERFLAW_SIM_ROOT/HOSTNAME, and its pid is written to PERFLAW_SIM_ROOT/HOSTNAME/agent.pid so
# a test can kill one node (the agent execs the daemon, so that pid is the daemon's).
# Docs: docs/cluster.md, "Multi-node on one machine".
set -euo pipefail
while [[ $# -gt 0 && $1 == -* ]]; do shift; done  # ssh-style options mpirun may add (-x, ...)
if [[ $# -lt 2 ]]; then
  echo "sim-node-agent: usage: sim-node-agent.sh HOST COMMAND..." >&2
  exit 2
fi
host=$1
shift
if [[ ! $host =~ ^127\.0\.0\.([0-9]+)$ ]]; then
  echo "sim-node-agent: $host is not a loopback address 127.0.0.N" >&2
  exit 2
fi
name=sim-${BASH_REMATCH[1]}
root=${PERFLAW_SIM_ROOT:-${TMPDIR:-/tmp}/perflaw-sim}
mkdir -p "$root/$name/tmp"
export TMPDIR=$root/$name/tmp PERFLAW_SIM_NODE=$name
# The inner shell sets the hostname inside the new namespace, records its pid (the daemon's,
# after exec) and runs mpirun's command line, which is one shell string like ssh would get.
# shellcheck disable=SC2016
exec unshare --uts bash -c 'hostname "$1" && echo $$ >"$2" && exec bash -c "$3"' \
  sim-node "$name" "$root/$name/agent.pid" "$*"
