#!/usr/bin/env bash
# GPU benchmark of perflaw-worker (issue "GPU verification on the H200"), side by side in one call:
#   1. the reference configuration (configs/points/sasrec-amazon-video.json: sasrec, d 50, 2 blocks,
#      L 50, amazon-video, sampled:100 on 10,000 users) on the GPU, perflaw-worker in fp32 and bf16
#      against the Python twin (scripts/bench/train_twin.py, the same model in PyTorch, fp32, same GPU):
#      s/epoch and test HR@10/NDCG@10 of each, after the same number of epochs;
#   2. a large configuration (llama, d 1024, 16 layers, 16 heads, SwiGLU 8/3, L 200, sampled softmax
#      with 32 negatives, bf16) on synthetic long sequences: training tokens/s and model FLOP
#      utilisation (formula in docs/gpu.md), against the datasheet's bf16 peak and the bf16 matrix
#      product rate measured in this call;
#   3. full-ranking evaluation of every amazon-video user (31,013 x 23,715 items) on the GPU: seconds.
# Run by scripts/gpu/device-check.sh (needs python3 with torch for the twin and the summary):
#   bash scripts/gpu/bench.sh BIN_DIR OUT_DIR [DATA_DIR]
# Writes OUT_DIR/bench.txt (every log and the summary table) and OUT_DIR/bench.json (the figures).
# A run that fails or times out is reported as such; the others still run. A CPU smoke run of the
# script itself (no figures worth reading): DEVICE=cpu EPOCHS=1 LARGE_D=32 LARGE_LAYERS=1 LARGE_USERS=300
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$(pwd)
BIN=$(realpath "$1")
OUT=$(realpath "$2")
DATA=$(realpath "${3:-$ROOT/../shared/data}")
EPOCHS=${EPOCHS:-5}             # epochs of the reference runs (worker and twin alike)
LARGE_EPOCHS=${LARGE_EPOCHS:-2} # the second epoch's rate is the figure (the first warms up)
RUN_TIMEOUT=${RUN_TIMEOUT:-100} # seconds per run at most
BUDGET=${BENCH_BUDGET:-600}     # seconds for everything: a run gets what is left (the summary keeps 8)
export DEVICE=${DEVICE:-cuda} LARGE_D=${LARGE_D:-1024} LARGE_LAYERS=${LARGE_LAYERS:-16}
export LARGE_USERS=${LARGE_USERS:-12000}
PYTHON=${PYTHON:-python3}  # with torch (the twin, the matrix-product rate); the GPU machine's python3 has it
LOG=$OUT/bench.txt
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
: > "$LOG"

say() { echo "$*" | tee -a "$LOG"; }
# run NAME CMD...: logs the command's output to bench.txt, records its exit status in WORK/NAME.rc;
# skipped when BUDGET has less than 10 s left for it.
run() {
  local name=$1
  shift
  local left=$((BUDGET - SECONDS - 8))
  local t=$((left < RUN_TIMEOUT ? left : RUN_TIMEOUT))
  if ((t < 10)); then
    say "== $name: skipped, ${left} s of the ${BUDGET} s budget left"
    return
  fi
  say "== $name (timeout ${t} s): $*"
  local start=$SECONDS
  timeout -k 5 "$t" "$@" >> "$LOG" 2>&1
  local rc=$?
  echo "$rc" > "$WORK/$name.rc"
  say "== $name: exit $rc after $((SECONDS - start)) s"
}

python3 - "$ROOT" "$DATA" "$WORK" "$EPOCHS" "$LARGE_EPOCHS" <<'PY'
import json, os, random, sys
root, data, work, epochs, large_epochs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
device = os.environ["DEVICE"]
ref = json.load(open(root + "/configs/points/sasrec-amazon-video.json"))
ref["data"]["path"] = data + "/amazon-video.txt"
ref["train"]["epochs"] = epochs
ref["device"] = device
ref["threads"] = 0
for precision in ("fp32", "bf16"):
    p = json.loads(json.dumps(ref))
    p["train"]["precision"] = precision
    json.dump(p, open(f"{work}/ref-{precision}.json", "w"))
full = json.loads(json.dumps(ref))
full["train"]["epochs"] = 1
full["eval"] = {"protocol": "full", "users": 0}
json.dump(full, open(f"{work}/full.json", "w"))
# Synthetic long sequences for the large model: 12,000 users of 150-250 items out of 20,000.
rng = random.Random(0)
with open(f"{work}/long.txt", "w") as f:
    for u in range(1, int(os.environ["LARGE_USERS"]) + 1):
        f.write("".join(f"{u} {rng.randint(1, 20000)}\n" for _ in range(rng.randint(150, 250))))
