#!/usr/bin/env bash
# How perflaw's costs grow (issue 20, item 3): measured figures and fitted log-log exponents
# (seconds ~ x^b; b = 1 is linear), each with the peak RSS of the process that paid it:
#   1. training: seconds of one epoch of the reference point (configs/points/sasrec-amazon-video.json,
#      THREADS threads) against users (data.user_fraction 1/8, 1/4, 1/2, 1 of amazon-video), against
#      max_seq_len L (50, 100, 200) and against d_model (32, 64, 128); expected b ~ 1 for users and
#      d_model at these sizes (the item-embedding products dominate), between 1 and 2 for L
#      (attention is L^2 per sequence, but fewer users have long histories);
#   2. full-ranking evaluation (protocol full, all users, valid split) against users x items, from
#      the same runs as the users axis: one users x items score matrix, b ~ 1;
#   3. `perflaw sweep check` against the number of points (10^3 .. POINTS_MAX, a layers x d_model
#      grid), b ~ 1 in time and memory;
#   4. rank 0's bookkeeping against the number of points: the scheduler simulation (the real run
#      logic and SQLite database on a fake transport and clock, perflaw_scheduler_sim) with 64 groups,
#      10^3 .. 10^5 points (failures 1% per group-hour), rank 0's CPU seconds (the fake transport's
#      excluded) and the database size.
#   bash scripts/bench/growth.sh [BIN_DIR]     (default build/bin; about 8 minutes on 2 idle cores,
#                                               3 of them and 6.5 GB for the 10^6-point sweep check)
# Environment: THREADS (default: nproc), POINTS_MAX (default 1000000), SIM_POINTS_MAX (the
# simulation's largest run, default 100000, at least 10000), DATA (default
# ../shared/data/amazon-video.txt), KEEP=1 (keep the work folder and print it).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BIN=$(cd "${1:-build/bin}" && pwd)
THREADS=${THREADS:-$(nproc)}
POINTS_MAX=${POINTS_MAX:-1000000}
SIM_POINTS_MAX=${SIM_POINTS_MAX:-100000}
DATA=${DATA:-$ROOT/../shared/data/amazon-video.txt}
for exe in perflaw perflaw-worker perflaw_scheduler_sim; do
  [[ -x "$BIN/$exe" ]] || { echo "growth.sh: no $exe in $BIN (build first)" >&2; exit 2; }
done
[[ -f "$DATA" ]] || { echo "growth.sh: no dataset $DATA" >&2; exit 2; }
[[ "$POINTS_MAX" =~ ^[0-9]+$ && "$POINTS_MAX" -ge 1000 ]] ||
  { echo "growth.sh: POINTS_MAX must be an integer >= 1000, got '$POINTS_MAX'" >&2; exit 2; }
[[ "$SIM_POINTS_MAX" =~ ^[0-9]+$ && "$SIM_POINTS_MAX" -ge 10000 ]] ||
  { echo "growth.sh: SIM_POINTS_MAX must be an integer >= 10000, got '$SIM_POINTS_MAX'" >&2; exit 2; }
WORK=$(mktemp -d /tmp/perflaw-bench-growth.XXXXXX)
[[ "${KEEP:-0}" = 1 ]] && echo "work folder: $WORK" || trap 'rm -rf "$WORK"' EXIT

python3 - "$BIN" "$ROOT/configs/points/sasrec-amazon-video.json" "$DATA" "$THREADS" \
  "$POINTS_MAX" "$SIM_POINTS_MAX" "$WORK" <<'PY'
import json, math, os, resource, subprocess, sys, time

BIN, REFERENCE, DATA, THREADS, POINTS_MAX, SIM_POINTS_MAX, WORK = sys.argv[1:]
sys.path.insert(0, "scripts/bench")  # the working directory is the repository's root
import sweep_grid
THREADS, POINTS_MAX, SIM_POINTS_MAX = int(THREADS), int(POINTS_MAX), int(SIM_POINTS_MAX)


def measure(cmd, stdout=subprocess.DEVNULL):
    """Runs cmd; (wall seconds, peak RSS MiB) of that child alone (wait4's rusage)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    err = proc.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"growth.sh: {' '.join(cmd)} failed:\n{err}")
    return wall, usage.ru_maxrss / 1024


def slope(xs, ys):
    """Least-squares exponent b of y = a x^b."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def train(name, fraction=1.0, max_len=50, d_model=50):
    """One epoch of the reference point; its record and the worker's peak RSS."""
    p = json.load(open(REFERENCE))
    p["data"].update(path=DATA, max_seq_len=max_len, user_fraction=fraction)
    p["model"]["d_model"] = d_model
    p["train"]["epochs"] = 1
    p["eval"] = {"protocol": "full", "users": 0, "ks": [10], "seed": 0}
    p["threads"] = THREADS
    point, out = f"{WORK}/{name}.json", f"{WORK}/{name}.result.json"
    json.dump(p, open(point, "w"))
    _, rss = measure([f"{BIN}/perflaw-worker", "train", "--point", point, "--out", out,
                      "--cache-dir", f"{WORK}/cache"])
    r = json.load(open(out))
    e = r["epochs"][0]
    return {"train_s": e["train_seconds"], "eval_s": e["eval_seconds"], "rss": rss,
            "users": e["valid"]["users"], "items": r["dataset"]["items"],
            "train_users": r["dataset"]["users"],
            "eval_threads": r["eval_threads"]}


