#!/usr/bin/env bash
# Installs perflaw's build, test and benchmark dependencies from Debian 12 packages.
# Idempotent and non-interactive; run as root (or with sudo available).
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git ca-certificates
  libtorch-dev libopenblas0-pthread
  libopenmpi-dev openmpi-bin
  libboost-dev libboost-program-options-dev
  libyaml-cpp-dev libsqlite3-dev sqlite3 zlib1g-dev
  libgtest-dev libgmock-dev googletest
  libceres-dev libeigen3-dev
  libspdlog-dev nlohmann-json3-dev libcli11-dev
  gnuplot-nox
  slurm-wlm munge
  python3 python3-numpy python3-torch
  procps psmisc time bc
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
