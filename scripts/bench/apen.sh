#!/usr/bin/env bash
# Data-quality measures benchmark (issue targets, printed side by side with the reference):
#  1. ApEn + SampEn on the real datasets: perflaw (C++, 1 thread) against a direct numpy
#     transcription of the quadratic definition (scripts/bench/apen_reference.py, what the paper's
#     code does). Both compute times exclude loading. Target: >= 100x. The two means must agree.
#  2. All measures on a 10^8-interaction synthetic dataset: wall time (target < 60 s on 2 cores)
#     and peak RSS (target < 4 GiB), including loading the binary dataset.
#
#   bash scripts/bench/apen.sh [BUILD_DIR] [INTERACTIONS]     (defaults: build, 100000000)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${1:-build}
N=${2:-100000000}
PERFLAW="$BUILD_DIR/bin/perflaw"
PY=/usr/bin/python3
DATA=../shared/data
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
[ -x "$PERFLAW" ] || { echo "apen.sh: $PERFLAW not found; build first (scripts/test.sh)" >&2; exit 2; }

# field FILE EXPR: evaluates a Python expression over the JSON object `j` read from FILE.
field() { "$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

echo "== 1. ApEn + SampEn: perflaw (C++, 1 thread) vs numpy quadratic reference =="
printf '%-18s %5s %5s %12s %12s %9s %8s  %s\n' dataset L r "numpy s" "perflaw s" speedup target \
  "mean ApEn (perflaw / numpy)"
for f in ml-100k.inter amazon-video.txt; do
  [ -f "$DATA/$f" ] || { echo "skip $f: $DATA missing"; continue; }
  for L in 50 200; do
    for r in 0.2 2.5; do
      "$PY" scripts/bench/apen_reference.py "$DATA/$f" --max-seq-len "$L" --m 2 --r "$r" \
        >"$WORK/ref.json"
      "$PERFLAW" data stats "$DATA/$f" --no-cache --format json --max-seq-len "$L" --m 2 --r "$r" \
        --threads 1 --measures apen,sampen >"$WORK/ours.json"
      ref_s=$(field "$WORK/ref.json" "j['seconds']")
      our_s=$(field "$WORK/ours.json" "j['quality'][0]['measures_seconds']")
      ours_apen=$(field "$WORK/ours.json" "j['quality'][0]['apen']['mean']")
      ref_apen=$(field "$WORK/ref.json" "j['apen_mean']")
      "$PY" - "$f" "$L" "$r" "$ref_s" "$our_s" "$ours_apen" "$ref_apen" <<'PYEOF'
import sys
f, L, r, ref_s, our_s, a, b = sys.argv[1:]
ref_s, our_s, a, b = float(ref_s), float(our_s), float(a), float(b)
ratio = ref_s / max(our_s, 1e-9)
agree = abs(a - b) <= 1e-9 * max(1.0, abs(b))
print(f"{f:<18} {L:>5} {r:>5} {ref_s:12.4f} {our_s:12.5f} {ratio:8.0f}x {'>=100x':>8}"
      f"  {a:.12g} / {b:.12g} {'(agree)' if agree else '(DISAGREE)'}")
PYEOF
    done
  done
done

echo
echo "== 2. All measures on $N synthetic interactions (2 threads, binary input) =="
"$PERFLAW" data synth --out "$WORK/big.bin" --out-format binary --users $((N / 50)) --items 100000 \
  --interactions "$N" --predictability 0.5 --seed 1 >/dev/null
printf '%-10s %-6s %10s %10s %14s %10s\n' L r "wall s" target "peak RSS MiB" target
for L in 50 200; do
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$PERFLAW" data stats "$WORK/big.bin" --format json \
    --max-seq-len "$L" --threads 2 >"$WORK/big.json"
  read -r wall rss <"$WORK/time"
  printf '%-10s %-6s %10s %10s %14d %10s\n' "$L" 0.2 "$wall" "< 60" $((rss / 1024)) "< 4096"
done
echo "(measures: ApEn/SampEn m=2 r=0.2, LZ entropy, Shannon, zlib level 1; see docs/measures.md)"