large = {"data": {"path": f"{work}/long.txt", "format": "sasrec", "max_seq_len": 200},
         "model": {"type": "llama", "layers": int(os.environ["LARGE_LAYERS"]),
                   "d_model": int(os.environ["LARGE_D"]), "heads": 16, "dropout": 0.0,
                   "ffn_multiplier": 2.6667},
         "train": {"epochs": large_epochs, "batch_size": 256, "optimizer": "adamw", "lr": 3e-4,
                   "loss": "sampled_softmax", "negatives": 32, "precision": "bf16"},
         "eval": {"protocol": "sampled:100", "users": 1000, "ks": [10]},
         "device": device}
json.dump(large, open(f"{work}/large.json", "w"))
# Where the large model's time goes: the same model on the first 3,000 users (12 steps an epoch)
# without the sampled softmax (bce, one negative), and with half the batch.
with open(f"{work}/long.txt") as src, open(f"{work}/long3k.txt", "w") as dst:
    for line in src:
        if int(line.split()[0]) > 3000:
            break
        dst.write(line)
for name, train in (("large-bce", {"loss": "bce", "negatives": 1}), ("large-b128", {"batch_size": 128})):
    p = json.loads(json.dumps(large))
    p["data"]["path"] = f"{work}/long3k.txt"
    p["train"].update(train)
    json.dump(p, open(f"{work}/{name}.json", "w"))
PY

say "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null)"
run matmul "$PYTHON" -c '
import json, time, torch
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16); b = torch.randn_like(a)
for _ in range(3): a @ b
torch.cuda.synchronize(); t = time.perf_counter()
for _ in range(10): a @ b
torch.cuda.synchronize(); s = (time.perf_counter() - t) / 10
print(json.dumps({"bf16_matmul_tflops": 2 * 8192**3 / s / 1e12}))' 
"$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' >> "$LOG" 2>&1

# In order of what the issue needs most, should the budget run out: the worker at its default (bf16),
# the full ranking, the large model, the twin, then the worker in fp32 (the twin's arithmetic).
run worker-ref-bf16 "$BIN/perflaw-worker" train --point "$WORK/ref-bf16.json" \
  --out "$WORK/ref-bf16.result.json" --cache-dir "$WORK/cache"
run full-ranking "$BIN/perflaw-worker" train --point "$WORK/full.json" --out "$WORK/full.result.json" \
  --cache-dir "$WORK/cache"
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -lms 1000 \
  > "$WORK/smi.csv" 2>/dev/null &
SMI=$!
run large "$BIN/perflaw-worker" train --point "$WORK/large.json" --out "$WORK/large.result.json" \
  --cache-dir "$WORK/cache"
kill "$SMI" 2>/dev/null
run twin env PYTHONUNBUFFERED=1 "$PYTHON" "$ROOT/scripts/bench/train_twin.py" "$DATA/amazon-video.txt" \
  --epochs "$EPOCHS" --eval --device "$DEVICE" --out "$WORK/twin.json"
run worker-ref-fp32 "$BIN/perflaw-worker" train --point "$WORK/ref-fp32.json" \
  --out "$WORK/ref-fp32.result.json" --cache-dir "$WORK/cache"
for v in large-bce large-b128; do
  run "$v" "$BIN/perflaw-worker" train --point "$WORK/$v.json" --out "$WORK/$v.result.json" \
    --cache-dir "$WORK/cache"
done

python3 - "$WORK" "$OUT/bench.json" "$EPOCHS" <<'PY' 2>&1 | tee -a "$LOG"
import json, os, re, sys
work, out, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
def load(name):
    try:
        return json.load(open(f"{work}/{name}"))
    except Exception as e:
        return None
figures = {}
log = open(os.path.dirname(out) + "/bench.txt").read()
m = re.search(r'\{"bf16_matmul_tflops": ([0-9.]+)\}', log)
measured_peak = float(m.group(1)) if m else None
figures["bf16_matmul_tflops_measured"] = measured_peak
print("\n== summary (test split; sampled:100 on 10,000 users unless said; seed 0)")
for p in ("fp32", "bf16"):
    r = load(f"ref-{p}.result.json")
    if not r or r.get("status") != "ok":
        print(f"worker reference {p}: no result ({r and r.get('message')})"); continue
    ep = r["epochs"]
    spe = sum(e["train_seconds"] for e in ep) / len(ep)
    figures[f"worker_ref_{p}"] = {"s_per_epoch": spe, "epochs": len(ep), "test_hr10": r["test"]["hr@10"],
                                  "test_ndcg10": r["test"]["ndcg@10"], "device": r["device"],
                                  "attention": r["attention"], "precision": r["precision"],
                                  "eval_seconds_per_epoch": sum(e["eval_seconds"] for e in ep) / len(ep)}
    print(f"perflaw-worker {p} ({r['attention']}): {spe:.2f} s/epoch over {len(ep)} epochs, "
          f"test HR@10 {r['test']['hr@10']:.4f} NDCG@10 {r['test']['ndcg@10']:.4f} "
          f"(best valid epoch {r['best_epoch']}); validation {figures[f'worker_ref_{p}']['eval_seconds_per_epoch']:.2f} s/epoch")
