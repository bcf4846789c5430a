#!/usr/bin/env bash
# LibTorch 2.x compatibility check, run by CI (ctest worker_libtorch2_compile_check): compiles every
# worker source and worker test with -fsyntax-only against Debian trixie's libtorch-dev 2.6 headers,
# with deprecated declarations as errors, so an API that 2.x removed, changed or deprecated fails here
# although this machine builds against LibTorch 1.13. Version differences belong in
# worker/torch_compat.h. The headers come from `apt-get download` with a private trixie source list
# and state directory kept in the cache folder; nothing is installed on the system.
#   bash scripts/ci/libtorch2-check.sh BUILD_DIR     # a configured build (its compile_commands.json)
# LIBTORCH2_CACHE overrides the cache folder (default .cache/libtorch2, ignored by git).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BUILD=$(realpath "${1:?usage: libtorch2-check.sh BUILD_DIR}")
CACHE=${LIBTORCH2_CACHE:-$ROOT/.cache/libtorch2}
HEADERS=$CACHE/root/usr/include

fetch_headers() {
  [[ -f $HEADERS/torch/csrc/api/include/torch/version.h ]] && return
  rm -rf "$CACHE"
  mkdir -p "$CACHE"/lists/partial "$CACHE"/archives/partial "$CACHE"/debs
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
    > "$CACHE/trixie.list"
  : > "$CACHE/status"
  local apt=(-o Dir::Etc::SourceList="$CACHE/trixie.list" -o Dir::Etc::SourceParts=/dev/null
             -o Dir::State::Lists="$CACHE/lists" -o Dir::Cache="$CACHE"
             -o Dir::Cache::archives="$CACHE/archives" -o Dir::State::status="$CACHE/status"
             -o APT::Architecture=amd64 -o APT::Sandbox::User=root)
  apt-get "${apt[@]}" update -q > "$CACHE/apt.log" 2>&1 ||
    { cat "$CACHE/apt.log"; echo "libtorch2-check: apt-get update of trixie failed" >&2; exit 1; }
  (cd "$CACHE/debs" && apt-get "${apt[@]}" download libtorch-dev >> "$CACHE/apt.log" 2>&1) ||
    { cat "$CACHE/apt.log"; echo "libtorch2-check: apt-get download libtorch-dev failed" >&2; exit 1; }
  dpkg-deb -x "$CACHE"/debs/libtorch-dev_*.deb "$CACHE/root"
}

fetch_headers
version=$(sed -n 's/^#define TORCH_VERSION_\(MAJOR\|MINOR\) \([0-9]*\)/\2/p' \
  "$HEADERS/torch/csrc/api/include/torch/version.h" | paste -sd.)
echo "libtorch2-check: LibTorch $version headers from $(ls "$CACHE"/debs)"
[[ $version == 2.* ]] || { echo "libtorch2-check: expected LibTorch 2.x headers, found $version" >&2; exit 1; }

# One command per translation unit under worker/ and tests/worker/, from the build's own flags with
# LibTorch's include directories swapped for the 2.6 ones.
python3 "$ROOT/scripts/ci/compile_commands.py" "$BUILD/compile_commands.json" "$ROOT" worker/ tests/worker/ |
  while IFS=$'\t' read -r dir compiler flags file; do
    printf '%s\t%s -isystem %s -isystem %s/torch/csrc/api/include %s -Werror=deprecated-declarations %s\n' \
      "$dir" "$compiler" "$HEADERS" "$HEADERS" "$flags" "$file"
  done > "$CACHE/commands.txt"
count=$(wc -l < "$CACHE/commands.txt")
[[ $count -gt 0 ]] || { echo "libtorch2-check: no worker sources in $BUILD/compile_commands.json" >&2; exit 1; }

# check DIR CMD: the headers it reads are the 2.6 ones (none of the system's 1.13), and it compiles.
check() {
  local dir=$1 cmd=$2 file=${2##* }
  local deps
  deps=$(cd "$dir" && eval "$cmd -M" 2>&1) || { echo "FAIL $file (preprocessing)"; echo "$deps"; return 1; }
  if grep -Eq '(^| )/usr/include/(torch|ATen|c10|caffe2)/' <<< "$deps"; then
    echo "FAIL $file: reads LibTorch 1.13 headers from /usr/include"; return 1
  fi
  local log
  log=$(cd "$dir" && eval "$cmd -fsyntax-only" 2>&1) || { echo "FAIL $file"; echo "$log"; return 1; }
  echo "ok   ${file#"$ROOT"/}"
}
export -f check
export ROOT
failed=0
while IFS=$'\t' read -r dir cmd; do printf '%s\0%s\0' "$dir" "$cmd"; done < "$CACHE/commands.txt" |
  xargs -0 -n 2 -P "$(nproc)" bash -c 'check "$0" "$1"' || failed=1
if [[ $failed -ne 0 ]]; then
  echo "libtorch2-check: FAILED: worker code does not compile against LibTorch $version" >&2
  exit 1
fi
echo "libtorch2-check: all $count worker sources compile against LibTorch $version"
