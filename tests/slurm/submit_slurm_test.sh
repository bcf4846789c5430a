#!/usr/bin/env bash
# Integration test (ctest label `slurm`): submits a tiny sweep to a real Slurm with
# `perflaw submit --slurm`, waits for the job (bounded) and checks the database: every point
# COMPLETED with a result, and `PRAGMA integrity_check` ok.
#   SLURM_CONF=... tests/slurm/submit_slurm_test.sh PERFLAW PERFLAW_WORKER [LAUNCHER [NODES]]
# NODES = 1 (default): needs a running Slurm (scripts/slurm/local-slurm.sh start; scripts/test.sh does
# it): without SLURM_CONF it fails, it does not skip. PERFLAW_SLURM_TEST_TIMEOUT bounds the wait
# (default 150 s).
# NODES = N > 1 (label `multinode` too): the test starts its own Slurm of N simulated nodes
# (local-slurm.sh with PERFLAW_SLURM_NODES, state in its temp dir, slurmctld on port
# PERFLAW_SLURM_TEST_PORT, default 6947, slurmds on the next N) and stops it at the end; the sweep has
# groups of 2 ranks, 2 tasks per node, and every group must run on one node, each node hosting one.
set -euo pipefail

PERFLAW=${1:?usage: $0 PERFLAW PERFLAW_WORKER [mpirun|srun [NODES]]}
WORKER=${2:?usage: $0 PERFLAW PERFLAW_WORKER [mpirun|srun [NODES]]}
LAUNCHER=${3:-mpirun}
NODES=${4:-1}
TIMEOUT=${PERFLAW_SLURM_TEST_TIMEOUT:-150}
LOCAL_SLURM=$(dirname "$0")/../../scripts/slurm/local-slurm.sh

fail() {
  echo "submit_slurm_test: FAIL: $*" >&2
  exit 1
}

[[ $NODES =~ ^[1-8]$ ]] || fail "NODES must be 1..8, got '$NODES'"
# The job's ranks run as root here; OpenMPI refuses that unless told (sbatch passes the env on).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

TMP=$(mktemp -d "${TMPDIR:-/tmp}/perflaw-slurm-test.XXXXXX")
JOB=""
OWN_SLURM=""
cleanup() {
  local rc=$?
  if [[ -n $JOB ]] && squeue -h -j "$JOB" 2>/dev/null | grep -q .; then scancel "$JOB" || true; fi
  if [[ -n $OWN_SLURM ]]; then
    PERFLAW_SLURM_DIR=$OWN_SLURM PERFLAW_SLURM_NODES=$NODES bash "$LOCAL_SLURM" stop || true
  fi
  if ((rc == 0)) && [[ -z ${PERFLAW_SLURM_TEST_KEEP:-} ]]; then rm -rf "$TMP"; else echo "submit_slurm_test: files kept in $TMP" >&2; fi
}
trap cleanup EXIT

if ((NODES > 1)); then
  OWN_SLURM=$TMP/slurm-state
  env=$(PERFLAW_SLURM_DIR=$OWN_SLURM PERFLAW_SLURM_NODES=$NODES \
    PERFLAW_SLURM_PORT=${PERFLAW_SLURM_TEST_PORT:-6947} bash "$LOCAL_SLURM" start) ||
    fail "the $NODES-node Slurm did not start"
  eval "$(grep '^export SLURM_CONF=' <<<"$env")"
fi
[[ -n ${SLURM_CONF:-} ]] ||
  fail "SLURM_CONF is not set: start Slurm first (eval \"\$(scripts/slurm/local-slurm.sh start)\")"
[[ -r $SLURM_CONF ]] || fail "SLURM_CONF=$SLURM_CONF is not readable"
sinfo -h >/dev/null || fail "sinfo cannot reach slurmctld (SLURM_CONF=$SLURM_CONF)"

# 4 tiny points (1 epoch on 60 synthetic users), 2 worker ranks per node + the orchestrator; with
# several nodes, groups of 2 ranks (one per node).
RANKS_PER_POINT=1
((NODES > 1)) && RANKS_PER_POINT=2
cat >"$TMP/tiny.yaml" <<EOF
name: slurm-tiny
data:
  synthetic: {users: 60, items: 40, mean_length: 10, seed: 5}
  max_seq_len: 10
