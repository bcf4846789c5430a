#!/usr/bin/env bash
# shellcheck disable=SC2317 # the stage_* functions are called indirectly ("stage_$2")
# THE one command for the GPU machine (one H200, CUDA, a pip PyTorch in a venv, CMake and ninja from pip,
# no Debian -dev packages, maybe no MPI, no network). Run from the repository root with the kit carried:
#   OUT=/dir bash scripts/gpu/device-check.sh        # the kit: bash scripts/gpu/kit.sh (.gpu-kit/)
# Stages, each under its own timeout and logged under $OUT; a failing stage does not stop the later
# ones that do not need it; $OUT/summary.txt lists each stage's status and seconds (written as it goes):
#   env    probe the machine (compiler, CMake, ninja, nvidia-smi, torch + CUDA + C++ ABI, MPI, the kit)
#   build  googletest from the kit's sources, then perflaw-worker and its tests (no orchestrator, no MPI)
#   smoke  perflaw-worker trains 1 epoch of configs/points/sasrec-ml-100k-quick.json on $SMOKE_DEVICE
#   gpu    ctest -L gpu (the worker's CUDA tests)
#   bench  scripts/gpu/bench.sh BIN_DIR $OUT, when that script exists
#   unit   the other worker unit tests (time permitting: it gets what the total budget leaves)
# What comes back is at most 8 files: summary.txt env.log build.log test.log (smoke, gpu, unit)
# junit.xml bench.log, and bench.sh's bench.txt and bench.json; should there be more, all but
# summary.txt and bench.* are packed into logs.tar.gz at the end.
# Overrides: TORCH_DIR (TorchConfig.cmake's folder; default from python3's torch), KIT, BUILD_DIR,
# STAGES (e.g. "env build" for the CPU proof), JOBS, BUILD_TARGETS, SMOKE_DEVICE, WORKER_MPI,
# *_TIMEOUT below.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
SELF="$ROOT/scripts/gpu/device-check.sh"

# Seconds. The device grants minutes, not hours: the stages' caps sum to under 8 minutes and every
# stage is also cut to what TOTAL_TIMEOUT has left, so the run ends in time whatever happens.
: "${TOTAL_TIMEOUT:=480}"      # the caps below sum to this
: "${ENV_TIMEOUT:=30}"         # a cold `import torch` with CUDA takes a while
: "${BUILD_TIMEOUT:=180}"      # googletest + perflaw-worker + tests: 77 s on the H200 machine's 16 cores
: "${SMOKE_TIMEOUT:=20}"
: "${GPU_TEST_TIMEOUT:=40}"
: "${BENCH_TIMEOUT:=200}"      # bench.sh plans its runs within BENCH_BUDGET (10 s less)
: "${UNIT_TEST_TIMEOUT:=10}"   # at least: the unit tests also get whatever the others left
: "${TEST_TIMEOUT_EACH:=120}"  # ctest --timeout, per test

: "${OUT:?device-check: error: set OUT to the folder whose contents come back}"
: "${KIT:=$ROOT/.gpu-kit}"
: "${BUILD_DIR:=$ROOT/build-gpu}"
: "${STAGES:=env build smoke gpu bench unit}"
: "${SMOKE_DEVICE:=cuda}"
: "${WORKER_MPI:=OFF}"  # ON: MPI data parallelism (and NCCL, with a CUDA LibTorch) if the machine has MPI
: "${JOBS:=$(nproc 2>/dev/null || echo 4)}"
mkdir -p "$OUT" "$BUILD_DIR"
OUT=$(cd "$OUT" && pwd)
KIT=$(cd "$KIT" 2>/dev/null && pwd || echo "$KIT")
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
WORK="$BUILD_DIR/_device-check"     # scratch that need not come back
GTEST_PREFIX="$BUILD_DIR/_googletest/prefix"
export OUT KIT BUILD_DIR WORK GTEST_PREFIX SMOKE_DEVICE WORKER_MPI JOBS TEST_TIMEOUT_EACH ROOT

note() { echo "device-check: $*"; }

