#!/usr/bin/env bash
# Fault tolerance of a sweep run (issue 4, item 7), each against real MPI jobs started by `perflaw run`:
#   reference  an uninterrupted run: the set of point ids every other case must end with
#   kill-worker      (a) kill -9 of one worker rank mid-sweep, then `perflaw resume`
#   kill-orchestrator (b) kill -9 of the orchestrator (rank 0) mid-sweep, then `perflaw resume`
#   nan        (c) a diverging point is FAILED (reason diverged) and the others complete
#   sigterm    (d) SIGTERM to every process of the job (as Slurm preemption does): the running points
#              checkpoint and go back to PENDING; `perflaw resume` continues from the checkpoints
# and (e) `PRAGMA integrity_check` is ok after each. Issue 18:
#   hung-worker     SIGSTOP of one worker rank mid-point: its group is declared lost after
#                   heartbeat_timeout, the point is retried elsewhere, the sweep completes (each
#                   point once) and the job ends without waiting for the stopped rank
#   point-timeout   a point that runs past policy.point_timeout (heartbeats flowing) is stopped and
#                   retried, then FAILED (timeout) after max_attempts; the other points complete
#   full-disk       database, checkpoints and work_dir on a small tmpfs filled mid-sweep: the run
#                   stops with one message, exit 1, nothing completed is lost, no half checkpoint;
#                   after freeing space `perflaw resume` completes the sweep
#   db-unwritable   a read-only database (read-only mount) or a removed folder before run/resume:
#                   exit 2, one line, nothing written; the folder removed, or the database made
#                   read-only (chmod, the run as user nobody), during a run: exit 1, then resume
#   signals         SIGINT/SIGTERM/SIGHUP to `perflaw run` before, during and after rank start-up,
#                   and SIGKILL of `perflaw run` itself: no process of the job survives, nothing
#                   stale is left; `--np` beyond the machine is refused before mpirun starts
# Usage: fault_tests.sh BIN_DIR [CASE...]
set -uo pipefail
BIN=$(cd "$1" && pwd); shift
CASES=("$@")
[ ${#CASES[@]} -gt 0 ] || CASES=(reference kill-worker kill-orchestrator nan sigterm hung-worker
                                 point-timeout full-disk db-unwritable signals)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
WORK=$(mktemp -d /tmp/perflaw-faults.XXXXXX)
# The job's rendezvous folders (perflaw-run.*) go here, so that a stale one would be seen.
export TMPDIR=$WORK/tmp; mkdir -p "$TMPDIR"
MOUNTS=()
cleanup() {
  kill_tree $$ 2>/dev/null
  local m; for m in "${MOUNTS[@]}"; do umount -l "$m" 2>/dev/null; done
  [ "${KEEP:-0}" = 1 ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
FAILS=0

fail() {
  echo "FAIL [$CASE]: $*"; FAILS=$((FAILS + 1))
  [ "${LOGGED:-}" != "$CASE" ] || return 0
  LOGGED=$CASE
  for log in "$WORK/$CASE"/*.log; do [ -f "$log" ] && { echo "--- $log"; tail -8 "$log"; }; done
}
q() { sqlite3 -readonly "$1" "$2"; }  # the stock shell reads the database while a sweep runs

# Every descendant of a process (mpirun's children and theirs), deepest first.
descendants() {
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    descendants "$child"; echo "$child"
  done
}
kill_tree() { local p; for p in $(descendants "$1"); do kill -9 "$p" 2>/dev/null; done; }

# A sweep of 8 small points on synthetic data; EPOCHS epochs each; extra YAML appended as is.
write_sweep() {  # DIR EPOCHS [EXTRA_YAML]; POLICY replaces the policy mapping
  local policy=${POLICY:-"{max_attempts: 2, heartbeat_interval: 1, heartbeat_timeout: 30}"}
  cat > "$1/sweep.yaml" <<YAML
name: faults
data:
  synthetic: {users: 300, items: 200, mean_length: 20, predictability: 0.7, seed: 3}
  max_seq_len: 20
model: {type: sasrec, heads: 1}
train: {epochs: $2, batch_size: 64, lr: 0.002}
eval: {protocol: "sampled:50", ks: [10]}
seed: 0
threads: 1
grid:
  model.layers: [1, 2]
  model.d_model: [8, 16, 24, 32]
resources: {ranks_per_point: 1, workers: 2}
policy: $policy
law: {enabled: false}
db: results.db
work_dir: work
${3:-}
YAML
}

# Epochs of the reference and kill cases (the same points): long enough that the kill lands while
# points still run, on a loaded machine too (with points sent ahead, 3 epochs took about 1 s).
KILL_EPOCHS=8

completed_ids() { q "$1" "SELECT id FROM points WHERE state = 'COMPLETED' ORDER BY id"; }

# Waits (up to 120 s) until the SQL query on DB returns a non-empty, non-zero value.
wait_for() {  # DB SQL
  local i v
  for i in $(seq 1 1200); do
    if [ -f "$1" ]; then
      v=$(q "$1" "$2" 2>/dev/null)
      [ -n "$v" ] && [ "$v" != 0 ] && return 0
    fi
    sleep 0.1
  done
  return 1
}

check_integrity() {
  local r; r=$(q "$1" "PRAGMA integrity_check")
  [ "$r" = ok ] || fail "integrity_check: $r"
}

# Checks the DB against the reference run: same completed ids, one result each, nothing open.
check_complete() {  # DB
  local got want
  got=$(completed_ids "$1"); want=$(cat "$WORK/reference.ids")
  [ "$got" = "$want" ] || fail "completed ids differ from the uninterrupted run:
got:  $(echo $got)
want: $(echo $want)"
  [ "$(q "$1" "SELECT COUNT(*) FROM results")" = "$(echo "$want" | wc -l)" ] ||
    fail "results rows: $(q "$1" "SELECT COUNT(*) FROM results"), want $(echo "$want" | wc -l)"
  [ "$(q "$1" "SELECT COUNT(*) FROM points WHERE state != 'COMPLETED'")" = 0 ] ||
    fail "points not COMPLETED after resume"
  [ "$(q "$1" "SELECT COUNT(*) FROM attempts WHERE ended_at IS NULL")" = 0 ] ||
    fail "attempts left open"
  check_integrity "$1"
}

# Starts `perflaw run` in its own session (so the whole job can be signalled); sets RUN_PID.
start_run() {  # DIR [ARGS...]
  local d=$1; shift
  # RUN_AS: a command prefix that runs perflaw as another user.
  (cd "$d" && exec setsid ${RUN_AS:-} "$BIN/perflaw" run sweep.yaml --np 2 "$@" > run.log 2>&1) &
  RUN_PID=$!
}

# Waits for RUN_PID to end (up to SECONDS, default 180); sets RC to its exit code.
wait_run() {  # [SECONDS]
  timeout "${1:-180}" tail --pid="$RUN_PID" -f /dev/null || fail "the job did not end within ${1:-180} s"
  wait "$RUN_PID"; RC=$?
}

# Expects no process of the job in DIR to be left (within 20 s), nor anything stale of the run.
no_job_left() {  # DIR
  local i
  for i in $(seq 1 200); do pgrep -f -- "$1/" > /dev/null || break; sleep 0.1; done
  if pgrep -f -- "$1/" > /dev/null; then
    fail "processes of the job outlived it: $(pgrep -f -a -- "$1/" | cut -c1-100 | tr '\n' ';')"
    pkill -9 -f -- "$1/"
  fi
  [ -z "$(ls -A "$TMPDIR")" ] || fail "left in TMPDIR: $(ls -A "$TMPDIR")"
  [ -z "$(find "$1" -name '*.exit-code' -o -name '*.tmp' 2>/dev/null)" ] ||
    fail "stale files: $(find "$1" -name '*.exit-code' -o -name '*.tmp')"
}

# The first process of the job (below RUN_PID) whose command line matches PATTERN.
job_process() {  # PATTERN
  local p
  for p in $(descendants "$RUN_PID"); do
    if tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q -- "$1"; then echo "$p"; return; fi
  done
}

# Waits until an epoch of a RUNNING point is stored in DIR/results.db (or DB).
wait_running_epoch() {  # DB
  wait_for "$1" "SELECT COUNT(*) FROM epoch_metrics e JOIN points p ON p.id = e.point WHERE p.state = 'RUNNING'" ||
    fail "no epoch of a running point was stored"
}

# Ranks of a killed job may outlive mpirun for a moment (reparented, so no longer descendants): wait
# for every process naming the case's folder (the workers' --cache-dir does) to go, then kill them.
reap_job() {  # DIR
  local i
  for i in $(seq 1 100); do pgrep -f -- "$1/" > /dev/null || return 0; sleep 0.1; done
  echo "note [$CASE]: processes of the killed job still alive after 10 s: $(pgrep -f -a -- "$1/" | cut -c1-120)"
  pkill -9 -f -- "$1/"
  sleep 0.5
}

resume() {  # DIR
  (cd "$1" && "$BIN/perflaw" resume results.db --np 2 > resume.log 2>&1)
  local rc=$?
  [ $rc = 0 ] || { fail "perflaw resume exited $rc"; tail -5 "$1/resume.log"; }
}

# Kills one process of the job (matched by PATTERN) with SIGKILL once a point is COMPLETED and
# another RUNNING, then expects the job to end.
kill_mid_sweep() {  # DIR PATTERN
  local db="$1/results.db" victim=""
  wait_for "$db" "SELECT (SELECT COUNT(*) FROM points WHERE state = 'COMPLETED') > 0 AND
                         (SELECT COUNT(*) FROM points WHERE state = 'RUNNING') > 0" ||
    { fail "the sweep never had a point COMPLETED and one RUNNING"; return; }
  for p in $(descendants "$RUN_PID"); do
    if tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q -- "$2"; then victim=$p; break; fi
  done
  [ -n "$victim" ] || { fail "no process matching '$2'"; return; }
  kill -9 "$victim"
  local rc=0
  timeout 120 tail --pid="$RUN_PID" -f /dev/null || fail "the job did not end after kill -9"
  wait "$RUN_PID"; rc=$?
  [ $rc != 0 ] || fail "perflaw run exited 0 after a kill -9 of '$2'"
  [ "$(q "$db" "SELECT COUNT(*) FROM points WHERE state = 'COMPLETED'")" -lt 8 ] ||
    fail "the sweep finished before the kill (make the points longer)"
  check_integrity "$db"
}

for CASE in "${CASES[@]}"; do
  dir="$WORK/$CASE"; mkdir -p "$dir"
  echo "== $CASE"
  case "$CASE" in
    reference)
      write_sweep "$dir" "$KILL_EPOCHS"
      (cd "$dir" && "$BIN/perflaw" run sweep.yaml --np 2 > run.log 2>&1) || fail "reference run: $(tail -3 "$dir/run.log")"
      completed_ids "$dir/results.db" > "$WORK/reference.ids"
      [ "$(wc -l < "$WORK/reference.ids")" = 8 ] || fail "reference: $(wc -l < "$WORK/reference.ids") points completed, want 8"
      check_complete "$dir/results.db"
      ;;
    kill-worker|kill-orchestrator)
      write_sweep "$dir" "$KILL_EPOCHS"
      start_run "$dir"
      if [ "$CASE" = kill-worker ]; then kill_mid_sweep "$dir" "perflaw-worker serve"
      else kill_mid_sweep "$dir" "perflaw orchestrate"; fi
      reap_job "$dir"
      resume "$dir"
      check_complete "$dir/results.db"
      [ "$(q "$dir/results.db" "SELECT COUNT(*) FROM attempts WHERE exit_reason = 'interrupted'")" -ge 1 ] ||
        fail "no attempt closed as interrupted"
      ;;
    nan)
      write_sweep "$dir" 2 'include:
  - {model.layers: 1, model.d_model: 8, train.lr: 10, train.optimizer: adamw, train.weight_decay: 1}'
      (cd "$dir" && "$BIN/perflaw" run sweep.yaml --np 2 > run.log 2>&1); rc=$?
      [ $rc = 1 ] || fail "run with a diverging point exited $rc, want 1 (a point FAILED)"
      ! grep -q "non-zero" "$dir/run.log" || fail "mpirun reported a crashed job for a sweep that ended as designed"
      db="$dir/results.db"
      [ "$(q "$db" "SELECT COUNT(*) FROM points WHERE state = 'COMPLETED'")" = 8 ] || fail "the other points did not all complete"
      [ "$(q "$db" "SELECT COUNT(*) FROM points WHERE state = 'FAILED'")" = 1 ] || fail "no FAILED point"
      reason=$(q "$db" "SELECT a.exit_reason || ': ' || a.error FROM attempts a JOIN points p ON p.id = a.point WHERE p.state = 'FAILED'")
      echo "$reason" | grep -q "^diverged: diverged at step" || fail "failure reason: $reason"
      check_integrity "$db"
      ;;
    sigterm)
      write_sweep "$dir" 8
      start_run "$dir"
      db="$dir/results.db"
      # Preempt once an epoch of a running point is stored, so its checkpoint holds progress.
      wait_for "$db" "SELECT COUNT(*) FROM epoch_metrics e JOIN points p ON p.id = e.point WHERE p.state = 'RUNNING'" ||
        fail "no epoch of a running point was stored"
      for p in $RUN_PID $(descendants "$RUN_PID"); do kill -TERM "$p" 2>/dev/null; done
      timeout 120 tail --pid="$RUN_PID" -f /dev/null || fail "the job did not end after SIGTERM"
      wait "$RUN_PID"
      reap_job "$dir"
      [ "$(q "$db" "SELECT COUNT(*) FROM points WHERE state = 'RUNNING'")" = 0 ] || fail "points left RUNNING after SIGTERM"
      [ "$(q "$db" "SELECT COUNT(*) FROM attempts WHERE ended_at IS NULL")" = 0 ] || fail "attempts left open after SIGTERM"
      preempted=$(q "$db" "SELECT DISTINCT point FROM attempts WHERE exit_reason = 'preempted'")
      [ -n "$preempted" ] || fail "no attempt ended as preempted: $(q "$db" "SELECT exit_reason, error FROM attempts")"
      [ "$(q "$db" "SELECT status FROM sweeps ORDER BY id DESC LIMIT 1")" = INTERRUPTED ] || fail "sweep not INTERRUPTED"
      for p in $preempted; do
        [ "$(q "$db" "SELECT state FROM points WHERE id = '$p'")" = PENDING ] || fail "preempted point $p not PENDING"
        [ -f "$dir/work/checkpoints/$p/checkpoint.pt" ] || fail "no checkpoint for preempted point $p"
      done
      check_integrity "$db"
      resume "$dir"
      # A point preempted before its first epoch ended has nothing to resume from (another group may
      # have just started it); every point whose preempted attempt stored an epoch must resume.
      progressed=$(q "$db" "SELECT DISTINCT a.point FROM attempts a JOIN epoch_metrics e ON e.attempt = a.id WHERE a.exit_reason = 'preempted'")
      [ -n "$progressed" ] || fail "no preempted attempt had stored an epoch"
      for p in $progressed; do
        # The attempt that completed it resumed: it trained (and stored) no epoch before the checkpoint.
        first=$(q "$db" "SELECT MIN(e.epoch) FROM epoch_metrics e JOIN results r ON r.attempt = e.attempt WHERE r.point = '$p'")
        [ -n "$first" ] && [ "$first" -gt 1 ] || fail "point $p: the completing attempt started at epoch '$first', not from its checkpoint"
      done
      [ "$(q "$db" "SELECT COUNT(*) FROM points WHERE state != 'COMPLETED'")" = 0 ] || fail "points not COMPLETED after resume"
      check_integrity "$db"
      ;;
    hung-worker)
      POLICY="{max_attempts: 2, heartbeat_interval: 1, heartbeat_timeout: 5}" write_sweep "$dir" "$KILL_EPOCHS"
      start_run "$dir"
      db="$dir/results.db"
      wait_running_epoch "$db"
      victim=$(job_process "perflaw-worker serve")
      [ -n "$victim" ] || fail "no worker rank found"
      kill -STOP "$victim"
      wait_run 240
      [ "$RC" = 0 ] || fail "run with a stopped worker exited $RC, want 0 (every point completed)"
      check_complete "$db"
      [ "$(q "$db" "SELECT COUNT(*) FROM attempts WHERE exit_reason = 'heartbeat_lost'")" -ge 1 ] ||
        fail "no attempt ended as heartbeat_lost: $(q "$db" "SELECT exit_reason, error FROM attempts WHERE exit_reason != 'completed'")"
      grep -q "stopped answering and were not waited for" "$dir/run.log" || fail "the run did not say it left the stopped rank"
      no_job_left "$dir"
      # Gone, or a zombie waiting for a parent (PID 1 of a container) that does not reap.
      state=$(ps -o stat= -p "$victim" 2>/dev/null)
      [ -z "$state" ] || [ "${state:0:1}" = Z ] || fail "the stopped rank outlived the job (state $state)"
      ;;
    point-timeout)
      # One point far too long for policy.point_timeout; its worker keeps heart-beating throughout.
      POLICY="{max_attempts: 2, heartbeat_interval: 1, heartbeat_timeout: 30, point_timeout: 12}" \
        write_sweep "$dir" 2 'include:
  - {model.layers: 2, model.d_model: 32, train.epochs: 5000}'
      start_run "$dir"
      wait_run 240
      db="$dir/results.db"
      [ "$RC" = 1 ] || fail "run with a timed-out point exited $RC, want 1 (a point FAILED)"
      [ "$(q "$db" "SELECT COUNT(*) FROM points WHERE state = 'COMPLETED'")" = 8 ] || fail "the other points did not all complete"
      slow=$(q "$db" "SELECT id FROM points WHERE state = 'FAILED'")
      [ -n "$slow" ] || fail "the long point is not FAILED"
      [ "$(q "$db" "SELECT COUNT(*) FROM attempts WHERE point = '$slow' AND exit_reason = 'timeout' AND error LIKE '%point_timeout%'")" = 2 ] ||
        fail "want 2 attempts ended by point_timeout: $(q "$db" "SELECT exit_reason, error FROM attempts WHERE point = '$slow'")"
      # Each stopped attempt was answered: no group was left unresponsive at the end.
      ! grep -q "stopped answering" "$dir/run.log" || fail "a timed-out group never answered its stop"
      check_integrity "$db"
      no_job_left "$dir"
      ;;
    full-disk)
      mount -t tmpfs -o size=24m perflaw-faults "$dir" || { fail "cannot mount a tmpfs on $dir (needs root)"; continue; }
      MOUNTS+=("$dir")
      write_sweep "$dir" "$KILL_EPOCHS"
      start_run "$dir"
      db="$dir/results.db"
      wait_for "$db" "SELECT COUNT(*) FROM points WHERE state = 'COMPLETED'" || fail "no point completed"
      before=$(q "$db" "SELECT COUNT(*) FROM points WHERE state = 'COMPLETED'")
      dd if=/dev/zero of="$dir/filler" bs=1M 2> /dev/null  # until the filesystem is full
      wait_run 180
      [ "$RC" = 1 ] || fail "run on a full disk exited $RC, want 1"
      grep -qiE "no space left|disk is full|database or disk is full" "$dir/run.log" ||
        fail "no message about the full disk: $(tail -3 "$dir/run.log")"
      rm -f "$dir/filler"
      after=$(q "$db" "SELECT COUNT(*) FROM points WHERE state = 'COMPLETED'")
      [ "$after" -ge "$before" ] || fail "completed points lost: $before before the disk filled, $after after"
      check_integrity "$db"
      [ -z "$(find "$dir/work" -name '*.tmp')" ] || fail "a partial checkpoint was left: $(find "$dir/work" -name '*.tmp')"
      no_job_left "$dir"
      resume "$dir"
      check_complete "$db"
      ;;
    db-unwritable)
      write_sweep "$dir" 2
      (cd "$dir" && "$BIN/perflaw" run sweep.yaml --np 2 > first.log 2>&1) || fail "first run: $(tail -2 "$dir/first.log")"
      mkdir -p "$dir/ro" && cp "$dir/results.db" "$dir/ro/"
      { mount --bind "$dir/ro" "$dir/ro" && MOUNTS+=("$dir/ro") && mount -o remount,bind,ro "$dir/ro"; } ||
        { fail "cannot make a read-only bind mount (needs root)"; continue; }
      sum=$(md5sum < "$dir/ro/results.db")
      for cmd in "resume ro/results.db" "resume ro/results.db --retry-failed" "run sweep.yaml --db ro/results.db" "run sweep.yaml --db ro/new.db"; do
        (cd "$dir" && "$BIN/perflaw" $cmd --np 2 > ro.log 2>&1); rc=$?
        [ $rc = 2 ] || fail "perflaw $cmd on a read-only mount exited $rc, want 2"
        [ "$(wc -l < "$dir/ro.log")" = 1 ] && grep -q "not writable" "$dir/ro.log" || fail "perflaw $cmd: $(cat "$dir/ro.log")"
      done
      [ "$(md5sum < "$dir/ro/results.db")" = "$sum" ] && [ "$(ls "$dir/ro")" = results.db ] || fail "something was written"
      (cd "$dir" && "$BIN/perflaw" resume gone/results.db --np 2 > gone.log 2>&1); rc=$?
      [ $rc = 2 ] && [ "$(wc -l < "$dir/gone.log")" = 1 ] || fail "resume of a removed folder exited $rc: $(cat "$dir/gone.log")"
      [ ! -e "$dir/gone" ] || fail "resume created the removed folder"
      # The database's folder removed during a run: the run stops (exit 1) and says why.
      mkdir -p "$dir/live" && write_sweep "$dir/live" "$KILL_EPOCHS"
      start_run "$dir/live" --db "$dir/live/dbdir/results.db"
      wait_for "$dir/live/dbdir/results.db" "SELECT COUNT(*) FROM points WHERE state = 'COMPLETED'" || fail "no point completed"
      rm -rf "$dir/live/dbdir"
      wait_run 180
      [ "$RC" = 1 ] || fail "run whose database was removed exited $RC, want 1"
      grep -q "was removed during the run" "$dir/live/run.log" || fail "no message: $(tail -3 "$dir/live/run.log")"
      no_job_left "$dir/live"
      # The database made read-only (chmod) during a run, as a user the mode bits bind (root's writes
      # ignore them): the run stops (exit 1) and says why; once writable again, resume completes.
      sub="$dir/chmod"; mkdir -p "$sub" && write_sweep "$sub" "$KILL_EPOCHS"
      chmod 755 "$WORK" && chmod 1777 "$TMPDIR" && chown -R nobody:nogroup "$sub"
      as_nobody="setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME=$sub"
      RUN_AS=$as_nobody start_run "$sub"
      wait_for "$sub/results.db" "SELECT COUNT(*) FROM points WHERE state = 'COMPLETED'" || fail "no point completed"
      chmod a-w "$sub/results.db"
      wait_run 180
      [ "$RC" = 1 ] || fail "run whose database was made read-only exited $RC, want 1"
      grep -q "was made read-only during the run" "$sub/run.log" || fail "no message: $(tail -3 "$sub/run.log")"
      no_job_left "$sub"
      check_integrity "$sub/results.db"
      # SQLite gives a -wal/-shm it creates the database's mode; the root reader above may own some.
      chmod u+w "$sub"/results.db* && chown nobody:nogroup "$sub"/results.db*
      (cd "$sub" && $as_nobody "$BIN/perflaw" resume results.db --np 2 > resume.log 2>&1) || fail "resume after chmod u+w: $(tail -2 "$sub/resume.log")"
      [ "$(q "$sub/results.db" "SELECT COUNT(*) FROM points WHERE state != 'COMPLETED'")" = 0 ] || fail "points not COMPLETED after resume"
      ;;
    signals)
      write_sweep "$dir" "$KILL_EPOCHS"
      (cd "$dir" && "$BIN/perflaw" run sweep.yaml --np 1000000 > np.log 2>&1); rc=$?
      [ $rc = 2 ] && grep -q "does not fit here" "$dir/np.log" || fail "--np 1000000 exited $rc: $(cat "$dir/np.log")"
      [ ! -e "$dir/results.db" ] || fail "--np 1000000 wrote the database"
      for sig in INT TERM HUP; do
        for when in start-up running; do
          sub="$dir/$sig-$when"; mkdir -p "$sub"; write_sweep "$sub" "$KILL_EPOCHS"
          # Only `perflaw run` is signalled (no setsid: as a user's kill would).
          (cd "$sub" && exec "$BIN/perflaw" run sweep.yaml --np 2 > run.log 2>&1) &
          RUN_PID=$!
          if [ $when = start-up ]; then
            for i in $(seq 1 100); do [ -n "$(job_process "perflaw-worker serve")" ] && break; sleep 0.05; done
          else
            wait_running_epoch "$sub/results.db"
          fi
          kill -"$sig" "$RUN_PID"
          wait_run 90
          if [ $when = running ]; then
            [ "$RC" = 3 ] || fail "SIG$sig while running: exit $RC, want 3 (stopped, points pending)"
            [ "$(q "$sub/results.db" "SELECT status FROM sweeps")" = INTERRUPTED ] || fail "SIG$sig: sweep not INTERRUPTED"
          else
            [ "$RC" != 0 ] || fail "SIG$sig at start-up: exit 0"
          fi
          no_job_left "$sub"
        done
      done
      # `perflaw run` killed outright: mpirun is told (parent-death signal) and ends the job.
      sub="$dir/KILL"; mkdir -p "$sub"; write_sweep "$sub" "$KILL_EPOCHS"
      (cd "$sub" && exec "$BIN/perflaw" run sweep.yaml --np 2 > run.log 2>&1) &
      RUN_PID=$!
      wait_running_epoch "$sub/results.db"
      kill -9 "$RUN_PID"; wait "$RUN_PID"
      no_job_left "$sub"
      check_integrity "$sub/results.db"
      ;;
    *) fail "unknown case" ;;
  esac
done
[ $FAILS = 0 ] && echo "all fault cases passed" || echo "$FAILS failure(s)"
exit $((FAILS > 0))
