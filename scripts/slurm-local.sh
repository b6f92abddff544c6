#!/usr/bin/env bash
# A local Slurm on this machine, for trying and testing the job scripts in jobs/*.sbatch without
# a cluster: munge + slurmctld + one slurmd (or two, as nodes n1 and n2 on the same machine),
# started by hand (no systemd needed), every file under a state directory of its own.
#
#   scripts/slurm-local.sh install               apt-get install slurmctld slurmd slurm-client
#                                                munge, only what is missing; no daemon is left
#                                                running by the install
#   scripts/slurm-local.sh start [--nodes 1|2]   write STATE/slurm.conf, start munged (if not
#                                                running), slurmctld and the slurmd(s), wait until
#                                                sinfo shows them idle, print `export SLURM_CONF=`
#   scripts/slurm-local.sh status [--nodes 1|2]  daemons and sinfo (exit 0 up, 3 not up)
#   scripts/slurm-local.sh stop [--nodes 1|2]    kill the daemons by their PID files, wait for
#                                                them to exit, remove STATE (and stop munged only
#                                                if this script started it)
#   scripts/slurm-local.sh env [--nodes 1|2]     print the export line only (eval "$(... env)")
#
# STATE is /tmp/mpipe-slurm (1 node, node "localhost") or /tmp/mpipe-slurm2 (2 nodes, "n1" and
# "n2", each with half of the cores and memory). Without --nodes, status and stop act on every
# instance that exists. Use the printed line, e.g.
#     export SLURM_CONF=/tmp/mpipe-slurm/slurm.conf
# so sbatch, squeue, sinfo and srun talk to this Slurm. /etc/slurm/slurm.conf is never read or
# written, and the daemons listen on their own ports (slurmctld 17817/17827, slurmd 17818 or
# 17821+17822), so a real Slurm on the machine is left alone.
# CPUs, cores and memory of the node(s) come from `slurmd -C`. MpiDefault=pmix: `srun` (or
# `srun --mpi=pmix`) starts Open MPI programs; --mpi=pmi2 does not work with Debian's Open MPI.
# Job ids start at the clock's seconds modulo 60e6 (not at 1), so a restarted instance does not
# reuse the ids, and results/slurm/<jobid>.h5 file names, of an earlier one.
# TmpFS is STATE/tmp/<node>, where the PMIx plugin puts its spmix_appdir_* directories (two
# slurmds on one host need separate ones, or `srun -N2 --mpi=pmix` fails).
#
# Root only (the daemons run as root, munged as user munge). Exit status: 0 ok, 1 failure (start:
# with the log tails), 2 usage or not root, 3 not up (status), 4 cannot install (apt failed).
set -euo pipefail

prog=slurm-local
say() { echo "[$prog] $*"; }
die() { echo "[$prog] error: $1" >&2; exit "${2:-1}"; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }

cmd=${1:-}
case "$cmd" in
  -h|--help|help) usage; exit 0 ;;
  install|start|stop|status|env) shift ;;
  "") usage >&2; exit 2 ;;
  *) echo "[$prog] error: unknown command '$cmd' (install|start|stop|status|env, or --help)" >&2; exit 2 ;;
esac
nodes=""
while (($#)); do
  case "$1" in
    --nodes) nodes=${2:-}; shift 2 || die "--nodes needs 1 or 2" 2 ;;
    --nodes=*) nodes=${1#--nodes=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" 2 ;;
  esac
done
case "$nodes" in
  ""|1|2) ;;
  *) die "--nodes must be 1 or 2, got '$nodes'" 2 ;;
esac
[ "$(id -u)" -eq 0 ] || die "must run as root (slurmd runs jobs as any user; munged and the apt install need root)" 2

statedir() { if [ "$1" = 2 ]; then echo /tmp/mpipe-slurm2; else echo /tmp/mpipe-slurm; fi; }

