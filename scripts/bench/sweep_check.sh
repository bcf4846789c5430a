#!/usr/bin/env bash
# `perflaw sweep check` on a large grid, this build against a reference build side by side in one
# invocation (alternating runs, so that both see the same machine load): wall seconds and peak RSS
# of each run, their medians and the ratios reference / this. The grid is growth.sh's: layers x
# d_model on a small synthetic dataset (sweep_grid.py), every point listed.
#   bash scripts/bench/sweep_check.sh BIN_DIR REF_BIN_DIR [POINTS]    (POINTS default 100000)
# Environment: REPS (runs of each build, default 3).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$(cd "${1:?usage: sweep_check.sh BIN_DIR REF_BIN_DIR [POINTS]}" && pwd)
REF=$(cd "${2:?usage: sweep_check.sh BIN_DIR REF_BIN_DIR [POINTS]}" && pwd)
POINTS=${3:-100000}
REPS=${REPS:-3}
for b in "$BIN" "$REF"; do
  [[ -x "$b/perflaw" ]] || { echo "sweep_check.sh: no perflaw in $b (build first)" >&2; exit 2; }
done
[[ "$POINTS" =~ ^[0-9]+$ && "$POINTS" -ge 1000 && $((POINTS % 100)) -eq 0 ]] ||
  { echo "sweep_check.sh: POINTS must be a multiple of 100, at least 1000, got '$POINTS'" >&2; exit 2; }
[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || { echo "sweep_check.sh: REPS must be >= 1, got '$REPS'" >&2; exit 2; }
WORK=$(mktemp -d /tmp/perflaw-bench-sweep-check.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

python3 - "$BIN/perflaw" "$REF/perflaw" "$POINTS" "$REPS" "$WORK" <<'PY'
import os, statistics, subprocess, sys, time

THIS, REF, POINTS, REPS, WORK = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
sys.path.insert(0, "scripts/bench")  # the working directory is the repository's root
import sweep_grid
path = sweep_grid.write(f"{WORK}/grid.yaml", POINTS)


def measure(exe):
    """(wall seconds, peak RSS MiB) of one `sweep check`, its listing discarded."""
    start = time.monotonic()
    proc = subprocess.Popen([exe, "sweep", "check", path], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"sweep_check.sh: {exe} sweep check failed:\n{proc.stderr.read()}")
    return wall, usage.ru_maxrss / 1024


runs = {"this": [], "reference": []}
for _ in range(REPS):
    runs["this"].append(measure(THIS))
    runs["reference"].append(measure(REF))
print(f"perflaw sweep check, {POINTS:,} points (layers x d_model), {REPS} runs each, alternating; "
      f"load average {os.getloadavg()[0]:.2f}")
print(f"  {'build':<10} {'wall s (each run)':<28} {'median s':>9} {'us/point':>9} {'peak RSS MiB':>13}")
med = {}
for name, exe in (("this", THIS), ("reference", REF)):
    walls = [w for w, _ in runs[name]]
    rss = max(r for _, r in runs[name])
    med[name] = (statistics.median(walls), rss)
    print(f"  {name:<10} {' '.join(f'{w:.2f}' for w in walls):<28} {med[name][0]:>9.2f} "
          f"{med[name][0] / POINTS * 1e6:>9.1f} {rss:>13.0f}")
print(f"  reference / this: time {med['reference'][0] / med['this'][0]:.2f}x, "
      f"peak RSS {med['reference'][1] / med['this'][1]:.2f}x")
print(f"  this: {THIS}\n  reference: {REF}")
PY
