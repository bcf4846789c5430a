#!/usr/bin/env bash
# Allocator benchmark (issue 20, item 1): the reference point (configs/points/sasrec-amazon-video.json,
# EPOCHS epochs, THREADS threads) trained by the same perflaw-worker under four allocators, side by
# side in one invocation:
#   glibc     glibc's defaults (--heap glibc): the reference
#   tuned     glibc set up by the worker at start-up (--heap tuned, the default; worker/heap.h)
#   jemalloc  Debian's libjemalloc2, preloaded (with --heap glibc)
#   tcmalloc  Debian's libtcmalloc-minimal4, preloaded (with --heap glibc)
# Prints per allocator: every epoch's train seconds, the worst epoch over the median epoch (target
# <= 1.3), the whole run's wall seconds and its ratio to glibc's, peak RSS, and test NDCG@10 (the same
# for all: the allocator must not change results). Installs the two allocator packages if missing.
#   bash scripts/bench/heap.sh [BIN_DIR]     (default build/bin; about 2 minutes on 2 idle cores)
# Environment: EPOCHS (default 3), THREADS (default: nproc), DATA (default ../shared/data/amazon-video.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BIN=$(cd "${1:-build/bin}" && pwd)
EPOCHS=${EPOCHS:-3}
THREADS=${THREADS:-$(nproc)}
DATA=${DATA:-$ROOT/../shared/data/amazon-video.txt}
[[ -x "$BIN/perflaw-worker" ]] || { echo "heap.sh: no perflaw-worker in $BIN (build first)" >&2; exit 2; }
[[ -f "$DATA" ]] || { echo "heap.sh: no dataset $DATA" >&2; exit 2; }
LIBDIR=/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
JEMALLOC=$LIBDIR/libjemalloc.so.2
TCMALLOC=$LIBDIR/libtcmalloc_minimal.so.4
if [[ ! -f "$JEMALLOC" || ! -f "$TCMALLOC" ]]; then
  SUDO=; [[ $(id -u) = 0 ]] || SUDO=sudo
  $SUDO apt-get install -y -qq libjemalloc2 libtcmalloc-minimal4 > /dev/null
fi
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

python3 - "$ROOT/configs/points/sasrec-amazon-video.json" "$DATA" "$EPOCHS" "$THREADS" "$OUT/point.json" <<'PY'
import json, sys
src, data, epochs, threads, out = sys.argv[1:]
p = json.load(open(src))
p["data"]["path"] = data
p["train"]["epochs"] = int(epochs)
p["threads"] = int(threads)
json.dump(p, open(out, "w"))
PY

# One run: NAME HEAP [PRELOAD]. Wall time and peak RSS of the worker from its rusage.
run() {
  local name=$1 heap=$2 preload=${3:-}
  python3 - "$OUT/$name" "$preload" "$BIN/perflaw-worker" --heap "$heap" train \
    --point "$OUT/point.json" --out "$OUT/$name.json" --cache-dir "$OUT/cache" <<'PY'
import os, resource, subprocess, sys, time
out, preload, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
env = dict(os.environ)
if preload:
    env["LD_PRELOAD"] = preload
t = time.monotonic()
subprocess.run(cmd, env=env, check=True)
wall = time.monotonic() - t
rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
open(out + ".run", "w").write(f"{wall} {rss_kib}\n")
PY
}

# The dataset cache is built once (a 1-epoch run), before the measured runs, so that none pays for it.
python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); p["train"]["epochs"]=1; json.dump(p, open(sys.argv[2],"w"))' \
  "$OUT/point.json" "$OUT/warm-point.json"
"$BIN/perflaw-worker" train --point "$OUT/warm-point.json" --out "$OUT/warm.json" --cache-dir "$OUT/cache" > /dev/null
run glibc glibc
run tuned tuned
run jemalloc glibc "$JEMALLOC"
run tcmalloc glibc "$TCMALLOC"

python3 - "$OUT" "$EPOCHS" "$THREADS" <<'PY'
import json, statistics, sys
out, epochs, threads = sys.argv[1], sys.argv[2], sys.argv[3]
rows = []
for name in ["glibc", "tuned", "jemalloc", "tcmalloc"]:
    r = json.load(open(f"{out}/{name}.json"))
    wall, rss = open(f"{out}/{name}.run").read().split()
    secs = [e["train_seconds"] for e in r["epochs"]]
    t = r["test"]
    rows.append((name, secs, max(secs) / statistics.median(secs), float(wall), int(rss) / 1024,
                 t["ndcg@10"], t["protocol"], t["split"]))
base = rows[0][3]
print(f"reference point sasrec d50 L50 2 blocks, amazon-video, {epochs} epochs, {threads} threads, seed 0")
print(f"{'allocator':<10} {'epoch train seconds':<28} {'worst/median':>12} {'wall s':>8} "
      f"{'vs glibc':>8} {'peak RSS MiB':>12}  test NDCG@10")
for name, secs, ratio, wall, rss, ndcg, protocol, split in rows:
    epochs_txt = " ".join(f"{s:.2f}" for s in secs)
    print(f"{name:<10} {epochs_txt:<28} {ratio:>12.2f} {wall:>8.1f} {wall / base:>8.2f} "
          f"{rss:>12.0f}  {ndcg:.4f} ({protocol}, {split}, seed 0)")
PY
