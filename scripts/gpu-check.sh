#!/usr/bin/env bash
# GPU machines only (not part of the tests): builds perflaw-worker against a CUDA LibTorch and runs one
# short training on cuda:0, printing its throughput.
#   bash scripts/gpu-check.sh                      # Torch_DIR from the python3 torch install
#   Torch_DIR=/path/to/share/cmake/Torch bash scripts/gpu-check.sh
# Header-only dependencies that such machines may lack can be pointed to with nlohmann_json_DIR (CMake
# config dir) and CLI11_INCLUDE_DIR (the folder holding CLI/CLI.hpp). MPI is used when CMake finds it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-gpu}
if [[ -z "${Torch_DIR:-}" ]]; then
  Torch_DIR="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')/Torch"
fi
python3 -c 'import torch; assert torch.cuda.is_available(), "no CUDA device"; print("device:", torch.cuda.get_device_name(0))'

EXTRA=()
[[ -n "${nlohmann_json_DIR:-}" ]] && EXTRA+=("-Dnlohmann_json_DIR=$nlohmann_json_DIR")
[[ -n "${CLI11_INCLUDE_DIR:-}" ]] && EXTRA+=("-DCMAKE_CXX_FLAGS=-isystem $CLI11_INCLUDE_DIR")
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DTorch_DIR="$Torch_DIR" \
  -DPERFLAW_BUILD_ORCHESTRATOR=OFF -DPERFLAW_BUILD_TESTS=OFF "${EXTRA[@]}"
cmake --build "$BUILD_DIR" --target perflaw-worker -j "$(nproc)"
# worker/collective_nccl.cc is built only with a CUDA LibTorch, MPI and NCCL (see worker/CMakeLists.txt);
# the trainer does not use it yet, so this only shows that it compiles and links there.
if [[ -f "$BUILD_DIR/worker/CMakeFiles/perflaw_worker_lib.dir/collective_nccl.cc.o" ]]; then
  echo "NCCL collectives (worker/collective_nccl.cc): compiled"
else
  echo "NCCL collectives (worker/collective_nccl.cc): not compiled (no CUDA LibTorch, MPI or NCCL found)"
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# A synthetic SASRec-format dataset (20,000 users, 5,000 items, ~30 items each) so the check needs no files.
python3 - "$WORK/data.txt" <<'PY'
import random, sys
rng = random.Random(0)
with open(sys.argv[1], "w") as f:
    for u in range(1, 20001):
        item = rng.randint(1, 5000)
        for _ in range(rng.randint(5, 60)):
            item = (item * 7 + rng.randint(1, 3)) % 5000 + 1 if rng.random() < 0.7 else rng.randint(1, 5000)
            f.write(f"{u} {item}\n")
PY
cat > "$WORK/point.json" <<JSON
{"data": {"path": "$WORK/data.txt", "format": "sasrec", "max_seq_len": 50},
 "model": {"type": "llama", "layers": 4, "d_model": 128, "heads": 4, "dropout": 0.1, "ffn_multiplier": 2.6667},
 "train": {"epochs": 2, "batch_size": 256, "lr": 0.001, "loss": "sampled_softmax", "negatives": 64},
 "eval": {"protocol": "full", "users": 10000}, "device": "cuda"}
JSON
"$BUILD_DIR/bin/perflaw-worker" train --point "$WORK/point.json" --out "$WORK/result.json" --cache-dir "$WORK/cache"
python3 - "$WORK/result.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"status {r['status']} on {r['device']}: {r['tokens_per_second']:.0f} training tokens/s, "
      f"{r['train_seconds'] / max(1, len(r['epochs'])):.2f} s/epoch, "
      f"full-ranking eval {r['epochs'][-1]['eval_seconds']:.2f} s for {r['epochs'][-1]['valid']['users']} users; "
      f"test NDCG@10 {r['test']['ndcg@10']:.4f} ({r['test']['protocol']})")
PY
