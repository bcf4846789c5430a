#!/usr/bin/env bash
# The README's "Layout" section matches the tree: every source subfolder of the modules
# (orchestrator/sweep/, worker/protocol/, ...) and every top-level folder is named there, and every
# `module/sub/` it names exists. Prints what is missing on either side and exits 1.
#   bash tests/layout/readme_layout_test.sh [ROOT]
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
layout=$(sed -n '/^## Layout/,/^## /p' "$root/README.md")
[ -n "$layout" ] || { echo "README.md has no '## Layout' section" >&2; exit 1; }
bad=0
for top in apen law worker orchestrator configs scripts tests docs; do
  grep -q "\`$top/\`" <<<"$layout" || { echo "README Layout does not name $top/" >&2; bad=1; }
done
# Subfolders that hold sources; the README names them as `sub/` or `module/sub/`.
for dir in $(cd "$root" && find apen law worker orchestrator -mindepth 1 -maxdepth 1 -type d | sort); do
  [ -n "$(find "$root/$dir" -maxdepth 1 \( -name '*.cc' -o -name '*.h' \) -print -quit)" ] || continue
  sub=${dir#*/}
  grep -qE "\`($dir|$sub)/\`" <<<"$layout" || { echo "README Layout does not name $dir/" >&2; bad=1; }
done
for named in $(grep -oE '`(apen|law|worker|orchestrator)/[a-z_]+/`' <<<"$layout" | tr -d '`'); do
  [ -d "$root/$named" ] || { echo "README Layout names $named, which does not exist" >&2; bad=1; }
done
exit $bad
