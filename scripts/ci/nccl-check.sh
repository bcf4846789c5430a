#!/usr/bin/env bash
# NCCL compile check, run by CI (ctest worker_nccl_compile_check): the worker's NCCL collectives
# (worker/collective_nccl.cc) and the code that uses them (main.cc, serve.cc with PERFLAW_WITH_NCCL)
# are built only with a CUDA LibTorch, which this machine does not have; this compiles them with
# -fsyntax-only against the CUDA toolkit's headers (cuda_runtime.h, nccl.h), with the build's own
# flags for main.cc.
#   bash scripts/ci/nccl-check.sh BUILD_DIR     # CUDA_HOME overrides /usr/local/cuda
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BUILD=$(realpath "${1:?usage: nccl-check.sh BUILD_DIR}")
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
for h in cuda_runtime.h nccl.h; do
  [[ -f $CUDA_HOME/include/$h ]] ||
    { echo "nccl-check: $CUDA_HOME/include/$h not found (set CUDA_HOME to a CUDA toolkit with NCCL's headers)" >&2; exit 1; }
done
echo "nccl-check: NCCL $(sed -n 's/^#define NCCL_VERSION_CODE \([0-9]*\)/\1/p' "$CUDA_HOME/include/nccl.h"), CUDA headers in $CUDA_HOME/include"

# main.cc's compile command (it has MPI's and LibTorch's include dirs and PERFLAW_WITH_MPI) as the
# template for the three files.
IFS=$'\t' read -r dir compiler flags _ < <(
  python3 "$ROOT/scripts/ci/compile_commands.py" "$BUILD/compile_commands.json" "$ROOT" worker/main.cc) || true
[[ -n ${compiler:-} ]] || { echo "nccl-check: worker/main.cc not in $BUILD/compile_commands.json" >&2; exit 1; }
cmd="$compiler $flags"
failed=0
for f in worker/collective_nccl.cc worker/main.cc worker/serve.cc; do
  if log=$(cd "$dir" && eval "$cmd -DPERFLAW_WITH_NCCL=1 -DPERFLAW_WITH_MPI=1 -isystem $CUDA_HOME/include -fsyntax-only $ROOT/$f" 2>&1); then
    echo "ok   $f"
  else
    echo "FAIL $f"; echo "$log"; failed=1
  fi
done
[[ $failed -eq 0 ]] || { echo "nccl-check: FAILED" >&2; exit 1; }
echo "nccl-check: the NCCL collectives and their users compile against CUDA's headers"