t = load("twin.json")
if t:
    figures["twin"] = {"s_per_epoch": t["wall_seconds_per_epoch"], "epochs": len(t["epochs"]),
                       "test_hr10": t.get("test_hr10"), "test_ndcg10": t.get("test_ndcg10")}
    print(f"Python twin fp32 (PyTorch eager): {t['wall_seconds_per_epoch']:.2f} s/epoch over {len(t['epochs'])} epochs, "
          f"test HR@10 {t.get('test_hr10', float('nan')):.4f} NDCG@10 {t.get('test_ndcg10', float('nan')):.4f} (last epoch)")
    for p in ("fp32", "bf16"):
        if f"worker_ref_{p}" in figures:
            print(f"  twin / worker {p}: {t['wall_seconds_per_epoch'] / figures[f'worker_ref_{p}']['s_per_epoch']:.2f}x")
else:
    print("Python twin: no result")
f = load("full.result.json")
if f and f.get("epochs"):
    e = f["epochs"][0]
    figures["full_ranking"] = {"seconds": e["eval_seconds"], "users": e["valid"]["users"], "items": f["dataset"]["items"]}
    print(f"full-ranking evaluation (valid split, all {e['valid']['users']} users x {f['dataset']['items']} items): "
          f"{e['eval_seconds']:.2f} s on {f['device']}")
else:
    print(f"full-ranking evaluation: no result ({f and f.get('message')})")
def mfu_of(g, label):
    c = g["config"]
    d, layers, L = c["model"]["d_model"], c["model"]["layers"], c["data"]["max_seq_len"]
    h = round(c["model"]["ffn_multiplier"] * d)
    k = c["train"]["negatives"]
    n = layers * (4 * d * d + 3 * d * h)  # q, k, v, o and the SwiGLU gate, up, down matrices
    flops_per_token = 6 * n + 12 * layers * d * L + 6 * (1 + k) * d
    ep = g["epochs"]
    rate = g["tokens_seen"] / len(ep) / ep[-1]["train_seconds"]
    peak = 989.4e12
    f = {"tokens_per_second": rate, "tokens_per_second_all_epochs": g["tokens_per_second"],
         "non_embedding_matmul_params": n, "flops_per_token": flops_per_token,
         "mfu_datasheet": flops_per_token * rate / peak,
         "mfu_measured_peak": flops_per_token * rate / (measured_peak * 1e12) if measured_peak else None,
         "epoch_seconds": [e["train_seconds"] for e in ep], "status": g["status"], "loss": c["train"]["loss"],
         "negatives": k, "batch_size": c["train"]["batch_size"], "attention": g["attention"],
         "precision": g["precision"], "steps": g["steps"],
         "step_seconds": ep[-1]["train_seconds"] / (g["steps"] / len(ep))}
    print(f"{label}: llama d {d} x {layers} layers, L {L}, batch {c['train']['batch_size']} users, "
          f"{c['train']['loss']} with {k} negatives, {g['precision']} ({g['attention']}): "
          f"{rate:,.0f} training tokens/s in epoch {len(ep)} ({f['step_seconds']:.3f} s/step); "
          f"{flops_per_token / 1e9:.3f} GFLOP/token -> MFU {100 * f['mfu_datasheet']:.1f}% of 989.4 TFLOP/s"
          + (f", {100 * f['mfu_measured_peak']:.1f}% of the measured {measured_peak:.0f} TFLOP/s" if measured_peak else ""))
    return f
g = load("large.result.json")
if g and g.get("epochs"):
    figures["large"] = mfu_of(g, "large")
    try:
        rows = [l.split(",") for l in open(f"{work}/smi.csv") if l.strip()]
        util = [float(r[1].strip().split()[0]) for r in rows]
        mem = [float(r[2].strip().split()[0]) for r in rows]
        figures["large"]["gpu_util_mean"] = sum(util) / len(util)
        figures["large"]["gpu_mem_max_mib"] = max(mem)
        print(f"  nvidia-smi during the run: mean utilisation {sum(util) / len(util):.0f}%, max memory {max(mem):.0f} MiB")
    except Exception:
        pass
else:
    print(f"large configuration: no result ({g and g.get('message')})")
for v in ("large-bce", "large-b128"):
    g = load(f"{v}.result.json")
    if g and g.get("epochs"):
        figures[v] = mfu_of(g, v + " (3,000 users)")
    else:
        print(f"{v}: no result ({g and g.get('message')})")
for name in ("matmul", "worker-ref-fp32", "worker-ref-bf16", "twin", "full-ranking", "large", "large-bce",
             "large-b128"):
    try:
        figures.setdefault("exit_codes", {})[name] = int(open(f"{work}/{name}.rc").read())
    except Exception:
        figures.setdefault("exit_codes", {})[name] = None
json.dump(figures, open(out, "w"), indent=1)
PY