# ---------------------------------------------------------------------------------------------------
# Tools. A pip venv's console scripts (cmake, ctest, ninja) sit beside its python3, which may be on
# PATH only as an absolute path; nvcc usually lives in /usr/local/cuda/bin, off PATH.
setup_path() {
  local pybin
  if ! command -v cmake >/dev/null || ! command -v ninja >/dev/null; then
    if pybin=$(timeout 20 python3 -c 'import os, sys; print(os.path.dirname(sys.executable))' 2>/dev/null); then
      PATH="$PATH:$pybin"
    fi
  fi
  if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then PATH="$PATH:/usr/local/cuda/bin"; fi
  export PATH
}

# TORCH_DIR: the folder of TorchConfig.cmake; by default the python3 torch's (the GPU machine's LibTorch).
resolve_torch() {
  if [[ -z ${TORCH_DIR:-} ]]; then
    local prefix
    prefix=$(timeout 60 python3 -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null) || prefix=""
    [[ -n $prefix ]] && TORCH_DIR="$prefix/Torch"
  fi
  export TORCH_DIR="${TORCH_DIR:-}"
  # LibTorch's C++ ABI, which googletest and perflaw must share: TorchConfig.cmake says it.
  TORCH_ABI=""
  if [[ -f $TORCH_DIR/TorchConfig.cmake ]]; then
    TORCH_ABI=$(grep -o '_GLIBCXX_USE_CXX11_ABI=[01]' "$TORCH_DIR/TorchConfig.cmake" | head -1 | cut -d= -f2) || true
  fi
  export TORCH_ABI
}

