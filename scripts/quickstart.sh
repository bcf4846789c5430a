#!/usr/bin/env bash
# The README's main job, from a fresh clone: installs the dependencies, builds perflaw and
# perflaw-worker, and runs configs/quickstart.yaml — 20 small SASRec models on seeded synthetic data,
# trained by 2 worker ranks (mpirun on this machine), then the law fitted and printed.
#
# Results: out/quickstart/results.db (perflaw status / results / sql / fit / report read it).
# Running it again reuses every completed point; `perflaw resume out/quickstart/results.db` continues
# an interrupted run. Environment: BUILD_DIR (default ./build), JOBS (default: all cores).
source "$(dirname "$0")/lib/setup.sh"
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" --target perflaw perflaw-worker -j "$JOBS"

echo
echo "== perflaw run configs/quickstart.yaml =="
start=$(date +%s)
status=0
"$BUILD_DIR/bin/perflaw" run configs/quickstart.yaml || status=$?
echo
echo "quickstart: perflaw run exited with code $status after $(($(date +%s) - start)) s" \
  "(0 = every point completed; see docs/running.md)"
if [ "$status" = 0 ]; then
  # Plots of every fit (PNG + SVG) and report.md with the laws, their optima and fit quality.
  "$BUILD_DIR/bin/perflaw" report out/quickstart/results.db --group-by max_seq_len \
    --out out/quickstart/report
  echo "report: out/quickstart/report/report.md"
fi
echo "next: $BUILD_DIR/bin/perflaw status out/quickstart/results.db"
echo "      $BUILD_DIR/bin/perflaw results out/quickstart/results.db --format csv"
exit "$status"
