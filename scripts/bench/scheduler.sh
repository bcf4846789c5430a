#!/usr/bin/env bash
# Benchmark of the orchestrator (issue 4 targets), on real MPI jobs started by `perflaw run`:
#  1. TRIVIAL points (default 1,000: one training step of a tiny model each) across WORKERS worker
#     ranks (default 8): orchestration cost per point = (groups x makespan - sum of the workers' own
#     wall time per point) / points, from the database (attempts.started_at/ended_at,
#     results.wall_seconds). Target: under 5 ms per point. Side by side: the same run with
#     policy.dispatch_ahead 0 (no point sent ahead), the reference.
#  2. A grid of mixed sizes on MIXED_WORKERS groups (default 2): the measured makespan against the
#     longest-processing-time-first (LPT) schedule of the measured attempt durations. Target: within
#     10% of the LPT makespan.
#   bash scripts/bench/scheduler.sh [BIN_DIR]          (default build/bin)
# Environment: TRIVIAL, WORKERS, MIXED_WORKERS, KEEP=1 (keep the work folder and print it).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$(cd "${1:-build/bin}" && pwd)
TRIVIAL=${TRIVIAL:-1000}
WORKERS=${WORKERS:-8}
MIXED_WORKERS=${MIXED_WORKERS:-2}
for exe in perflaw perflaw-worker; do
  [[ -x "$BIN/$exe" ]] || { echo "scheduler.sh: no $exe in $BIN (build first)" >&2; exit 2; }
done
[[ $(id -u) != 0 ]] || export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
WORK=$(mktemp -d /tmp/perflaw-bench-scheduler.XXXXXX)
[[ "${KEEP:-0}" = 1 ]] && echo "work folder: $WORK" || trap 'rm -rf "$WORK"' EXIT

# --- 1. trivial points: 64 users in one batch of 64, one epoch = one optimizer step ---------------
# Run twice: with dispatch ahead (1 s, the default) and with it off (every point waits for a round
# trip through rank 0), the reference, side by side.
trivial() {  # trivial NAME DISPATCH_AHEAD
  local dir="$WORK/$1"
  mkdir -p "$dir"
  cat > "$dir/sweep.yaml" <<YAML
name: bench-trivial-$1
data:
  synthetic: {users: 64, items: 50, mean_length: 8, predictability: 0.5, seed: 1}
  max_seq_len: 8
model: {type: sasrec, layers: 1, d_model: 8, heads: 1}
train: {epochs: 1, batch_size: 64, lr: 0.001}
eval: {protocol: "sampled:10", ks: [10]}
threads: 1
grid:
  seed: [$(seq -s, 0 $((TRIVIAL - 1)))]
resources: {ranks_per_point: 1, workers: $WORKERS}
policy: {max_attempts: 1, heartbeat_interval: 30, heartbeat_timeout: 120, dispatch_ahead: $2}
law: {enabled: false}
db: results.db
work_dir: work
YAML
  local start end
  start=$(date +%s.%N)
  (cd "$dir" && "$BIN/perflaw" run sweep.yaml --np "$WORKERS" > run.log 2>&1) ||
    { tail -20 "$dir/run.log"; exit 1; }
  end=$(date +%s.%N)
  echo "$start $end" > "$dir/times"
}
echo "== 1. $TRIVIAL trivial points (1 step of a 1-layer d=8 sasrec) on $WORKERS worker ranks, $(nproc) cores"
trivial ahead 1
trivial reference 0
python3 - "$WORKERS" "$TRIVIAL" "$WORK/ahead" "$WORK/reference" <<'PY'
import os, re, sqlite3, sys
groups, n = int(sys.argv[1]), int(sys.argv[2])
def measure(d):
    start, end = open(f"{d}/times").read().split()
    log = open(f"{d}/run.log").read()
    cpu = re.search(r"orchestrator: ([0-9.]+) s CPU", log)
    ahead = re.search(r"\((\d+) sent ahead", log)
    c = sqlite3.connect(f"file:{d}/results.db?mode=ro", uri=True)
    done = c.execute("SELECT COUNT(*) FROM points WHERE state = 'COMPLETED'").fetchone()[0]
    first, last = c.execute("SELECT MIN(started_at), MAX(ended_at) FROM attempts").fetchone()
    busy = c.execute("SELECT SUM(wall_seconds) FROM results").fetchone()[0]
    makespan = last - first
    gaps = []
    rows = c.execute("SELECT group_id, started_at, ended_at FROM attempts ORDER BY group_id, started_at").fetchall()
    for a, b in zip(rows, rows[1:]):
        if a[0] == b[0]: gaps.append(b[1] - a[2])
    return {"done": done, "run": float(end) - float(start), "makespan": makespan,
            "busy_ms": busy / done * 1e3, "cost_ms": (groups * makespan - busy) / done * 1e3,
            "gap_ms": sum(gaps) / len(gaps) * 1e3 if gaps else float("nan"),
            "cpu_ms": float(cpu.group(1)) / done * 1e3 if cpu else float("nan"),
            "ahead": int(ahead.group(1)) if ahead else 0}