kit_missing() {  # prints the first manifest path missing from the kit
  local rel
  while read -r rel; do
    [[ -z $rel || $rel == \#* ]] && continue
    [[ -e $KIT/$rel ]] || { echo "$rel"; return 0; }
  done <"$ROOT/scripts/gpu/kit-manifest.txt"
}

# ---------------------------------------------------------------------------------------------------
stage_env() {
  set +e  # a probe: print everything, judge at the end
  local bad=0
  echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -a)"
  grep -s PRETTY_NAME /etc/os-release
  echo "nproc $(nproc); JOBS $JOBS"; free -g; df -h "$ROOT" | tail -1
  echo "PATH=$PATH"
  echo "== GPU"
  if command -v nvidia-smi >/dev/null; then
    timeout 20 nvidia-smi
    timeout 20 nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv
  else
    echo "nvidia-smi: not found"
  fi
  if command -v nvcc >/dev/null; then echo "nvcc: $(command -v nvcc)"; nvcc --version | tail -2; else echo "nvcc: not found"; fi
  echo "== tools"
  local t p
  for t in c++ g++ gcc clang++ cmake ctest ninja make python3 mpirun mpicc; do
    p=$(command -v "$t") && [[ -x $p ]] || p="not found"  # bash names non-executable files too
    printf '%-8s %s\n' "$t" "$p"
  done
  c++ --version 2>/dev/null | head -1
  cmake --version 2>/dev/null | head -1
  ninja --version 2>/dev/null
  command -v c++ >/dev/null || command -v g++ >/dev/null || command -v clang++ >/dev/null ||
    { note "no C++ compiler (c++, g++, clang++) on PATH"; bad=1; }
  command -v cmake >/dev/null || { note "no cmake on PATH (nor beside python3)"; bad=1; }
  echo "== torch"
  timeout 60 python3 - <<'PY'
import torch
print("torch", torch.__version__, "| CUDA", torch.version.cuda, "| cuda available", torch.cuda.is_available())
print("cxx11 ABI", int(torch._C._GLIBCXX_USE_CXX11_ABI), "| cmake prefix", torch.utils.cmake_prefix_path)
print("cudnn", torch.backends.cudnn.version() if torch.cuda.is_available() else None)
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print("device 0:", p.name, f"{p.total_memory / 2**30:.0f} GiB", f"sm_{p.major}{p.minor}")
PY
  echo "python3 torch probe exit $?"
  timeout 30 python3 -m pip list 2>/dev/null | grep -iE '^(torch|nvidia-|cmake|ninja|numpy)'
  echo "TORCH_DIR=$TORCH_DIR (LibTorch C++ ABI from TorchConfig.cmake: ${TORCH_ABI:-unknown})"
  [[ -f $TORCH_DIR/TorchConfig.cmake ]] || { note "no TorchConfig.cmake in TORCH_DIR='$TORCH_DIR'"; bad=1; }
  echo "== kit $KIT"
  cat "$KIT/VERSIONS" 2>/dev/null
  du -sh "$KIT" 2>/dev/null
  local miss
  miss=$(kit_missing)
  [[ -z $miss ]] || { note "kit incomplete: $KIT/$miss is missing (run bash scripts/gpu/kit.sh and carry .gpu-kit)"; bad=1; }
  return "$bad"
}

stage_build() {
  local miss
  miss=$(kit_missing)
  [[ -z $miss ]] || { note "kit incomplete: $KIT/$miss is missing (run bash scripts/gpu/kit.sh and carry .gpu-kit)"; return 1; }
  [[ -f $TORCH_DIR/TorchConfig.cmake ]] || { note "no TorchConfig.cmake in TORCH_DIR='$TORCH_DIR'"; return 1; }
  local gen=(-G "Unix Makefiles") keep_going=(-k)
  if command -v ninja >/dev/null; then gen=(-G Ninja); keep_going=(-k 0); fi
  # A LibTorch with the old ABI needs every C++ object (googletest's too) built the same way.
  local cxxflags=""
  [[ $TORCH_ABI == 0 ]] && cxxflags="-D_GLIBCXX_USE_CXX11_ABI=0"

  note "googletest from $KIT/src/googletest into $GTEST_PREFIX"
  cmake -S "$KIT/src/googletest" -B "$BUILD_DIR/_googletest/build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$GTEST_PREFIX" -DCMAKE_INSTALL_LIBDIR=lib -DBUILD_GMOCK=ON \
    -DCMAKE_CXX_FLAGS="$cxxflags" \
    || { note "googletest: configure failed"; return 1; }
  cmake --build "$BUILD_DIR/_googletest/build" --target install -j "$JOBS" \
    || { note "googletest: build failed"; return 1; }

  # Pin the GPU's architecture: LibTorch's CUDA config otherwise probes or guesses it (no .cu here).
  local cuda=()
  local cc
  if cc=$(timeout 20 nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1) \
      && [[ $cc =~ ^[0-9]+\.[0-9]+$ ]]; then
    export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-$cc}"
    cuda=(-DCMAKE_CUDA_ARCHITECTURES="${cc/./}")
  fi
  # A pip LibTorch finds its CUDA libraries (cuDNN, cuBLAS, ...) in site-packages/nvidia/*/lib through
  # $ORIGIN run paths; tell the linker too, in case it does not follow those.
  local nvlibs
  nvlibs=$(find "$TORCH_DIR/../../../../nvidia" -mindepth 2 -maxdepth 2 -type d -name lib 2>/dev/null |
           sort | tr '\n' ':' | sed 's/:$//') || true
  [[ -n $nvlibs ]] && cuda+=(-DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$nvlibs")
  note "perflaw (worker only) with Torch_DIR=$TORCH_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DPERFLAW_BUILD_ORCHESTRATOR=OFF -DPERFLAW_WORKER_MPI="$WORKER_MPI" -DPERFLAW_BUILD_TESTS=ON \
    -DTorch_DIR="$TORCH_DIR" -DCMAKE_PREFIX_PATH="$KIT/prefix;$GTEST_PREFIX" \
    -DZLIB_ROOT="$KIT/prefix" -DZLIB_INCLUDE_DIR="$KIT/prefix/include" -DZLIB_LIBRARY="$KIT/prefix/lib/libz.a" \
    -DPERFLAW_SHARED_DATA_DIR="$KIT/data" -DCMAKE_CXX_FLAGS="$cxxflags" "${cuda[@]}" \
    || { note "perflaw: configure failed"; return 1; }

  # perflaw-worker and the worker's test binaries only (not apen's: they are CPU code tested elsewhere).
  local targets=${BUILD_TARGETS:-}
  if [[ -z $targets ]]; then
    targets="perflaw-worker $(
      if [[ ${gen[1]} == Ninja ]]; then ninja -C "$BUILD_DIR" -t targets all; else make -C "$BUILD_DIR" help; fi |
        grep -oE '(^|\.\.\. )perflaw_worker_[A-Za-z0-9_]*test[s]?(:| |$)' | grep -oE 'perflaw_worker_[A-Za-z0-9_]*' |
        sort -u | tr '\n' ' ' || true)"
  fi
  note "building: $targets"
  # -k: one broken test file must not stop perflaw-worker (the benchmark needs only that).
  # shellcheck disable=SC2086
  cmake --build "$BUILD_DIR" --target $targets -j "$JOBS" -- "${keep_going[@]}" \
    || { note "build failed (targets: $targets)"; return 1; }
  if command -v ldd >/dev/null && ldd "$BUILD_DIR/bin/perflaw-worker" | grep -q 'not found'; then
    ldd "$BUILD_DIR/bin/perflaw-worker" | grep 'not found'
    note "perflaw-worker has unresolved shared libraries"; return 1
  fi
  note "built: $(find "$BUILD_DIR/bin" -maxdepth 1 -type f -printf '%f ')"
  # NCCL collectives need MPI too (the ncclUniqueId travels over MPI): only with WORKER_MPI=ON.
  note "NCCL collectives (worker/collective_nccl.cc): $(find "$BUILD_DIR/worker" -name 'collective_nccl.cc.o' | grep -q . && echo compiled || echo "not compiled (WORKER_MPI=$WORKER_MPI)")"
}