# --- processes, by PID file only --------------------------------------------------------------
# A PID counts as running when /proc has it, it is not a zombie (daemons started by hand can stay
# <defunct> until their parent reaps them) and its command is the expected daemon (PID reuse).
alive() {  # alive PID COMM
  local pid=$1 comm=$2 stat
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ ${stat#*) } != Z* ]] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ]
}
pid_of() { cat "$1" 2>/dev/null || true; }  # pid_of PIDFILE
# stop_pid PIDFILE COMM: TERM, wait up to 10 s, then KILL.
stop_pid() {
  local file=$1 comm=$2 pid
  pid=$(pid_of "$file")
  if [ -z "$pid" ] || ! alive "$pid" "$comm"; then return 0; fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do alive "$pid" "$comm" || { say "stopped $comm (pid $pid)"; return 0; }; sleep 0.1; done
  say "$comm (pid $pid) ignored SIGTERM for 10 s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 30); do alive "$pid" "$comm" || return 0; sleep 0.1; done
  echo "[$prog] error: $comm (pid $pid) is still running" >&2
  return 1
}

node_names() { if [ "$1" = 2 ]; then echo n1 n2; else echo localhost; fi; }

# Which daemons of instance N run; prints one line per daemon, returns 0 if all do.
daemons_up() {  # daemons_up N
  local n=$1 dir ok=0 node pid
  dir=$(statedir "$n")
  pid=$(pid_of "$dir/slurmctld.pid")
  if alive "$pid" slurmctld; then echo "slurmctld pid $pid"; else echo "slurmctld not running"; ok=1; fi
  for node in $(node_names "$n"); do
    pid=$(pid_of "$dir/slurmd-$node.pid")
    if alive "$pid" slurmd; then echo "slurmd -N $node pid $pid"; else echo "slurmd -N $node not running"; ok=1; fi
  done
  return $ok
}

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

# --- install ----------------------------------------------------------------------------------
do_install() {
  local pkgs=(slurmctld slurmd slurm-client munge) missing=() p rc=0 policy=/usr/sbin/policy-rc.d ours=0
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    say "installed already: ${pkgs[*]} ($(slurmd -V 2>/dev/null || echo 'slurmd -V failed'))"
    return 0
  fi
  command -v apt-get >/dev/null || die "no apt-get: install ${missing[*]} by hand" 4
  # The packages' maintainer scripts would start munge/slurmctld/slurmd through invoke-rc.d; a
  # policy-rc.d that answers 101 ("action forbidden") keeps them from doing so, with or without
  # systemd. Ours only while apt runs, and only if the machine has none.
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# mpipe scripts/slurm-local.sh install: no service starts during apt\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    ours=1
  fi
  say "installing with apt: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${missing[@]}" || {
    say "apt-get install failed; running apt-get update and trying again"
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } || rc=$?
  }
  ((ours)) && rm -f "$policy"
  ((rc == 0)) || die "apt-get could not install ${missing[*]} (exit $rc)" 4
  say "installed: $(slurmd -V)"
}

# --- start ------------------------------------------------------------------------------------
# Node hardware from `slurmd -C` ("NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1
# CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105"); nproc if it says nothing.
hw() {  # hw KEY
  local line
  line=$(slurmd -C 2>/dev/null | grep -m1 '^NodeName=' || true)
  sed -n "s/.*[[:space:]]$1=\([0-9]*\).*/\1/p" <<<"$line"
}

