#!/usr/bin/env bash
# Thread-pool benchmark: the reference point (configs/points/sasrec-amazon-video.json, d 50) and a
# wider model (d 256, 4 heads, a quarter of the users), EPOCHS epochs each, trained with `threads`
# 1 and 2 by perflaw-worker, and by BASELINE_WORKER (an earlier build) side by side in the same
# invocation when given. Prints the mean train seconds per epoch (wall and CPU) and test NDCG@10.
#   bash scripts/bench/threads.sh [BIN_DIR]          (default build/bin; about 3 minutes on 2 cores)
# Environment: EPOCHS (default 2), BASELINE_WORKER (optional), DATA (default ../shared/data/amazon-video.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BIN=$(cd "${1:-build/bin}" && pwd)
EPOCHS=${EPOCHS:-2}
DATA=${DATA:-$ROOT/../shared/data/amazon-video.txt}
[[ -x "$BIN/perflaw-worker" ]] || { echo "threads.sh: no perflaw-worker in $BIN (build first)" >&2; exit 2; }
[[ -f "$DATA" ]] || { echo "threads.sh: no dataset $DATA" >&2; exit 2; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
WORKERS=("worker=$BIN/perflaw-worker")
[[ -n "${BASELINE_WORKER:-}" ]] && WORKERS+=("baseline=$BASELINE_WORKER")

python3 - "$ROOT/configs/points/sasrec-amazon-video.json" "$DATA" "$EPOCHS" "$OUT" <<'PY'
import json, sys
point, data, epochs, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
for name, d, heads, fraction in (("d50", 50, 1, 1.0), ("d256", 256, 4, 0.25)):
    for threads in (1, 2):
        p = json.load(open(point))
        p["data"]["path"] = data
        if fraction < 1: p["data"]["user_fraction"] = fraction
        p["model"]["d_model"], p["model"]["heads"] = d, heads
        p["train"]["epochs"] = epochs
        p["eval"]["users"] = 1000
        p["threads"] = threads
        json.dump(p, open(f"{out}/{name}-t{threads}.json", "w"))
PY
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
for config in d50-t1 d50-t2 d256-t1 d256-t2; do
  for w in "${WORKERS[@]}"; do
    "${w#*=}" train --point "$OUT/$config.json" --out "$OUT/$config-${w%%=*}.json" \
      --cache-dir "$OUT/cache" > /dev/null
  done
done
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$OUT" "${WORKERS[@]}" <<'PY'
import json, os, sys
out, workers = sys.argv[1], [w.split("=", 1)[0] for w in sys.argv[2:]]
print(f"{'config':<10}{'threads':>8}  " + "".join(f"{w + ' s/epoch wall (CPU)':>30}" for w in workers) + "   test NDCG@10 (sampled:100, 1000 users, seed 0)")
for name in ("d50", "d256"):
    for t in (1, 2):
        cells, ndcg = [], []
        for w in workers:
            r = json.load(open(f"{out}/{name}-t{t}-{w}.json"))
            ep = r["epochs"]
            wall = sum(e["train_seconds"] for e in ep) / len(ep)
            cpu = sum(e["train_cpu_seconds"] for e in ep) / len(ep)
            cells.append(f"{wall:.2f} ({cpu:.2f})")
            ndcg.append(f"{r['test']['ndcg@10']:.4f}")
        print(f"{name:<10}{t:>8}  " + "".join(f"{c:>30}" for c in cells) + "   " + " / ".join(ndcg))
PY
