#!/usr/bin/env bash
# The README's test command: installs dependencies, configures, builds and runs every test.
#   bash scripts/test.sh            # everything
#   BUILD_DIR=build-x bash scripts/test.sh -L unit   # extra args go to ctest
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
JOBS=${JOBS:-$(nproc)}

bash scripts/install-deps.sh

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD_DIR" -j "$JOBS"

# Tests run as root here; OpenMPI refuses that unless told it is intended.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" "$@"