write_conf() {  # write_conf N DIR
  local n=$1 dir=$2 cpus mem sockets cores threads ctld_port first_id
  cpus=$(hw CPUs) mem=$(hw RealMemory) sockets=$(hw SocketsPerBoard) cores=$(hw CoresPerSocket) threads=$(hw ThreadsPerCore)
  [ -n "$cpus" ] || cpus=$(nproc)
  [ -n "$mem" ] || mem=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
  # Leave the OS some memory; Slurm refuses a node whose configured memory exceeds the real one.
  mem=$((mem * 9 / 10))
  if [ "$n" = 2 ]; then ctld_port=17827; else ctld_port=17817; fi
  # Job ids from the clock (seconds, modulo 60e6 < MaxJobId), not from 1: stop removes the state,
  # and ids that restarted at 1 would send a new job's results to an old job's results/slurm/ID.h5.
  first_id=$(($(date +%s) % 60000000 + 1000))
  cat >"$dir/slurm.conf" <<EOF
# Written by mpipe scripts/slurm-local.sh start --nodes $n on $(date -u +%FT%TZ); removed by stop.
# A local Slurm for testing job scripts: every file under $dir.
ClusterName=mpipe$n
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
FirstJobId=$first_id
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=pmix
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd-%n.pid
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
TmpFS=$dir/tmp/%n
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
EOF
  if [ "$n" = 2 ]; then
    # Two nodes on one machine: each gets half of the cores and memory (at least 1 CPU).
    local half=$((cpus / 2)) port=17821 node
    ((half >= 1)) || half=1
    for node in n1 n2; do
      echo "NodeName=$node NodeHostname=localhost NodeAddr=127.0.0.1 Port=$port CPUs=$half RealMemory=$((mem / 2)) State=UNKNOWN"
      port=$((port + 1))
    done >>"$dir/slurm.conf"
    echo "PartitionName=debug Nodes=n1,n2 Default=YES MaxTime=INFINITE State=UP" >>"$dir/slurm.conf"
  else
    local topo=""
    [ -n "$sockets" ] && [ -n "$cores" ] && [ -n "$threads" ] &&
      topo=" Sockets=$sockets CoresPerSocket=$cores ThreadsPerCore=$threads"
    cat >>"$dir/slurm.conf" <<EOF
NodeName=localhost NodeHostname=localhost NodeAddr=127.0.0.1 Port=17818 CPUs=$cpus$topo RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  fi
}

