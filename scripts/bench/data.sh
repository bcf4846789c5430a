#!/usr/bin/env bash
# Dataset benchmarks: synthetic generation, binary write/read, raw parse vs cache hit.
#   bash scripts/bench/data.sh [BUILD_DIR] [INTERACTIONS]     (defaults: build, 100000000)
# Prints wall time and peak RSS of each step (GNU time).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${1:-build}
N=${2:-100000000}
PERFLAW="$BUILD_DIR/bin/perflaw"
DATA=../shared/data
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

step() {  # step LABEL CMD...: runs CMD, prints "LABEL: wall S s, peak RSS M MiB"
  local label=$1
  shift
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >/dev/null
  read -r wall rss <"$WORK/time"
  printf '%-48s wall %7.2f s   peak RSS %7.1f MiB\n' "$label:" "$wall" "$(echo "$rss / 1024" | bc -l)"
}

USERS=$((N / 100))
step "synth $N interactions -> binary" \
  "$PERFLAW" data synth --out "$WORK/big.bin" --users "$USERS" --items 100000 --interactions "$N"
printf '%-48s %s bytes (%.2f bytes per interaction)\n' "binary file size:" \
  "$(stat -c %s "$WORK/big.bin")" "$(echo "$(stat -c %s "$WORK/big.bin") / $N" | bc -l)"
step "read binary ($N interactions, prepare)" "$PERFLAW" data prepare "$WORK/big.bin"
rm -f "$WORK/big.bin"
step "synth $((N / 10)) interactions -> sasrec text" \
  "$PERFLAW" data synth --out "$WORK/mid.txt" --users "$((USERS / 10))" --items 100000 \
  --interactions "$((N / 10))"
step "parse sasrec text ($((N / 10)) interactions) + cache" \
  "$PERFLAW" data prepare "$WORK/mid.txt" --cache-dir "$WORK/cache"
step "cache hit ($((N / 10)) interactions)" \
  "$PERFLAW" data prepare "$WORK/mid.txt" --cache-dir "$WORK/cache"
rm -f "$WORK/mid.txt"
if [ -d "$DATA" ]; then
  for f in ml-100k.inter amazon-video.txt; do
    step "parse $f + cache" "$PERFLAW" data prepare "$DATA/$f" --cache-dir "$WORK/cache"
    step "cache hit $f" "$PERFLAW" data prepare "$DATA/$f" --cache-dir "$WORK/cache"
  done
fi
