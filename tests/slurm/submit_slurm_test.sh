#!/usr/bin/env bash
# Integration test (ctest label `slurm`): submits a tiny sweep to a real Slurm with
# `perflaw submit --slurm`, waits for the job (bounded) and checks the database: every point
# COMPLETED with a result, and `PRAGMA integrity_check` ok.
#   SLURM_CONF=... tests/slurm/submit_slurm_test.sh PERFLAW PERFLAW_WORKER [LAUNCHER]
# Needs a running Slurm (scripts/slurm/local-slurm.sh start; scripts/test.sh does it): without
# SLURM_CONF it fails, it does not skip. PERFLAW_SLURM_TEST_TIMEOUT bounds the wait (default 150 s).
set -euo pipefail

PERFLAW=${1:?usage: $0 PERFLAW PERFLAW_WORKER [mpirun|srun]}
WORKER=${2:?usage: $0 PERFLAW PERFLAW_WORKER [mpirun|srun]}
LAUNCHER=${3:-mpirun}
TIMEOUT=${PERFLAW_SLURM_TEST_TIMEOUT:-150}

fail() {
  echo "submit_slurm_test: FAIL: $*" >&2
  exit 1
}

[[ -n ${SLURM_CONF:-} ]] ||
  fail "SLURM_CONF is not set: start Slurm first (eval \"\$(scripts/slurm/local-slurm.sh start)\")"
[[ -r $SLURM_CONF ]] || fail "SLURM_CONF=$SLURM_CONF is not readable"
sinfo -h >/dev/null || fail "sinfo cannot reach slurmctld (SLURM_CONF=$SLURM_CONF)"
# The job's ranks run as root here; OpenMPI refuses that unless told (sbatch passes the env on).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

TMP=$(mktemp -d "${TMPDIR:-/tmp}/perflaw-slurm-test.XXXXXX")
JOB=""
cleanup() {
  local rc=$?
  if [[ -n $JOB ]] && squeue -h -j "$JOB" 2>/dev/null | grep -q .; then scancel "$JOB" || true; fi
  if ((rc == 0)) && [[ -z ${PERFLAW_SLURM_TEST_KEEP:-} ]]; then rm -rf "$TMP"; else echo "submit_slurm_test: files kept in $TMP" >&2; fi
}
trap cleanup EXIT

# 4 tiny points (1 epoch on 60 synthetic users), 2 worker ranks + the orchestrator.
cat >"$TMP/tiny.yaml" <<'EOF'
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
resources: {ranks_per_point: 1, workers: 2, device: cpu, threads: 1}
policy: {max_attempts: 2, point_timeout: 120, heartbeat_interval: 2, heartbeat_timeout: 30}
law: {enabled: false}
db: results.db
work_dir: work
EOF
DB=$TMP/results.db

start=$SECONDS
out=$("$PERFLAW" submit "$TMP/tiny.yaml" --slurm --ntasks-per-node 2 --time 5 \
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
states=$("$PERFLAW" sql "$DB" "SELECT state || ':' || count(*) FROM points GROUP BY state" --format csv |
  tail -n +2 | tr -d '"\r' | paste -sd' ')
[[ $states == "COMPLETED:4" ]] || fail "points by state: '$states', expected 'COMPLETED:4'"
results=$("$PERFLAW" sql "$DB" "SELECT count(*) FROM results" --format csv | tail -n 1 | tr -d '"\r')
[[ $results == 4 ]] || fail "results rows: '$results', expected 4"
integrity=$(sqlite3 "$DB" "PRAGMA integrity_check")
[[ $integrity == ok ]] || fail "PRAGMA integrity_check: $integrity"
grep -q "perflaw.sbatch: $LAUNCHER exit code 0" "$LOG" || fail "job log $LOG lacks a clean launcher exit"
echo "submit_slurm_test: PASS ($LAUNCHER): job $JOB, 4/4 points COMPLETED, integrity ok," \
  "$((SECONDS - start)) s wall"