model: {type: sasrec, heads: 1}
train: {epochs: 1, batch_size: 32}
eval: {protocol: "sampled:20", ks: [10]}
seed: 0
grid:
  model.layers: [1, 2]
  model.d_model: [8, 16]
resources: {ranks_per_point: $RANKS_PER_POINT, workers: $((2 * NODES)), device: cpu, threads: 1}
policy: {max_attempts: 2, point_timeout: 120, heartbeat_interval: 2, heartbeat_timeout: 30}
law: {enabled: false}
db: results.db
work_dir: work
EOF
DB=$TMP/results.db

start=$SECONDS
out=$("$PERFLAW" submit "$TMP/tiny.yaml" --slurm --nodes "$NODES" --ntasks-per-node 2 --time 5 \
  --launcher "$LAUNCHER" --worker-bin "$WORKER" --out "$TMP/slurm") ||
  fail "perflaw submit exited $?"
echo "$out"
JOB=$(sed -n 's/^submitted Slurm job \([0-9][0-9]*\):.*/\1/p' <<<"$out")
[[ -n $JOB ]] || fail "no job id in perflaw submit's output"
LOG=$TMP/slurm/perflaw-slurm-tiny-$JOB.out

# Wait for the job to leave the queue (scontrol keeps finished jobs for MinJobAge).
state=""
while ((SECONDS - start < TIMEOUT)); do
  state=$(scontrol show job "$JOB" -o 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
  case $state in
    PENDING | RUNNING | CONFIGURING | COMPLETING | "") sleep 1 ;;
    *) break ;;
  esac
done
info=$(scontrol show job "$JOB" -o 2>/dev/null || true)
echo "submit_slurm_test: job $JOB ended in state '$state' after $((SECONDS - start)) s (wall, submit to end)"
if [[ $state != COMPLETED ]]; then
  [[ -r $LOG ]] && tail -n 40 "$LOG" >&2
  fail "job $JOB not COMPLETED within ${TIMEOUT}s: state '$state' ($info)"
fi
grep -q 'ExitCode=0:0' <<<"$info" || fail "job $JOB exit code not 0: $info"

# The database: 4 points, all COMPLETED, each with one result; intact.
"$PERFLAW" status "$DB" || fail "perflaw status exited $?"
# rows SQL: the query's rows (one column) on one line, space-separated.
rows() { "$PERFLAW" sql "$DB" "$1" --format csv | tail -n +2 | tr -d '"\r' | paste -sd' '; }
states=$(rows "SELECT state || ':' || count(*) FROM points GROUP BY state")
[[ $states == "COMPLETED:4" ]] || fail "points by state: '$states', expected 'COMPLETED:4'"
results=$(rows "SELECT count(*) FROM results")
[[ $results == 4 ]] || fail "results rows: '$results', expected 4"
integrity=$(sqlite3 "$DB" "PRAGMA integrity_check")
[[ $integrity == ok ]] || fail "PRAGMA integrity_check: $integrity"
grep -q "perflaw.sbatch: $LAUNCHER exit code 0" "$LOG" || fail "job log $LOG lacks a clean launcher exit"
if ((NODES > 1)); then
  # Each group's ranks on one node (attempts.hosts: the real host of every rank), one group per node.
  hosts=$(rows "SELECT DISTINCT group_id || '=' || hosts FROM attempts ORDER BY 1")
  expected=""
  for ((i = 1; i <= NODES; i++)); do expected+="${expected:+ }$((i - 1))=[node$i,node$i]"; done
  [[ $(tr -d '\\' <<<"$hosts") == "$expected" ]] ||
    fail "attempts' groups and hosts: '$hosts', expected '$expected'"
  grep -q "perflaw.sbatch: job $JOB on $(seq -f 'node%g' -s ' ' 1 "$NODES"):" "$LOG" ||
    fail "job log $LOG does not show the job on node1..node$NODES"
fi
echo "submit_slurm_test: PASS ($LAUNCHER, $NODES node(s)): job $JOB, 4/4 points COMPLETED, integrity ok," \
  "$((SECONDS - start)) s wall"
