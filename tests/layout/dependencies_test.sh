#!/usr/bin/env bash
# The modules' dependency rule (docs/design.md): orchestrator -> {worker contract, law} -> apen.
#   worker/ includes nothing from orchestrator/ or law/; law/ only apen/; apen/ nothing of ours but
#   apen/. law/ and apen/ are leaf libraries: no MPI, LibTorch, SQLite or yaml-cpp headers in them.
# Prints every offending include (file:line) and exits 1 if there is one.
#   bash tests/layout/dependencies_test.sh [ROOT]            # checks the repository (default: ..)
#   bash tests/layout/dependencies_test.sh --self-test        # proves the check fails on a violation
set -euo pipefail

# check ROOT: 0 when the tree obeys the rule.
check() {
  local root=$1 bad=0 hits
  # module|what it must not include (extended regex on the #include line)
  local rules=(
    'worker|#include[[:space:]]*"(orchestrator|law)/'
    'law|#include[[:space:]]*"(orchestrator|worker)/'
    'apen|#include[[:space:]]*"(orchestrator|worker|law)/'
    'law|#include[[:space:]]*<(mpi\.h|torch/|ATen/|c10/|sqlite3\.h|yaml-cpp/)'
    'apen|#include[[:space:]]*<(mpi\.h|torch/|ATen/|c10/|sqlite3\.h|yaml-cpp/)'
  )
  for rule in "${rules[@]}"; do
    local dir=${rule%%|*} pattern=${rule#*|}
    [ -d "$root/$dir" ] || continue
    if hits=$(cd "$root" && grep -rnE --include='*.h' --include='*.cc' --include='*.hpp' \
                --include='*.cpp' "$pattern" "$dir"); then
      echo "dependency rule broken ($dir/ must not include this):" >&2
      echo "$hits" >&2
      bad=1
    fi
  done
  return $bad
}

self_test() {
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  mkdir -p "$tmp/worker" "$tmp/orchestrator" "$tmp/law" "$tmp/apen"
  printf '#include "worker/protocol/messages.h"\n' > "$tmp/orchestrator/ok.cc"
  printf '#include "apen/status.h"\n' > "$tmp/law/ok.cc"
  check "$tmp" || { echo "self-test: a clean tree was rejected" >&2; return 1; }
  local violations=('worker|#include "orchestrator/schedule/transport.h"' 'law|#include "worker/model.h"'
                    'apen|#include "law/fit.h"' 'law|#include <sqlite3.h>' 'apen|#include <mpi.h>')
  for v in "${violations[@]}"; do
    printf '%s\n' "${v#*|}" > "$tmp/${v%%|*}/bad.cc"
    if check "$tmp" 2>/dev/null; then
      echo "self-test: '${v#*|}' in ${v%%|*}/ was not caught" >&2
      return 1
    fi
    rm "$tmp/${v%%|*}/bad.cc"
  done
  echo "self-test: every violation caught"
}

if [ "${1:-}" = "--self-test" ]; then
  self_test
else
  check "${1:-$(cd "$(dirname "$0")/../.." && pwd)}" && echo "dependency rule holds"
fi
