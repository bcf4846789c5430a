#!/usr/bin/env bash
# The README's main job on its embedded default: installs dependencies, builds perflaw, makes a
# seeded synthetic dataset and prints its statistics and data-quality measures per max_seq_len.
#
# Until the sweep runner lands (see docs/), this is the end-to-end path that exists: data in,
# measures out. Output goes to ./out/quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
OUT=${OUT:-$ROOT/out/quickstart}

bash scripts/install-deps.sh
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" --target perflaw -j "$(nproc)"
PERFLAW="$BUILD_DIR/bin/perflaw"

mkdir -p "$OUT"
# Two synthetic datasets that differ only in predictability, so their measures can be compared.
for q in 0.2 0.8; do
  "$PERFLAW" data synth --out "$OUT/synth-q$q.txt" --users 2000 --items 1000 --mean-length 40 \
    --predictability "$q" --seed 7
done
for q in 0.2 0.8; do
  echo
  echo "== synthetic dataset, predictability $q (seed 7) =="
  "$PERFLAW" data stats "$OUT/synth-q$q.txt" --max-seq-len 10 --max-seq-len 50 --max-seq-len 0 \
    --cache-dir "$OUT/cache"
done