def table(title, unit, rows, x_key, y_key):
    xs, ys = [r[x_key] for r in rows], [r[y_key] for r in rows]
    print(f"\n{title}")
    print(f"  {unit:>16} {'seconds':>9} {'peak RSS MiB':>13}")
    for r in rows:
        print(f"  {r[x_key]:>16,.0f} {r[y_key]:>9.2f} {r['rss']:>13.0f}")
    print(f"  fitted exponent: seconds ~ {unit}^{slope(xs, ys):.2f}, "
          f"peak RSS ~ {unit}^{slope(xs, [r['rss'] for r in rows]):.2f}")


# Builds the dataset cache once, so that no measured run pays for it.
train("warm", fraction=0.125)
print(f"reference point: sasrec, 2 blocks, 1 head, amazon-video, {THREADS} threads, seed 0; "
      "1 epoch each; evaluation protocol full (all items), valid split, all users")

users_rows = []
for f in (0.125, 0.25, 0.5, 1.0):
    r = train(f"users-{f}", fraction=f)
    r["fraction"] = f
    r["user_items"] = r["users"] * r["items"]
    users_rows.append(r)
base = users_rows[-1]
table("1a. train seconds per epoch against users (user_fraction 1/8 .. 1; L 50, d 50)",
      "users", users_rows, "train_users", "train_s")

len_rows = [dict(base, L=50)]
for L in (100, 200):
    r = train(f"len-{L}", max_len=L)
    r["L"] = L
    len_rows.append(r)
table("1b. train seconds per epoch against max_seq_len (all users, d 50)", "L", len_rows, "L",
      "train_s")

d_rows = []
for d in (32, 64, 128):
    r = train(f"d-{d}", d_model=d)
    r["d"] = d
    d_rows.append(r)
table("1c. train seconds per epoch against d_model (all users, L 50)", "d_model", d_rows, "d",
      "train_s")

print(f"\n2. full-ranking evaluation against users x items (L 50, d 50; "
      f"evaluation threads: {base['eval_threads']})")
print(f"  {'users':>8} {'items':>8} {'users x items':>14} {'seconds':>9}")
for r in users_rows:
    print(f"  {r['users']:>8,} {r['items']:>8,} {r['user_items']:>14,} {r['eval_s']:>9.2f}")
print(f"  fitted exponent: seconds ~ (users x items)^"
      f"{slope([r['user_items'] for r in users_rows], [r['eval_s'] for r in users_rows]):.2f}; "
      f"all users x all items: {base['eval_s']:.2f} s (target < 3 s on 2 cores)")


def grid_sweep(points):
    return sweep_grid.write(f"{WORK}/grid-{points}.yaml", points)


rows = []
n = 1000
while n <= POINTS_MAX:
    wall, rss = measure([f"{BIN}/perflaw", "sweep", "check", grid_sweep(n)])
    rows.append({"points": n, "s": wall, "rss": rss})
    n *= 10
print("\n3. perflaw sweep check against points (layers x d_model grid, listing every point)")
print(f"  {'points':>10} {'seconds':>9} {'us/point':>9} {'peak RSS MiB':>13} {'KiB/point':>10}")
for r in rows:
    print(f"  {r['points']:>10,} {r['s']:>9.2f} {r['s'] / r['points'] * 1e6:>9.1f} "
          f"{r['rss']:>13.0f} {r['rss'] * 1024 / r['points']:>10.2f}")
print(f"  fitted exponent: seconds ~ points^{slope([r['points'] for r in rows], [r['s'] for r in rows]):.2f}, "
      f"peak RSS ~ points^{slope([r['points'] for r in rows], [r['rss'] for r in rows]):.2f}")

def sim_figure(text, label):
    """The value of the simulation's row that starts with `label` (labels are 52 columns wide)."""
    for line in text.splitlines():
        if line.startswith(label):
            return float(line[52:].split()[0])
    sys.exit(f"growth.sh: the scheduler simulation printed no '{label}' row:\n{text}")


rows = []
for n in [p for p in (1000, 10000, 100000) if p <= SIM_POINTS_MAX]:
    out = f"{WORK}/sim-{n}.txt"
    with open(out, "w") as f:
        wall, rss = measure([f"{BIN}/perflaw_scheduler_sim", "--groups", "64", "--points", str(n)],
                            stdout=f)
    text = open(out).read()
    rows.append({"points": n, "cpu": sim_figure(text, "rank 0 CPU s, whole run"),
                 "db": sim_figure(text, "database MB"), "rss": rss, "wall": wall})
print("\n4. rank 0's bookkeeping against points (scheduler simulation, 64 groups, real SQLite file)")
print(f"  {'points':>10} {'rank-0 CPU s':>13} {'ms/point':>9} {'DB MB':>8} {'peak RSS MiB':>13}")
for r in rows:
    print(f"  {r['points']:>10,} {r['cpu']:>13.2f} {r['cpu'] / r['points'] * 1e3:>9.3f} "
          f"{r['db']:>8.1f} {r['rss']:>13.0f}")
xs = [r["points"] for r in rows]
print(f"  fitted exponents: rank-0 CPU ~ points^{slope(xs, [r['cpu'] for r in rows]):.2f}, "
      f"DB size ~ points^{slope(xs, [r['db'] for r in rows]):.2f}, "
      f"peak RSS ~ points^{slope(xs, [r['rss'] for r in rows]):.2f}")
PY