stage_smoke() {
  local bin="$BUILD_DIR/bin/perflaw-worker"
  [[ -x $bin ]] || { note "no $bin (build failed)"; return 77; }
  command -v python3 >/dev/null || { note "no python3 to write the point and read the result"; return 1; }
  mkdir -p "$WORK/smoke"
  python3 - "$ROOT/configs/points/sasrec-ml-100k-quick.json" "$KIT/data/ml-100k.inter" "$SMOKE_DEVICE" \
      "$WORK/smoke/point.json" <<'PY'
import json, sys
point = json.load(open(sys.argv[1]))
point["data"]["path"] = sys.argv[2]
point["train"]["epochs"] = 1
point["device"] = sys.argv[3]
open(sys.argv[4], "w").write(json.dumps(point, indent=1) + "\n")
PY
  cat "$WORK/smoke/point.json"
  rm -f "$WORK/smoke/result.json"
  local rc=0
  "$bin" train --point "$WORK/smoke/point.json" --out "$WORK/smoke/result.json" \
    --cache-dir "$WORK/smoke/cache" || rc=$?
  [[ -f $WORK/smoke/result.json ]] || { note "perflaw-worker train exited $rc and wrote no result"; return 1; }
  python3 - "$WORK/smoke/result.json" "$SMOKE_DEVICE" "$rc" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
want, rc = sys.argv[2], int(sys.argv[3])
print(json.dumps({k: r.get(k) for k in ("status", "message", "device", "steps", "tokens_per_second",
                                        "train_seconds", "wall_seconds", "test")}, indent=1))
ok = rc == 0 and r.get("status") == "ok" and str(r.get("device", "")).startswith(want) \
    and len(r.get("epochs", [])) == 1 and r.get("test")
if not ok:
    print(f"device-check: smoke point failed: exit {rc}, status {r.get('status')!r}, "
          f"device {r.get('device')!r} (wanted {want}): {r.get('message', '')}")
    sys.exit(1)
print(f"device-check: smoke point ok on {r['device']}: {r['tokens_per_second']:.0f} training tokens/s, "
      f"{r['train_seconds']:.2f} s for 1 epoch")
PY
}

