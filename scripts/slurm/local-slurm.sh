#!/usr/bin/env bash
# A real Slurm on one machine (munged, slurmctld, slurmd from Debian's slurm-wlm and munge packages) for
# tests and trying `perflaw submit --slurm`: one node (this machine), or PERFLAW_SLURM_NODES simulated
# nodes for multi-node jobs. Runs as root; every file (munge key and
# socket, slurm.conf, state, spool, logs, pid files) lives under one directory, so it never touches
# /etc/munge or /etc/slurm and a stop leaves the machine as it was.
#
#   bash scripts/slurm/local-slurm.sh start    # idempotent; prints `export SLURM_CONF=...`
#   bash scripts/slurm/local-slurm.sh status   # daemons and sinfo; exit 0 only if the node is usable
#   bash scripts/slurm/local-slurm.sh stop     # stops the daemons it started (by their pid files)
#   eval "$(bash scripts/slurm/local-slurm.sh start | grep '^export ')"
#
# Settings (environment):
#   PERFLAW_SLURM_DIR    state directory                   (default /tmp/perflaw-slurm)
#   PERFLAW_SLURM_CPUS   CPUs the node offers (>= 1)        (default: max(nproc, 4))
#   PERFLAW_SLURM_PORT   slurmctld port; slurmd uses +1     (default 6817)
#   PERFLAW_SLURM_WAIT   seconds to wait for the node idle  (default 60)
#   PERFLAW_SLURM_NODES  simulated nodes (1-8; default 1: this machine itself, named by its hostname)
# With PERFLAW_SLURM_NODES = N > 1 the nodes are node1..nodeN: one slurmd each (port PORT+i), each in
# its own UTS namespace with that host name, so job steps on node i see `hostname` = nodei and Open
# MPI's per-node state (shared-memory segments are named by host and local rank) does not collide.
# mpirun inside a job starts its daemons on the other nodes through srun as on a real cluster; the
# traffic between "nodes" stays on this machine. docs/cluster.md says what this proves.
# The node may offer more CPUs than the machine has (SlurmdParameters=config_overrides), so that the
# test jobs (2 tasks each) run side by side on a 2-core machine; a real cluster never needs this.
# Installing the packages is scripts/install-deps.sh's job.
set -euo pipefail

ACTION=${1:-}
DIR=${PERFLAW_SLURM_DIR:-/tmp/perflaw-slurm}
NPROC=$(nproc)
CPUS=${PERFLAW_SLURM_CPUS:-$((NPROC > 4 ? NPROC : 4))}
PORT=${PERFLAW_SLURM_PORT:-6817}
WAIT=${PERFLAW_SLURM_WAIT:-60}
NODE_COUNT=${PERFLAW_SLURM_NODES:-1}
# Checked here, before any arithmetic reads it (bash would evaluate an expression in it).
if ! [[ $NODE_COUNT =~ ^[1-8]$ ]]; then
  echo "local-slurm: error: PERFLAW_SLURM_NODES must be an integer 1..8, got '$NODE_COUNT'" >&2
  exit 2
fi
if [[ $NODE_COUNT == 1 ]]; then
  NODES=("$(hostname -s)")
else
  NODES=()
  for ((i = 1; i <= NODE_COUNT; i++)); do NODES+=("node$i"); done
fi
NODE_LIST=$(IFS=,; echo "${NODES[*]}")  # as slurm.conf's partition line names them
CONF=$DIR/slurm.conf
MUNGE_SOCKET=$DIR/munge/munge.socket

die() {
  echo "local-slurm: error: $*" >&2
  exit 1
}
log() { echo "local-slurm: $*" >&2; }

