# Sourced by scripts/quickstart.sh and scripts/test.sh (the README's two commands): strict mode, the
# repository root as the working directory, BUILD_DIR (default ROOT/build) and JOBS (default: all
# cores) from the environment, and the Debian packages the build needs.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
JOBS=${JOBS:-$(nproc)}
bash scripts/install-deps.sh
