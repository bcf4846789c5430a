#!/usr/bin/env bash
# Worker benchmark: quality and speed of perflaw-worker on the reference configuration
# (configs/points/sasrec-amazon-video.json: sasrec, d 50, 2 blocks, 1 head, L 50, dropout 0.5, batch 128,
# Adam 1e-3 (0.9, 0.98), 20 epochs, sampled:100 on 10,000 users), side by side with the Python twin
# (scripts/bench/train_twin.py, same model on Debian's python3-torch = the same LibTorch), and the time of
# a full-ranking evaluation of every user.
#   bash scripts/bench/train.sh                 # everything (about 10 minutes on an idle 2-core machine)
#   EPOCHS=5 TWIN_EPOCHS=2 bash scripts/bench/train.sh   # shorter
#   EVAL_ONLY=1 bash scripts/bench/train.sh     # only the full-ranking evaluation (1 training epoch + eval)
#   WORKER=build-x/bin/perflaw-worker ...        # an existing Release build instead of building build-bench
#   BASELINE_WORKER=old/bin/perflaw-worker ...   # also train an earlier build on the same point, side by
#                                                # side, and print the speed ratio (e.g. before a change)
# Targets (issue 3): test HR@10 >= 0.674 and NDCG@10 >= 0.441 (the public PyTorch SASRec after 20 epochs);
# <= 13 s per epoch (2x faster than its 26.7 s); full ranking of all 31,013 users in < 5 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
DATA=${DATA:-$ROOT/../shared/data/amazon-video.txt}
EPOCHS=${EPOCHS:-20}
TWIN_EPOCHS=${TWIN_EPOCHS:-3}
EVAL_ONLY=${EVAL_ONLY:-0}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

if [[ -z "${WORKER:-}" ]]; then  # WORKER=path/to/perflaw-worker: use that Release build as it is
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DPERFLAW_BUILD_ORCHESTRATOR=OFF > /dev/null
  cmake --build "$BUILD_DIR" --target perflaw-worker -j "$(nproc)" > /dev/null
  WORKER=$BUILD_DIR/bin/perflaw-worker
fi

python3 - "$ROOT/configs/points/sasrec-amazon-video.json" "$DATA" "$EPOCHS" "$OUT" <<'PY'
import json, sys
point, data, epochs, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
p = json.load(open(point))
p["data"]["path"] = data
p["train"]["epochs"] = epochs
json.dump(p, open(out + "/point.json", "w"))
full = json.loads(json.dumps(p))
full["train"]["epochs"] = 1
full["eval"] = {"protocol": "full", "users": 0}
json.dump(full, open(out + "/full.json", "w"))
PY

if [[ "$EVAL_ONLY" != 1 ]]; then
  echo "== perflaw-worker: reference configuration, $EPOCHS epochs"
  "$WORKER" train --point "$OUT/point.json" --out "$OUT/result.json" --cache-dir "$OUT/cache"
  if [[ -n "${BASELINE_WORKER:-}" ]]; then
    echo "== baseline perflaw-worker ($BASELINE_WORKER), $EPOCHS epochs"
    "$BASELINE_WORKER" train --point "$OUT/point.json" --out "$OUT/baseline.json" --cache-dir "$OUT/cache"
  fi
  echo "== Python twin (same model, python3-torch), $TWIN_EPOCHS epochs"
  /usr/bin/python3 "$ROOT/scripts/bench/train_twin.py" "$DATA" --epochs "$TWIN_EPOCHS" > "$OUT/twin.json" 2> "$OUT/twin.log"
fi
echo "== full-ranking evaluation of every user (1 epoch run; its validation is the full ranking)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15-min load averages) on $(nproc) cores"
"$WORKER" train --point "$OUT/full.json" --out "$OUT/full_result.json" --cache-dir "$OUT/cache"
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15-min load averages)"

python3 - "$OUT" "$EVAL_ONLY" <<'PY'
import json, os, sys
out = sys.argv[1]
f = json.load(open(out + "/full_result.json"))
fe = f["epochs"][0]
def print_full():
    print(f"full-ranking evaluation: {fe['valid']['users']} users x {f['dataset']['items']} items in "
          f"{fe['eval_seconds']:.2f} s (target < 5 s); valid HR@10 {fe['valid']['hr@10']:.4f} ({fe['valid']['protocol']})")
if sys.argv[2] == "1":
    print_full()
    sys.exit(0)
r = json.load(open(out + "/result.json"))
t = json.load(open(out + "/twin.json"))
ep = r["epochs"]
def mean(xs): return sum(xs) / len(xs)
print()
print(f"quality after {len(ep)} epochs ({r['test']['protocol']}, {r['test']['users']} users, checkpoint = best valid epoch {r['best_epoch']}):")
print(f"  test  HR@10   {r['test']['hr@10']:.4f}  (reference 0.674)  NDCG@10 {r['test']['ndcg@10']:.4f}  (reference 0.441)")
print(f"  valid HR@10   {r['valid']['hr@10']:.4f}  (reference 0.697)  NDCG@10 {r['valid']['ndcg@10']:.4f}  (reference 0.468)")
w, c = mean([e["train_seconds"] for e in ep]), mean([e["train_cpu_seconds"] for e in ep])
wmin = min(e["train_seconds"] for e in ep)
print("speed (training only, per epoch of one pass over the users):")
print(f"  perflaw-worker  wall {w:.2f} s/epoch (fastest epoch {wmin:.2f} s), CPU {c:.2f} s/epoch; "
      f"{r['tokens_per_second']:.0f} tokens/s; target <= 13 s/epoch")
tw, tc = t["wall_seconds_per_epoch"], t["cpu_seconds_per_epoch"]
print(f"  Python twin     wall {tw:.2f} s/epoch, CPU {tc:.2f} s/epoch")
if os.path.exists(out + "/baseline.json"):
    b = json.load(open(out + "/baseline.json"))
    bw = mean([e["train_seconds"] for e in b["epochs"]])
    bc = mean([e["train_cpu_seconds"] for e in b["epochs"]])
    print(f"  baseline worker wall {bw:.2f} s/epoch, CPU {bc:.2f} s/epoch; baseline/worker: wall "
          f"{bw / w:.2f}x, CPU {bc / c:.2f}x (test NDCG@10 {b['test']['ndcg@10']:.4f})")
print(f"  ratio twin/worker: wall {tw / w:.2f}x, CPU {tc / c:.2f}x  (public PyTorch SASRec: 26.7 s/epoch -> {26.7 / w:.2f}x)")
print_full()
PY
