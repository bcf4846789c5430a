#!/usr/bin/env bash
# Multi-node runs on one machine (issue 21): three simulated nodes, each an Open MPI daemon started
# by scripts/multinode/sim-node-agent.sh in a UTS namespace of its own (hostnames sim-2, sim-3,
# sim-4 for the hostfile's 127.0.0.2..4), ranks talking TCP over loopback. Cases:
#   groups-of-1  `perflaw run --hostfile`: rank 0 and one worker per node; attempts.hosts names
#                each group's node; every node built its own dataset cache (--node-cache-dir %h)
#   spanning     groups of 2 with --span-nodes: one group on sim-2 + sim-3 (data-parallel over
#                MPI between two nodes), one on sim-4; the metrics equal the same points run by
#                a 2-rank group on this machine alone (plain `perflaw run`)
#   node-dies    SIGKILL of one node's daemon and ranks mid-sweep: the job ends, the message names
#                the node, no completed result is lost; `perflaw resume --hostfile` on the two
#                nodes left completes every point, each exactly once
#   stop         SIGTERM to `perflaw run --hostfile` mid-sweep: the ranks get SIGUSR1 through mpirun
#                at once, the run ends with exit 3 (points left pending), no daemon or rank is
#                left, and `perflaw resume --hostfile` completes every point exactly once
# Usage: multinode_test.sh BIN_DIR [CASE...]   (KEEP=1 keeps the work folder)
set -uo pipefail
BIN=$(cd "$1" && pwd)
shift
CASES=("$@")
[ ${#CASES[@]} -gt 0 ] || CASES=(groups-of-1 spanning node-dies stop)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
AGENT=$ROOT/scripts/multinode/sim-node-agent.sh
WORK=$(mktemp -d /tmp/perflaw-multinode.XXXXXX)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# mpirun starts each node's daemon through the agent (as it would through ssh); traffic stays on
# the loopback interface, which Open MPI leaves out unless told.
export OMPI_MCA_plm_rsh_agent=$AGENT OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
export PERFLAW_SIM_ROOT=$WORK/nodes OMP_NUM_THREADS=1

descendants() {
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    descendants "$child"
    echo "$child"
  done
}
kill_tree() {  # PID: it and everything below it
  local p
  for p in $(descendants "$1") "$1"; do kill -9 "$p" 2>/dev/null; done
}
# A node's daemon as its agent recorded it (the agent execs into it, so it is the pid mpirun saw).
node_pid() { cat "$PERFLAW_SIM_ROOT/$1/agent.pid" 2>/dev/null; }
# Whether PID runs (a zombie left to a container's init that never reaps does not count).
running() { [ -n "$1" ] && ps -o stat= -p "$1" 2>/dev/null | grep -qv '^Z'; }
cleanup() {
  local p node
  for p in $(descendants $$); do kill -9 "$p" 2>/dev/null; done
  # Daemons orphaned by a dead mpirun are no longer below us: reach them through their pid files.
  for node in "$PERFLAW_SIM_ROOT"/*/; do
    p=$(node_pid "$(basename "$node")")
    running "$p" && grep -qa "$WORK" "/proc/$p/environ" 2>/dev/null && kill_tree "$p"
  done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

FAILS=0
fail() {
  echo "FAIL [$CASE]: $*"
  FAILS=$((FAILS + 1))
  local log
  for log in "$WORK/$CASE"/*.log; do [ -f "$log" ] && { echo "--- $log"; tail -15 "$log"; }; done
}
q() { sqlite3 -readonly "$1" "$2"; }

# A dataset file in `user item` form (text, so the workers parse it and cache the result).
awk 'BEGIN { for (u = 1; u <= 150; u++) for (t = 0; t < 14; t++)
  print u, 1 + (u * 7 + t * t * 3 + t) % 60 }' >"$WORK/inter.txt"

# DIR RANKS_PER_POINT WORKERS EPOCHS D_MODELS: a sweep of 2 x |D_MODELS| small points.
write_sweep() {
  cat >"$1/sweep.yaml" <<YAML
name: multinode
data: {path: $WORK/inter.txt, format: sasrec, max_seq_len: 12}
model: {type: sasrec, heads: 1}
train: {epochs: $4, batch_size: 32, lr: 0.002}
eval: {protocol: "sampled:20", ks: [10]}
seed: 0
grid:
  model.layers: [1, 2]
  model.d_model: $5
resources: {ranks_per_point: $2, workers: $3, device: cpu, threads: 1}
policy: {max_attempts: 2, heartbeat_interval: 1, heartbeat_timeout: 60}
law: {enabled: false}
db: results.db
work_dir: work
YAML
}
hostfile() {  # FILE SLOTS_OF_127.0.0.2 [.3 [.4]]
  local f=$1 n=2 s
  shift
  : >"$f"
  for s in "$@"; do echo "127.0.0.$n slots=$s" >>"$f"; n=$((n + 1)); done
}
all_completed() {  # DB EXPECTED_POINTS
  local got
  got=$(q "$1" "select count(*) from points where state = 'COMPLETED'")
  [ "$got" = "$2" ] || { fail "$got of $2 points COMPLETED"; return 1; }
  got=$(q "$1" "select count(*) from results")
  [ "$got" = "$2" ] || fail "$got results for $2 points"
  got=$(q "$1" "select count(*) from (select point from attempts where exit_reason = 'completed'
               group by point having count(*) != 1)")
  [ "$got" = 0 ] || fail "$got point(s) not completed exactly once"
  got=$(q "$1" "pragma integrity_check")
  [ "$got" = ok ] || fail "integrity_check: $got"
}

case_groups_of_1() {
  local d=$WORK/$CASE
  write_sweep "$d" 1 3 1 "[8, 16]"
  hostfile "$d/hosts" 1 1 1
  (cd "$d" && "$BIN/perflaw" run sweep.yaml --hostfile hosts --progress none \
    --node-cache-dir "$PERFLAW_SIM_ROOT/%h/cache") >"$d/run.log" 2>&1 ||
    { fail "perflaw run --hostfile exited $?"; return; }
  all_completed "$d/results.db" 4 || return
  # Group g is rank g + 1: rank 1 on sim-2 beside rank 0, ranks 2 and 3 on sim-3 and sim-4.
  local hosts
  hosts=$(q "$d/results.db" "select distinct group_id || ':' || hosts from attempts order by 1" |
    tr '\n' ' ')
  [ "$hosts" = '0:["sim-2"] 1:["sim-3"] 2:["sim-4"] ' ] || fail "attempts.hosts: $hosts"
  # Every node's workers parsed the dataset into the node's own cache. (Rank 0 keeps its dataset
  # statistics' cache in WORK_DIR/cache.)
  local node
  for node in sim-2 sim-3 sim-4; do
    ls "$PERFLAW_SIM_ROOT/$node/cache/"*.pfds >/dev/null 2>&1 || fail "no dataset cache on $node"
  done
  grep -q '^127.0.0.2 slots=2$' "$d/work/mpirun-hosts" || fail "mpirun-hosts: $(cat "$d/work/mpirun-hosts")"
}

case_spanning() {
  local d=$WORK/$CASE ref=$WORK/$CASE/ref
  mkdir -p "$ref"
  write_sweep "$d" 2 4 1 "[8]"
  write_sweep "$ref" 2 2 1 "[8]"
  # sim-2: rank 0 + rank 1, sim-3: rank 2, sim-4: ranks 3 and 4. Group 0 = ranks 1, 2 (spanning).
  hostfile "$d/hosts" 1 1 2
  (cd "$d" && "$BIN/perflaw" run sweep.yaml --hostfile hosts --span-nodes --progress none) \
    >"$d/run.log" 2>&1 || { fail "perflaw run --hostfile --span-nodes exited $?"; return; }
  (cd "$ref" && "$BIN/perflaw" run sweep.yaml --progress none) >"$d/ref.log" 2>&1 ||
    { fail "the one-machine reference run exited $?"; return; }
  all_completed "$d/results.db" 2 || return
  all_completed "$ref/results.db" 2 || return
  local groups
  groups=$(q "$d/results.db" "select distinct group_id || ':' || hosts from attempts order by 1" |
    tr '\n' ' ')
  [ "$groups" = '0:["sim-2","sim-3"] 1:["sim-4","sim-4"] ' ] || fail "attempts.hosts: $groups"
  [ "$(q "$d/results.db" "select distinct world_size from results")" = 2 ] ||
    fail "results not data-parallel over 2 ranks"
  # Same points, same metrics (within float noise) as on one machine.
  local joined differ
  joined=$(q "$d/results.db" "attach '$ref/results.db' as ref; select count(*) from
    result_metrics a join ref.result_metrics b using (point, split, metric, k, protocol)")
  differ=$(q "$d/results.db" "attach '$ref/results.db' as ref; select count(*) from
    result_metrics a join ref.result_metrics b using (point, split, metric, k, protocol)
    where abs(a.value - b.value) > 1e-5 * max(1, abs(b.value))")
  [ "$joined" -gt 0 ] && [ "$joined" = "$(q "$d/results.db" "select count(*) from result_metrics")" ] ||
    fail "only $joined metrics match the reference's points"
  [ "$differ" = 0 ] || fail "$differ metric(s) differ from the one-machine run"
}

# Starts a 6-point sweep (20 epochs a point) on three nodes in the background (RUN: perflaw's pid) and waits for its
# first result (at most 120 s); fails unless points are still to run.
start_and_wait_for_a_result() {
  local d=$1 t done=0
  write_sweep "$d" 1 3 20 "[8, 16, 24]"
  hostfile "$d/hosts" 1 1 1
  hostfile "$d/hosts-left" 1 1
  (cd "$d" && exec "$BIN/perflaw" run sweep.yaml --hostfile hosts --progress none) \
    >"$d/run.log" 2>&1 &
  RUN=$!
  for ((t = 0; t < 1200; t++)); do
    done=$(q "$d/results.db" "select count(*) from results" 2>/dev/null || echo 0)
    [ "${done:-0}" -ge 1 ] && break
    kill -0 $RUN 2>/dev/null || break
    sleep 0.1
  done
  [ "${done:-0}" -ge 1 ] && [ "$done" -lt 6 ] ||
    { fail "no point completed mid-sweep to act after ($done)"; return 1; }
}

case_stop() {
  local d=$WORK/$CASE rc=0 node p t
  start_and_wait_for_a_result "$d" || return
  kill -TERM $RUN
  wait $RUN || rc=$?
  [ $rc = 3 ] || fail "perflaw run exited $rc after SIGTERM, not 3 (points left pending)"
  for node in sim-2 sim-3 sim-4; do  # a daemon may take a moment to exit after mpirun
    p=$(node_pid $node)
    for ((t = 0; t < 100; t++)); do
      running "$p" || break
      sleep 0.1
    done
    running "$p" && fail "$node's daemon ($p) outlived the stopped run by 10 s"
  done
  [ "$(q "$d/results.db" "select count(*) from attempts where ended_at is null")" = 0 ] ||
    fail "attempts left open by the stop"
  (cd "$d" && "$BIN/perflaw" resume results.db --hostfile hosts --progress none) \
    >"$d/resume.log" 2>&1 || { fail "perflaw resume exited $?"; return; }
  all_completed "$d/results.db" 6
}

case_node_dies() {
  local d=$WORK/$CASE victim
  start_and_wait_for_a_result "$d" || return
  local run=$RUN
  local before
  before=$(q "$d/results.db" "select point || attempt from results order by 1")
  victim=$(node_pid sim-4)
  [ -n "$victim" ] || { fail "no pid for sim-4's daemon"; return; }
  kill_tree "$victim"
  local rc=0
  wait $run || rc=$?
  [ $rc -ne 0 ] || fail "perflaw run exited 0 after losing a node"
  grep -q '127.0.0.4' "$d/run.log" || fail "the run's message does not name the lost node"
  grep -q 'a rank or a node was lost' "$d/run.log" || fail "no perflaw message about the loss"
  (cd "$d" && "$BIN/perflaw" resume results.db --hostfile hosts-left --np 2 --progress none) \
    >"$d/resume.log" 2>&1 || { fail "perflaw resume on the nodes left exited $?"; return; }
  all_completed "$d/results.db" 6 || return
  local kept
  kept=$(q "$d/results.db" "select point || attempt from results order by 1")
  while read -r r; do
    [ -z "$r" ] || grep -qx "$r" <<<"$kept" || fail "completed result $r was lost or redone"
  done <<<"$before"
  [ "$(q "$d/results.db" "select count(*) from attempts where ended_at is null")" = 0 ] ||
    fail "attempts left open"
}

for CASE in "${CASES[@]}"; do
  mkdir -p "$WORK/$CASE"
  start=$SECONDS
  before=$FAILS
  "case_${CASE//-/_}"
  [ $FAILS -eq "$before" ] && echo "ok [$CASE] $((SECONDS - start)) s" ||
    echo "failed [$CASE] $((SECONDS - start)) s"
done
[ $FAILS -eq 0 ] && echo "multinode: all ${#CASES[@]} case(s) passed" ||
  echo "multinode: $FAILS failure(s)"
exit $((FAILS > 0))
