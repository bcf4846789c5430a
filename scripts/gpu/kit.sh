#!/usr/bin/env bash
# Gathers into .gpu-kit/ (ignored by git, carried to the GPU machine) what that machine lacks to build
# perflaw-worker and its GoogleTest tests: it has CUDA, a pip PyTorch (LibTorch), CMake and ninja, but
# no Debian -dev packages and no network. Taken from this machine's Debian packages
# (scripts/install-deps.sh installs them) and ../shared/data:
#   .gpu-kit/prefix/{include,lib,share/cmake}  a CMake prefix: nlohmann-json (+ config), CLI11 (+ config),
#                                              zlib headers + static libz.a
#   .gpu-kit/src/googletest                    googletest + googlemock sources (built on the device)
#   .gpu-kit/data                              the datasets the tests and benchmarks read
# scripts/gpu/device-check.sh consumes it. Idempotent: rebuilt from scratch on every run.
#   bash scripts/gpu/kit.sh                 # KIT=DIR and DATA_SRC=DIR override the defaults
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
KIT=${KIT:-$ROOT/.gpu-kit}
DATA_SRC=${DATA_SRC:-$ROOT/../shared/data}
MAX_MIB=50  # the device run carries at most 64 MiB with the working tree
ARCH_LIB=/usr/lib/x86_64-linux-gnu

die() { echo "kit.sh: error: $*" >&2; exit 1; }

# piece SOURCE PACKAGE: SOURCE must exist (PACKAGE says where it comes from).
piece() {
  [[ -e $1 ]] || die "$1 is missing (Debian package $2; run: bash scripts/install-deps.sh)"
}
piece /usr/include/nlohmann/json.hpp nlohmann-json3-dev
piece /usr/share/cmake/nlohmann_json nlohmann-json3-dev
piece /usr/include/CLI/CLI.hpp libcli11-dev
piece /usr/share/cmake/CLI11 libcli11-dev
piece /usr/include/zlib.h zlib1g-dev
piece /usr/include/zconf.h zlib1g-dev
piece $ARCH_LIB/libz.a zlib1g-dev
piece /usr/src/googletest/CMakeLists.txt googletest
for f in amazon-video.txt ml-100k.inter; do
  [[ -f $DATA_SRC/$f ]] || die "$DATA_SRC/$f is missing (the shared datasets beside the checkout)"
done

# Assemble beside the kit and swap at the end: a failed run never leaves a half-made kit behind.
TMP="$KIT.tmp.$$"
trap 'rm -rf "$TMP"' EXIT
rm -rf "$TMP"
mkdir -p "$TMP/prefix/include" "$TMP/prefix/lib" "$TMP/prefix/share/cmake" "$TMP/src" "$TMP/data"
# -L: copy what symlinks point to (the device has no /usr/include to resolve them against).
cp -rL /usr/include/nlohmann /usr/include/CLI /usr/include/zlib.h /usr/include/zconf.h "$TMP/prefix/include/"
cp -rL /usr/share/cmake/nlohmann_json /usr/share/cmake/CLI11 "$TMP/prefix/share/cmake/"
# Static: the device may have libz.so.1 but not the unversioned libz.so link a -dev package adds.
cp -L $ARCH_LIB/libz.a "$TMP/prefix/lib/"
# Sources, not Debian's libgtest.a: the device's compiler and C++ ABI (LibTorch's) must build them.
cp -rL /usr/src/googletest "$TMP/src/googletest"
cp -L "$DATA_SRC/amazon-video.txt" "$DATA_SRC/ml-100k.inter" "$TMP/data/"
chmod -R u+w "$TMP"  # ../shared/data is read-only; keep the kit removable

{
  echo "# scripts/gpu/kit.sh on ${HOSTNAME:-?} $(date -u +%Y-%m-%dT%H:%M:%SZ): Debian package versions"
  dpkg-query -W -f='${Package} ${Version}\n' nlohmann-json3-dev libcli11-dev zlib1g-dev googletest \
    2>/dev/null || true
} >"$TMP/VERSIONS"

while read -r rel; do
  [[ -z $rel || $rel == \#* ]] && continue
  [[ -e $TMP/$rel ]] || die "kit piece $rel was not gathered (scripts/gpu/kit-manifest.txt)"
done <"$ROOT/scripts/gpu/kit-manifest.txt"

size_kib=$(du -sk "$TMP" | cut -f1)
(( size_kib < MAX_MIB * 1024 )) || die "kit is $((size_kib / 1024)) MiB, over the ${MAX_MIB} MiB limit"

rm -rf "$KIT"
mv "$TMP" "$KIT"
echo "kit.sh: $KIT: $(du -sh "$KIT" | cut -f1) ($size_kib KiB; limit ${MAX_MIB} MiB)"
