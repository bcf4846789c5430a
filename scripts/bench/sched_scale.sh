#!/usr/bin/env bash
# The scheduler at cluster scale, simulated (issue 20 item 4): the real run logic (ExecuteRun with
# a real SQLite results database, the database listener and the scheduler) on the fake clock and
# fake transport, 1,024 worker groups and 100,000 points whose simulated training time follows a
# cost model (non-embedding params x tokens, lognormal noise, median point 20 minutes), groups
# failing at random (1% per busy group-hour, retried) and heartbeats every 60 s. Prints, side by
# side with the targets: the makespan against the LPT makespan of the actual attempt durations
# (target <= 1.05), rank 0's CPU time in total, per point and as a fraction of a core over the
# simulated makespan and over its worst simulated hour (target < 0.2), attempts started and failed,
# the database size, and the wall time. About 6 minutes on 2 cores at full scale (2 GB of memory);
# --groups 32 --points 2000 takes 8 s. Builds nothing.
#   bash scripts/bench/sched_scale.sh [PATH/TO/perflaw_scheduler_sim (from the repository root)] [OPTIONS]
#   OPTIONS: --groups N --points N (a multiple of 100) --failure-rate R --seed S   (small: --groups 32
#   --points 2000)
set -euo pipefail
cd "$(dirname "$0")/../.."
SIM=build/bin/perflaw_scheduler_sim
if [[ $# -gt 0 && "$1" != --* ]]; then
  SIM=$1
  shift
fi
if [[ ! -x "$SIM" ]]; then
  echo "sched_scale.sh: no simulator at '$SIM' (build the project first, or pass its path)" >&2
  exit 2
fi
"$SIM" "$@"