check_settings() {
  [[ $CPUS =~ ^[1-9][0-9]{0,3}$ ]] || die "PERFLAW_SLURM_CPUS must be an integer >= 1, got '$CPUS'"
  if ! [[ $PORT =~ ^[1-9][0-9]{2,4}$ ]] || ((PORT >= 65535)); then
    die "PERFLAW_SLURM_PORT must be a port number (100..65534), got '$PORT'"
  fi
  [[ $WAIT =~ ^[1-9][0-9]*$ ]] || die "PERFLAW_SLURM_WAIT must be seconds >= 1, got '$WAIT'"
  ((PORT + NODE_COUNT < 65535)) || die "PERFLAW_SLURM_PORT + PERFLAW_SLURM_NODES must stay below 65535"
  [[ $DIR == /* && $DIR != *[[:space:]]* ]] ||
    die "PERFLAW_SLURM_DIR must be an absolute path without spaces, got '$DIR'"
}

# pid_alive PIDFILE: the process named in PIDFILE runs.
pid_alive() {
  [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

need_tools() {
  local t
  for t in munged mungekey slurmctld slurmd sinfo sbatch scontrol unshare; do
    command -v "$t" >/dev/null 2>&1 || die "$t not found: install slurm-wlm and munge (scripts/install-deps.sh)"
  done
}

make_dirs() {
  mkdir -p "$DIR"/{munge,state,spool,log,run}
  local node
  for node in "${NODES[@]}"; do mkdir -p "$DIR/spool/slurmd-$node" "$DIR/tmp/$node"; done
  # munged refuses keys and sockets in directories that others can write.
  chmod 700 "$DIR" "$DIR"/munge
}

start_munge() {
  if pid_alive "$DIR/run/munged.pid"; then
    log "munged already running (pid $(cat "$DIR/run/munged.pid"))"
    return
  fi
  [[ -s $DIR/munge/munge.key ]] || mungekey --create --keyfile="$DIR/munge/munge.key" --force
  chmod 600 "$DIR/munge/munge.key"
  # --force: munged runs as root here (it warns otherwise and stops).
  munged --force --key-file="$DIR/munge/munge.key" --socket="$MUNGE_SOCKET" \
    --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" \
    --seed-file="$DIR/munge/munged.seed" ||
    die "munged did not start; see $DIR/log/munged.log"
}

write_conf() {
  cat >"$CONF.tmp" <<EOF
# Written by scripts/slurm/local-slurm.sh: a Slurm of $NODE_COUNT node(s) for tests (state under $DIR).
ClusterName=perflaw
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/slurmd-%n
# Per node: the PMIx plugin makes its client directories here, named by job and step only, so nodes
# sharing one /tmp would collide.
TmpFS=$DIR/tmp/%n
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd-%n.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups in containers: track processes by their parent pids, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# Finished jobs stay visible to scontrol for 10 minutes (no accounting database here), and their
# end state is also appended to this file.
MinJobAge=600
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=10
EOF
  local i
  if ((NODE_COUNT == 1)); then
    echo "NodeName=${NODES[0]} NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN" >>"$CONF.tmp"
  else  # every slurmd on this machine: its own port, its own host name (UTS namespace)
    for ((i = 0; i < NODE_COUNT; i++)); do
      echo "NodeName=${NODES[i]} NodeHostname=${NODES[i]} NodeAddr=127.0.0.1 Port=$((PORT + 1 + i))" \
        "CPUs=$CPUS State=UNKNOWN" >>"$CONF.tmp"
    done
  fi
  echo "PartitionName=debug Nodes=$NODE_LIST Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO" \
    >>"$CONF.tmp"
  mv "$CONF.tmp" "$CONF"
}

start_slurm() {
  if pid_alive "$DIR/run/slurmctld.pid"; then
    grep -qx "PartitionName=debug Nodes=$NODE_LIST .*" "$CONF" 2>/dev/null ||
      die "the Slurm running in $DIR has other nodes than ${NODES[*]}; stop it first" \
        "(bash $0 stop, with the same PERFLAW_SLURM_DIR)"
    log "slurmctld already running (pid $(cat "$DIR/run/slurmctld.pid"))"
  else
    write_conf
    SLURM_CONF=$CONF slurmctld -f "$CONF" || die "slurmctld did not start; see $DIR/log/slurmctld.log"
  fi
  local node
  for node in "${NODES[@]}"; do
    if pid_alive "$DIR/run/slurmd-$node.pid"; then
      log "slurmd of $node already running (pid $(cat "$DIR/run/slurmd-$node.pid"))"
    elif ((NODE_COUNT == 1)); then
      SLURM_CONF=$CONF slurmd -f "$CONF" || die "slurmd did not start; see $DIR/log/slurmd-$node.log"
    else
      # slurmd daemonizes itself; the namespace (and its host name) stays with it and its children.
      SLURM_CONF=$CONF unshare --uts bash -c 'hostname "$1" && exec slurmd -f "$2" -N "$1"' \
        local-slurm "$node" "$CONF" || die "slurmd of $node did not start; see $DIR/log/slurmd-$node.log"
    fi
  done
}

node_state() {  # node_state NODE
  SLURM_CONF=$CONF sinfo -h -n "$1" -o %T 2>/dev/null | head -n1
}

wait_idle() {
  local deadline=$((SECONDS + WAIT)) state="" node
  for node in "${NODES[@]}"; do
    while :; do
      state=$(node_state "$node" || true)
      case $state in
        idle | mixed | allocated | completing) break ;;
        down* | drain* | fail*)
          # ReturnToService=2 brings a registered node back; nudge it in case of stale state.
          SLURM_CONF=$CONF scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true ;;
      esac
      if ((SECONDS >= deadline)); then
        log "node $node not usable after ${WAIT}s (sinfo state: '${state:-none}'); last log lines:"
        tail -n 5 "$DIR/log/slurmctld.log" "$DIR/log/slurmd-$node.log" >&2 2>/dev/null || true
        return 1
      fi
      sleep 1
    done
  done
}

stop_pidfile() {  # stop_pidfile NAME: TERM the daemon named in its pid file, wait up to 15 s, then KILL
  local f=$DIR/run/$1.pid pid i
  pid_alive "$f" || {
    rm -f "$f"
    return 0
  }
  pid=$(cat "$f")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$1 (pid $pid) ignored SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
  log "stopped $1 (pid $pid)"
}

case $ACTION in
  start)
    [[ $(id -u) -eq 0 ]] || die "run as root (the daemons run as root here)"
    check_settings
    need_tools
    make_dirs
    start_munge
    start_slurm
    wait_idle || die "Slurm did not come up"
    log "node(s) ${NODES[*]} up with $CPUS CPUs each; state in $DIR"
    echo "export SLURM_CONF=$CONF"
    ;;
  stop)
    # Jobs' processes are children of slurmstepd; stopping slurmd lets them be killed by slurmctld
    # first, so cancel what is left before the daemons go.
    if pid_alive "$DIR/run/slurmctld.pid"; then
      SLURM_CONF=$CONF scancel --full --quiet --partition=debug >/dev/null 2>&1 || true
    fi
    # Every slurmd this directory started, whatever PERFLAW_SLURM_NODES says now.
    for f in "$DIR"/run/slurmd-*.pid "$DIR"/run/slurmd.pid; do
      if [[ -e $f ]]; then stop_pidfile "$(basename "$f" .pid)"; fi
    done
    stop_pidfile slurmctld
    stop_pidfile munged
    ;;
  status)
    rc=0
    daemons=(munged slurmctld)
    for node in "${NODES[@]}"; do daemons+=("slurmd-$node"); done
    for d in "${daemons[@]}"; do
      if pid_alive "$DIR/run/$d.pid"; then
        echo "$d: running (pid $(cat "$DIR/run/$d.pid"))"
      else
        echo "$d: not running"
        rc=1
      fi
    done
    if ((rc == 0)); then
      for node in "${NODES[@]}"; do echo "node $node: $(node_state "$node")"; done
      echo "export SLURM_CONF=$CONF"
    fi
    exit $rc
    ;;
  *)
    echo "usage: $0 start|stop|status   (state under \$PERFLAW_SLURM_DIR, default /tmp/perflaw-slurm)" >&2
    exit 2
    ;;
esac