# ctest_stage NAME ARGS...: ctest over the build, JUnit into $WORK (merged into $OUT/junit.xml).
ctest_stage() {
  local name=$1; shift
  [[ -f $BUILD_DIR/CTestTestfile.cmake ]] || { note "no ctest tree in $BUILD_DIR (build failed)"; return 77; }
  local n
  n=$(ctest --test-dir "$BUILD_DIR" -N "$@" | sed -n 's/^Total Tests: //p')
  if [[ ${n:-0} == 0 ]]; then note "no tests selected by: ctest $*"; return 78; fi
  note "running $n tests: ctest $*"
  local rc=0  # pipefail: ctest's status
  ctest --test-dir "$BUILD_DIR" "$@" --output-on-failure --timeout "$TEST_TIMEOUT_EACH" \
    --output-junit "$WORK/junit-$name.xml" | tee "$WORK/ctest-$name.out" || rc=$?
  [[ $rc -eq 0 ]] && return 0
  backtraces "$WORK/ctest-$name.out"
  note "ctest $*: failures (see above)"
  return 1
}
# backtraces CTEST_OUTPUT: each test that crashed, rerun under a debugger for its backtrace (the GPU
# image has cuda-gdb and no gdb); at most three, a minute each.
backtraces() {
  local dbg test cmd
  dbg=$(command -v gdb || command -v cuda-gdb || ls /usr/local/cuda/bin/cuda-gdb 2>/dev/null) || return 0
  for test in $(sed -n 's/^[[:space:]]*[0-9]* - \(.*\) (SEGFAULT).*/\1/p' "$1" | head -3); do
    cmd=$(ctest --test-dir "$BUILD_DIR" -R "^$test\$" -V -N 2>/dev/null | sed -n 's/.*Test command: //p' | head -1)
    [[ -n $cmd ]] || continue
    echo "== backtrace of $test ($dbg)"
    (cd "$BUILD_DIR/tests/worker" 2>/dev/null; eval "timeout 60 $dbg -batch -ex run -ex bt --args $cmd" 2>&1 | tail -40)
  done
}
stage_gpu() { ctest_stage gpu -L gpu -j 5 -V; }  # five small GPU jobs share the GPU; -V keeps the figures they print
# Only the worker's test binaries are built, so `unit` means the worker's tests (not apen's, which
# ctest lists as perflaw_apen_tests_NOT_BUILT). Not the CPU machine's checks: the *_compile_check
# tests fetch headers from the network and need MPI's, the kit proof needs Debian's LibTorch.
stage_unit() { ctest_stage unit -L unit -LE gpu -E '_NOT_BUILT$|_compile_check$|^gpu_kit_proof$' -j "$JOBS"; }

stage_bench() {
  [[ -f $ROOT/scripts/gpu/bench.sh ]] || { note "no scripts/gpu/bench.sh"; return 77; }
  [[ -x $BUILD_DIR/bin/perflaw-worker ]] || { note "no $BUILD_DIR/bin/perflaw-worker (build failed)"; return 77; }
  # The datasets: the kit's copy (../shared/data is not on the device).
  BENCH_BUDGET=$((BENCH_TIMEOUT - 10)) bash "$ROOT/scripts/gpu/bench.sh" "$BUILD_DIR/bin" "$OUT" "$KIT/data"
}

# ---------------------------------------------------------------------------------------------------
if [[ ${1:-} == --stage ]]; then  # one stage, in its own process (so `timeout` can end it)
  mkdir -p "$WORK"
  "stage_$2"
  exit $?
fi

setup_path
resolve_torch
mkdir -p "$WORK"
rm -f "$WORK"/junit-*.xml "$OUT"/{env,build,test,bench}.log "$OUT/junit.xml"  # logs are appended to
START=$(date +%s)
SUMMARY="$OUT/summary.txt"
{
  echo "# device-check $(date -u +%Y-%m-%dT%H:%M:%SZ) on ${HOSTNAME:-?}: stages '$STAGES', total budget ${TOTAL_TIMEOUT}s"
  if rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null); then
    echo "# git $rev$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' + local changes')"
  else
    echo "# git: no repository here (a copy of the working tree)"
  fi
  printf '%-6s %-8s %6s  %s\n' stage status seconds "log / reason"
} >"$SUMMARY"