log_tails() {  # log_tails DIR
  local f
  for f in "$1"/log/*.log /var/log/munge/munged.log; do
    [ -s "$f" ] || continue
    echo "----- tail $f" >&2
    tail -n 15 "$f" >&2
  done
}

start_munge() {  # start_munge DIR: munged unless one answers; remember if we started it
  local dir=$1 pid
  if munge_ok; then say "munged already running: using it"; return 0; fi
  # The Debian package creates the key at install; recreate it if it is gone.
  if [ ! -s /etc/munge/munge.key ]; then
    say "no /etc/munge/munge.key: creating one"
    mungekey --create --force
    chown munge:munge /etc/munge/munge.key
    chmod 600 /etc/munge/munge.key
  fi
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do munge_ok && break; sleep 0.1; done
  munge_ok || { log_tails "$dir"; die "munged did not come up"; }
  pid=$(pid_of /run/munge/munged.pid)
  alive "$pid" munged || die "munged runs but /run/munge/munged.pid does not name it"
  echo "$pid" >"$dir/munged.started-by-us"
  say "started munged (pid $pid)"
}

do_start() {
  local n=${nodes:-1} dir t0 node state=""
  dir=$(statedir "$n")
  for tool in slurmctld slurmd sinfo munge munged; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
      die "'$tool' not found: run '$0 install' first" 1
  done
  [ -d /sys/fs/cgroup ] || die "slurmd needs /sys/fs/cgroup, which this machine does not have" 1
  if [ -f "$dir/slurm.conf" ] && daemons_up "$n" >/dev/null; then
    say "already running ($dir)"
    echo "export SLURM_CONF=$dir/slurm.conf"
    return 0
  fi
  # Leftovers of an instance that died or was killed: stop what still runs, start afresh.
  [ -d "$dir" ] && do_stop_one "$n" quiet
  t0=$(date +%s.%N)
  mkdir -p "$dir"/{state,log}
  for node in $(node_names "$n"); do mkdir -p "$dir/spool/$node" "$dir/tmp/$node"; done
  write_conf "$n" "$dir"
  export SLURM_CONF=$dir/slurm.conf
  start_munge "$dir"
  /usr/sbin/slurmctld || { log_tails "$dir"; die "slurmctld failed to start"; }
  for node in $(node_names "$n"); do
    /usr/sbin/slurmd -N "$node" || { log_tails "$dir"; die "slurmd -N $node failed to start"; }
  done
  # Up when every node is idle: 20 s at most, and no longer than a daemon lives (slurmctld and
  # slurmd return at once and fail later, e.g. on a port in use). sinfo retries a missing
  # controller for many seconds: each call gets 3.
  local deadline=$((SECONDS + 20)) why="not idle within 20 s"
  while :; do
    state=$(timeout 3 sinfo -h -N -o '%N %T' 2>/dev/null || true)
    if [ -n "$state" ] && ! grep -qv ' idle$' <<<"$state"; then break; fi
    state=""
    if ! daemons_up "$n" >/dev/null; then why="a daemon exited"; sleep 0.5; break; fi
    ((SECONDS < deadline)) || break
    sleep 0.2
  done
  if [ -z "$state" ]; then
    echo "[$prog] error: Slurm did not come up: $why (sinfo: $(timeout 3 sinfo -h -N -o '%N %T' 2>&1 | tr '\n' ' '))" >&2
    daemons_up "$n" >&2 || true
    log_tails "$dir"
    do_stop_one "$n" quiet || true
    exit 1
  fi
  say "up in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s: $(tr '\n' ' ' <<<"$state")(state and logs in $dir)"
  sinfo
  echo "export SLURM_CONF=$dir/slurm.conf"
}

# --- stop / status ----------------------------------------------------------------------------
do_stop_one() {  # do_stop_one N [quiet]
  local n=$1 dir rc=0 node other pid
  dir=$(statedir "$n")
  [ -d "$dir" ] || { [ "${2:-}" = quiet ] || say "not running ($dir does not exist)"; return 0; }
  for node in $(node_names "$n"); do stop_pid "$dir/slurmd-$node.pid" slurmd || rc=1; done
  stop_pid "$dir/slurmctld.pid" slurmctld || rc=1
  if [ -f "$dir/munged.started-by-us" ]; then
    other=$(statedir $((3 - n)))
    pid=$(pid_of "$dir/munged.started-by-us")
    if [ -f "$other/slurm.conf" ] && daemons_up $((3 - n)) >/dev/null; then
      # The other instance still needs munged: it inherits the duty to stop it.
      mv "$dir/munged.started-by-us" "$other/munged.started-by-us"
      say "munged (pid $pid) left running for $other"
    elif alive "$pid" munged; then
      stop_pid "$dir/munged.started-by-us" munged || rc=1
    fi
  fi
  if ((rc == 0)); then
    rm -rf "$dir"
    [ "${2:-}" = quiet ] || say "stopped; removed $dir"
  else
    echo "[$prog] error: some daemons would not stop; $dir kept" >&2
  fi
  return $rc
}

do_stop() {
  local rc=0 n
  if [ -n "$nodes" ]; then do_stop_one "$nodes" || rc=1; return $rc; fi
  for n in 1 2; do [ -d "$(statedir $n)" ] && { do_stop_one $n || rc=1; }; done
  ((rc)) || [ -d "$(statedir 1)" ] || [ -d "$(statedir 2)" ] || say "stopped (nothing left under /tmp/mpipe-slurm*)"
  return $rc
}

do_status() {
  local rc=3 n dir list
  if [ -n "$nodes" ]; then list=$nodes; else list="1 2"; fi
  for n in $list; do
    dir=$(statedir "$n")
    if [ ! -f "$dir/slurm.conf" ]; then
      [ -n "$nodes" ] && say "$n-node instance: not running ($dir/slurm.conf missing)"
      continue
    fi
    if daemons_up "$n" | sed "s/^/[$prog] $n-node: /"; then
      rc=0
      SLURM_CONF=$dir/slurm.conf sinfo -N || true
      echo "export SLURM_CONF=$dir/slurm.conf"
    else
      say "$n-node instance in $dir is only partly up ('$0 stop --nodes $n' cleans it)"
    fi
  done
  ((rc == 0)) || [ -n "$nodes" ] || say "not running (no /tmp/mpipe-slurm*/slurm.conf)"
  if munge_ok; then say "munged: answering"; else say "munged: not answering"; fi
  return $rc
}

case "$cmd" in
  install) do_install ;;
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  env)
    dir=$(statedir "${nodes:-1}")
    [ -f "$dir/slurm.conf" ] || die "not running ($dir/slurm.conf missing): '$0 start${nodes:+ --nodes $nodes}'" 3
    echo "export SLURM_CONF=$dir/slurm.conf" ;;
esac