a, r = measure(sys.argv[3]), measure(sys.argv[4])
rows = [("points completed", "done", "{:.0f}"),
        ("points sent ahead to busy groups", "ahead", "{:.0f}"),
        ("wall time of `perflaw run` (incl. mpirun start-up), s", "run", "{:.1f}"),
        ("makespan (first attempt start to last attempt end, DB), s", "makespan", "{:.2f}"),
        ("workers' own wall time per point (results.wall_seconds), ms", "busy_ms", "{:.1f}"),
        ("orchestration cost per point = (groups x makespan - workers' time) / points, ms", "cost_ms", "{:.2f}"),
        ("gap between a group's attempt end and its next attempt start (DB), ms", "gap_ms", "{:.2f}"),
        ("rank-0 CPU per point (start-up included), ms", "cpu_ms", "{:.2f}")]
print(f"{'':84s} {'ahead 1 s (default)':>19s} {'reference (off)':>16s} {'ratio':>7s}")
for label, key, fmt in rows:
    ratio = a[key] / r[key] if r[key] else float("nan")
    print(f"{label:84s} {fmt.format(a[key]):>19s} {fmt.format(r[key]):>16s} {ratio:7.3f}")
ok = a["cost_ms"] < 5 and a["done"] == n
print(f"orchestration cost per point (policy.dispatch_ahead 1 s): {a['cost_ms']:.2f} ms, target < 5 ms: "
      f"{'MET' if ok else 'MISSED'}; with more ranks than the {os.cpu_count()} cores, ranks also wait for a core")
PY

# --- 2. mixed sizes ---------------------------------------------------------------------------------
mkdir -p "$WORK/mixed"
cat > "$WORK/mixed/sweep.yaml" <<YAML
name: bench-mixed
data:
  synthetic: {users: 400, items: 300, mean_length: 20, predictability: 0.7, seed: 2}
  max_seq_len: 20
model: {type: sasrec, heads: 1}
train: {epochs: 2, batch_size: 64, lr: 0.002}
eval: {protocol: "sampled:50", ks: [10]}
threads: 1
grid:
  model.layers: [1, 2, 3]
  model.d_model: [8, 16, 32, 48, 64]
resources: {ranks_per_point: 1, workers: $MIXED_WORKERS}
policy: {max_attempts: 1, heartbeat_interval: 10, heartbeat_timeout: 60}
law: {enabled: false}
db: results.db
work_dir: work
YAML
echo "== 2. 15 points of mixed sizes (layers 1-3 x d_model 8-64) on $MIXED_WORKERS worker ranks"
(cd "$WORK/mixed" && "$BIN/perflaw" run sweep.yaml --np "$MIXED_WORKERS" > run.log 2>&1) ||
  { tail -20 "$WORK/mixed/run.log"; exit 1; }
python3 - "$WORK/mixed/results.db" "$MIXED_WORKERS" <<'PY'
import sqlite3, sys
db, groups = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
rows = c.execute("SELECT started_at, ended_at FROM attempts WHERE exit_reason = 'completed'").fetchall()
durations = sorted((e - s for s, e in rows), reverse=True)
makespan = max(e for _, e in rows) - min(s for s, _ in rows)
loads = [0.0] * groups
for d in durations:  # LPT: longest first onto the least-loaded group
    i = loads.index(min(loads)); loads[i] += d
lpt = max(loads)
lower = max(max(durations), sum(durations) / groups)
ratio = makespan / lpt
print(f"points: {len(durations)}; durations {min(durations):.2f}-{max(durations):.2f} s (attempt spans, DB)")
print(f"measured makespan: {makespan:.2f} s | LPT schedule of the measured durations: {lpt:.2f} s "
      f"(lower bound {lower:.2f} s) | ratio {ratio:.3f} (target <= 1.10): {'MET' if ratio <= 1.10 else 'MISSED'}")
PY