failed=0
run_stage() {
  local name=$1 cap log
  case $name in
    env) cap=$ENV_TIMEOUT log=env.log ;;
    build) cap=$BUILD_TIMEOUT log=build.log ;;
    smoke) cap=$SMOKE_TIMEOUT log=test.log ;;
    gpu) cap=$GPU_TEST_TIMEOUT log=test.log ;;
    bench) cap=$BENCH_TIMEOUT log=bench.log ;;
    unit) cap=$UNIT_TEST_TIMEOUT log=test.log ;;
    *) note "unknown stage '$name' (env build smoke gpu bench unit)"
       printf '%-6s %-8s %6s  %s\n' "$name" UNKNOWN 0 "no such stage" >>"$SUMMARY"; failed=1; return ;;
  esac
  # The unit tests take what is left; the others their cap, within what is left (5 s kept for the end).
  local left=$((START + TOTAL_TIMEOUT - $(date +%s) - 5))
  local t=$cap
  if [[ $name == unit ]] && (( left > t )); then t=$left; fi
  if (( t > left )); then t=$left; fi
  local t0 rc=0 status reason=""
  t0=$(date +%s)
  if (( t < 5 )); then
    status=SKIP reason="no time left of ${TOTAL_TIMEOUT}s"
  else
    echo "===== stage $name (timeout ${t}s) $(date -u +%H:%M:%S)" >>"$OUT/$log"
    local from
    from=$(stat -c %s "$OUT/$log")
    timeout -k 5 "$t" bash "$SELF" --stage "$name" </dev/null >>"$OUT/$log" 2>&1 || rc=$?
    case $rc in
      0) status=PASS ;;
      78) status=NO-TESTS ;;
      77) status=SKIP ;;
      124 | 137) status=TIMEOUT reason="killed after ${t}s" ;;
      *) status=FAIL ;;
    esac
    # The stage's last verdict line, else its last line: one line saying why.
    if [[ $status != PASS ]] && [[ -z $reason ]]; then
      reason=$(tail -c +$((from + 1)) "$OUT/$log" | grep -a '^device-check: ' | tail -1 | cut -c15-) || true
      [[ -n $reason ]] || reason=$(tail -c +$((from + 1)) "$OUT/$log" | tail -1)
    fi
  fi
  [[ $status == FAIL || $status == TIMEOUT ]] && failed=1
  printf '%-6s %-8s %6d  %s\n' "$name" "$status" "$(($(date +%s) - t0))" "$log${reason:+: ${reason:0:200}}" >>"$SUMMARY"
  echo "device-check: $name: $status${reason:+ ($reason)}"
  # JUnit of both test stages in one file, rewritten after each.
  if [[ $name == gpu || $name == unit ]] && compgen -G "$WORK/junit-*.xml" >/dev/null; then
    { echo '<?xml version="1.0" encoding="UTF-8"?>'; echo '<testsuites>'
      sed '/^<?xml/d' "$WORK"/junit-*.xml; echo '</testsuites>'; } >"$OUT/junit.xml"
  fi
}

for s in $STAGES; do run_stage "$s"; done

# What comes back: at most 8 files under 16 MiB each. Cut big logs to their ends; pack any excess.
for f in "$OUT"/*; do
  [[ -f $f ]] || continue
  if (( $(stat -c %s "$f") > 15 * 1024 * 1024 )); then
    { head -c 4M "$f"; printf '\n[... cut by device-check ...]\n'; tail -c 8M "$f"; } >"$f.cut" && mv "$f.cut" "$f"
  fi
done
if (( $(find "$OUT" -type f | wc -l) > 8 )); then
  keep=(! -path ./summary.txt ! -path './bench.*')
  (cd "$OUT" && find . -type f "${keep[@]}" -print0 | tar --null -czf "$WORK/logs.tar.gz" -T - &&
     find . -type f "${keep[@]}" -delete && find . -mindepth 1 -type d -empty -delete &&
     mv "$WORK/logs.tar.gz" .)
  echo "# more than 8 files: all but summary.txt and bench.* packed into logs.tar.gz" >>"$SUMMARY"
fi
echo "# total $(($(date +%s) - START)) s" >>"$SUMMARY"
cat "$SUMMARY"
exit $failed
