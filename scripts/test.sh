#!/usr/bin/env bash
# The README's test command: installs dependencies, configures, builds and runs every test.
#   bash scripts/test.sh            # everything
#   BUILD_DIR=build-x bash scripts/test.sh -L unit   # extra args go to ctest
source "$(dirname "$0")/lib/setup.sh"

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD_DIR" -j "$JOBS"

# Tests run as root here; OpenMPI refuses that unless told it is intended.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# The `slurm` tests submit to a real single-node Slurm started here (as root; stopped on exit). Without
# it SLURM_CONF stays unset and those tests fail rather than skip.
# A local Slurm that was already running is left running.
if [ "$(id -u)" -eq 0 ] && [ -z "${SLURM_CONF:-}" ]; then
  if ! bash scripts/slurm/local-slurm.sh status >/dev/null 2>&1; then
    trap 'bash scripts/slurm/local-slurm.sh stop || true' EXIT
  fi
  if slurm_env=$(bash scripts/slurm/local-slurm.sh start); then
    eval "$(grep '^export SLURM_CONF=' <<<"$slurm_env")"
  else
    echo "test.sh: the local Slurm did not start; the slurm tests will fail" >&2
  fi
fi

ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" "$@"
