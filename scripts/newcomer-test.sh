#!/usr/bin/env bash
# The newcomer test: follows the README literally from a fresh clone. It checks that the README's two
# set-up commands are there and point at scripts that exist, then runs every command of the README's
# five-minute tour in order (with B set to already built binaries, so nothing is rebuilt) and checks
# each exit code and the shape of each output.
#   bash scripts/newcomer-test.sh BIN_DIR        (the folder with perflaw and perflaw-worker)
# The clone is made from this checkout's HEAD, next to a link to ../shared (the tour reads
# ../shared/data). Exit 0 when every command passed.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "${1:?usage: newcomer-test.sh BIN_DIR}" && pwd)
[[ $(id -u) != 0 ]] || export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
WORK=$(mktemp -d /tmp/perflaw-newcomer.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
git clone -q "$ROOT" "$WORK/perflaw" || { echo "FAIL: git clone $ROOT"; exit 1; }
ln -s "$(cd "$ROOT/../shared" && pwd)" "$WORK/shared"
cd "$WORK/perflaw"
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }

# 1. The two set-up commands.
for script in scripts/quickstart.sh scripts/test.sh; do
  grep -Eq "^bash $script( |$)" README.md || fail "README does not show 'bash $script'"
  [[ -f $script ]] || fail "$script does not exist"
done
grep -q "scripts/test.sh" .ci/run || fail ".ci/run does not call scripts/test.sh"

# 2. The tour: the first ```sh block after the tour's heading.
awk '/^## A five-minute tour/ {on = 1} on && /^```sh/ {inside = 1; next}
     inside && /^```/ {exit} inside' README.md > "$WORK/tour.sh"
[[ -s "$WORK/tour.sh" ]] || { fail "no tour block in README.md"; exit 1; }

# What each command's output must look like (by a pattern on the command line).
expect() {  # COMMAND OUTPUT_FILE -> 0 when the output has the expected shape
  local cmd=$1 out=$2
  case "$cmd" in
    *"data stats"*"--format json"*) python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$out" ;;
    *"data stats"*) grep -q "ApEn" "$out" ;;
    *"data prepare"*) grep -Eq "^users +[0-9]+" "$out" ;;
    *"data synth"*) [[ -s synth.txt ]] ;;
    *"perflaw fit"*) grep -q "R2" "$out" && grep -q "leave-one-out" "$out" ;;
    *"perflaw predict"*) grep -Eq "predicted .* = [0-9.]+" "$out" ;;
    *"perflaw suggest"*) grep -Eq "point\(s\) to train next" "$out" && grep -Eq "^  layers [0-9]+ x d_model [0-9]+" "$out" ;;
    *"perflaw report"*) grep -Eq "wrote [0-9]+ files" "$out" ;;
    *"perflaw-worker train"*)
      python3 -c 'import json; r = json.load(open("result.json")); assert r["status"] == "ok" and "hr@10" in r["test"]' ;;
    # The starter sweep init wrote passes the real sweep check too.
    *"perflaw init"*) grep -Eq "^wrote study/ml-100k.yaml: 16 points" "$out" && grep -q "perflaw run study/ml-100k.yaml" "$out" &&
      "$BIN/perflaw" sweep check study/ml-100k.yaml | grep -Eq "^sweep ml-100k: 16 points \(grid" ;;
    *"sweep check"*) grep -Eq "[0-9]+ points \(grid" "$out" ;;
    # The quickstart ends with the law's verdict, and its grid is built to identify an optimum.
    *"perflaw run"*) grep -q "law: fitted" "$out" && grep -Eq "points: [0-9]+ total, [0-9]+ completed" "$out" &&
      sed -n '/^==== verdict ====/,$p' "$out" | grep -q "law identified" ;;
    *"perflaw resume"*) grep -q "COMPLETED" "$out" ;;
    *"perflaw status"*) grep -Eq "points: [0-9]+ total, [0-9]+ completed" "$out" ;;
    *"perflaw sweeps"*) grep -Eq "^id +name +state +points +completed" "$out" && grep -Eq "^1 +quickstart " "$out" ;;
    *"perflaw results"*"--format csv"*) head -1 "$out" | grep -q "^point," ;;
    *"perflaw curves"*) grep -q "still improving at their last epoch" "$out" && grep -q "^wrote .*curves_g01.svg" "$out" ;;
    # The default table: the metric says its split, and it fits a 100-column terminal.
    *"perflaw results"*) grep -Eq "^point +.*test\.ndcg@10" "$out" && awk 'length > 100 {exit 1}' "$out" ;;
    *"perflaw sql"*) head -1 "$out" | grep -Eq "^id +state +attempts" ;;
    *"perflaw submit"*"--dry-run"*) grep -q "^#SBATCH" "$out" && grep -q "sbatch argv (not run)" "$out" ;;
    *) [[ -s "$out" ]] ;;
  esac
}

n=0
while IFS= read -r line; do
  [[ -z "${line// }" || "$line" =~ ^[[:space:]]*# ]] && continue
  if [[ "$line" =~ ^B= ]]; then continue; fi  # B=build/bin: the binaries are given instead
  n=$((n + 1))
  out="$WORK/out.$n"
  start=$(date +%s)
  B="$BIN" bash -c "B='$BIN'; $line" > "$out" 2>&1
  rc=$?
  secs=$(($(date +%s) - start))
  if [[ $rc != 0 ]]; then
    fail "exit $rc: $line"; tail -5 "$out" | sed 's/^/    /'
  elif ! expect "$line" "$out"; then
    fail "unexpected output: $line"; tail -5 "$out" | sed 's/^/    /'
  else
    echo "ok (${secs}s): $line"
  fi
done < "$WORK/tour.sh"
[[ $n -ge 15 ]] || fail "only $n tour commands found"
if [[ $FAILS = 0 ]]; then echo "newcomer test: README set-up commands and $n tour commands ok"; fi
exit $((FAILS > 0))
