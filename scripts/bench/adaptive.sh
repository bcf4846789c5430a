#!/usr/bin/env bash
# Benchmark of adaptive rounds (issue 16): on the fake world (worker groups on a fake clock whose
# points score by a known Performance Law), the full 56-point grid that brackets every truth against
# adaptive rounds from a 3 x 3 corner, side by side in one invocation: points and simulated training
# time used, the optimum found with its 95% interval, coverage of the truth. About 15 s. Builds
# nothing.
#   bash scripts/bench/adaptive.sh [PATH/TO/perflaw_adaptive_bench]   (default build/bin/...)
set -euo pipefail
cd "$(dirname "$0")/../.."
BENCH=${1:-build/bin/perflaw_adaptive_bench}
if [[ ! -x "$BENCH" ]]; then
  echo "adaptive.sh: no benchmark executable at '$BENCH' (build the project first, or pass its path)" >&2
  exit 2
fi
start=$(date +%s.%N)
"$BENCH"
end=$(date +%s.%N)
python3 -c "print(f'wall time of the benchmark (10 simulated sweeps, real law fits): {$end - $start:.1f} s')"
