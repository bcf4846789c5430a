#!/usr/bin/env bash
# The GPU kit's proof (ctest gpu_kit_proof): builds perflaw-worker here the way the GPU machine will, from
# .gpu-kit alone, and trains one tiny point with it. It runs scripts/gpu/kit.sh, then
# scripts/gpu/device-check.sh's env, build, smoke and gpu stages in a private mount namespace where what
# the kit replaces (nlohmann-json, CLI11, googletest, zlib headers) and MPI are hidden under empty bind
# mounts; Debian's CPU LibTorch stands in for PyTorch's (so the gpu tests build, run and skip). Fails if
# any kit piece is missing.
#   bash tests/gpu/kit_proof.sh [WORK_DIR]     # PROOF_TESTS=0: perflaw-worker only, no test binaries
# Exit 77 (skipped) when not root (unshare -m needs it) or without ../shared/data.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${1:-/tmp/perflaw-kit-proof}
TORCH_DIR=${TORCH_DIR:-/usr/lib/x86_64-linux-gnu/cmake/Torch}

fail() { echo "kit_proof: FAIL: $*" >&2; exit 1; }
if [[ $(id -u) -ne 0 ]]; then echo "kit_proof: skipped: unshare -m needs root"; exit 77; fi
[[ -f $TORCH_DIR/TorchConfig.cmake ]] || fail "no LibTorch at $TORCH_DIR (Debian package libtorch-dev)"
# The kit copies the datasets from ../shared/data; without it (like the data tests) skip, not fail.
if [[ -z ${PROOF_SKIP_KIT:-} && ! -d ${DATA_SRC:-$ROOT/../shared/data} ]]; then
  echo "kit_proof: skipped: no ${DATA_SRC:-$ROOT/../shared/data} to copy the datasets from"; exit 77
fi

KIT=${KIT:-$ROOT/.gpu-kit}
if [[ -z ${PROOF_SKIP_KIT:-} ]]; then  # PROOF_SKIP_KIT=1: prove the kit as it is (e.g. one piece removed)
  KIT="$KIT" bash "$ROOT/scripts/gpu/kit.sh" || fail "scripts/gpu/kit.sh failed"
fi

unshare -m true 2>/dev/null || fail "unshare -m is not permitted here (needs root with CAP_SYS_ADMIN)"

mkdir -p "$WORK"
rm -rf "$WORK/out"  # a fresh report; the build folder is kept, as on a warm device
mkdir -p "$WORK/empty-dir" "$WORK/out"
: >"$WORK/empty-file"
chmod 0644 "$WORK/empty-file"  # not executable: a hidden mpicc/mpirun is then not found on PATH

# What the GPU machine lacks. Files are hidden by an empty file mounted over them (mount follows a
# symlink, so /usr/bin/mpicc hides the opal_wrapper it points to, which is the point).
HIDE_DIRS=(/usr/include/nlohmann /usr/include/CLI /usr/include/gtest /usr/include/gmock
           /usr/share/cmake/nlohmann_json /usr/share/cmake/CLI11 /usr/lib/x86_64-linux-gnu/cmake/GTest
           /usr/lib/x86_64-linux-gnu/openmpi/include)
HIDE_FILES=(/usr/include/zlib.h /usr/include/zconf.h /usr/bin/mpicc /usr/bin/mpicxx /usr/bin/mpirun
            /usr/bin/mpiexec)
export WORK KIT TORCH_DIR ROOT
export HIDE_DIRS_LIST="${HIDE_DIRS[*]}" HIDE_FILES_LIST="${HIDE_FILES[*]}"
# The test binaries cost about a minute of the ~2-3 (2 cores) and prove googletest links.
targets="" stages="env build smoke gpu"   # device-check's default targets: the worker and its tests
if [[ ${PROOF_TESTS:-1} == 0 ]]; then targets="perflaw-worker" stages="env build smoke"; fi

t0=$(date +%s)
rc=0
# shellcheck disable=SC2016  # expanded by the inner shell
BUILD_TARGETS="$targets" STAGES="$stages" unshare -m --propagation private bash -c '
  set -euo pipefail
  for d in $HIDE_DIRS_LIST; do if [[ -e $d ]]; then mount --bind "$WORK/empty-dir" "$d"; fi; done
  for f in $HIDE_FILES_LIST; do if [[ -e $f ]]; then mount --bind "$WORK/empty-file" "$f"; fi; done
  # The hiding works, or this proves nothing.
  for p in /usr/include/nlohmann/json.hpp /usr/include/CLI/CLI.hpp /usr/include/gtest/gtest.h \
           /usr/share/cmake/nlohmann_json/nlohmann_jsonConfig.cmake; do
    [[ ! -e $p ]] || { echo "kit_proof: FAIL: $p still visible in the namespace" >&2; exit 1; }
  done
  ! grep -q deflate /usr/include/zlib.h || { echo "kit_proof: FAIL: zlib.h still visible" >&2; exit 1; }
  [[ ! -x /usr/bin/mpicc && ! -x /usr/bin/mpirun ]] || { echo "kit_proof: FAIL: MPI still visible" >&2; exit 1; }
  # The machine has 2 cores, the device 16: the build gets the time it needs here.
  exec env OUT="$WORK/out" KIT="$KIT" BUILD_DIR="$WORK/build" TORCH_DIR="$TORCH_DIR" \
    STAGES="$STAGES" SMOKE_DEVICE=cpu TOTAL_TIMEOUT=1700 BUILD_TIMEOUT=1500 SMOKE_TIMEOUT=240 GPU_TEST_TIMEOUT=300 \
    bash "$ROOT/scripts/gpu/device-check.sh"
' || rc=$?
echo "kit_proof: device-check exited $rc after $(($(date +%s) - t0)) s"
[[ -f $WORK/out/summary.txt ]] || fail "device-check wrote no summary (exit $rc)"
for s in $stages; do
  grep -qE "^$s +(PASS|NO-TESTS) " "$WORK/out/summary.txt" ||
    fail "stage $s did not pass: $(grep -E "^$s " "$WORK/out/summary.txt" || echo 'not run') (logs: $WORK/out)"
done
[[ $rc -eq 0 ]] || fail "device-check exited $rc (logs: $WORK/out)"
echo "kit_proof: PASS: perflaw-worker built from .gpu-kit alone and trained a point"
