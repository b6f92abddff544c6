#!/usr/bin/env bash
# A virtual cluster on one machine: several MPI "hosts" that are network namespaces, for real
# multi-host runs (shared memory within a host, TCP between hosts) without a second machine.
#
#   jobs/virtual-cluster.sh up [N]        N virtual hosts (default 2): vnode1..vnodeN at
#                                         10.77.0.1..N on bridge vcbr0 (10.77.0.254/24), and the
#                                         hostfile hostfiles/virtual-cluster (N x "10.77.0.i slots=2")
#   jobs/virtual-cluster.sh up --hosts N --cores-per-host C
#                                         the same, but each host gets C CPUs of its own: vnodeI
#                                         the machine's CPUs (I-1)*C..I*C-1 (of those this process
#                                         may use), every process launched into it pinned there
#                                         (taskset); the hostfile says slots=C. Refused when N*C
#                                         exceeds the CPUs. Plain `up [N]` shares all CPUs again.
#   jobs/virtual-cluster.sh run -np N [MPIRUN OPTIONS] PROGRAM [ARGS...]
#                                         mpirun over the virtual hosts (prints the command)
#   jobs/virtual-cluster.sh status        what exists (exit 0 when up, 3 when not or partly up)
#   jobs/virtual-cluster.sh down          remove namespaces, bridge and hostfile (safe when down)
#
# Each virtual host is a network namespace with its own address, joined to the others by a
# bridge. Open MPI starts its daemon on a host through the launch agent jobs/vc-agent.sh
# (--mca plm_rsh_agent, in place of ssh), which enters the namespace and gives the daemon, and so
# the ranks, their own hostname (vnodeN: MPI_Get_processor_name, mpipe's tiers) and their own
# /dev/shm. All hosts share the machine's file system, so binaries and results files are where
# they are; the cores are shared too (every virtual host believes it owns all of them, hence
# --bind-to none), unless up was given --cores-per-host: then `up` stores each host's CPU list in
# /run/mpipe-virtual-cluster/vnodeI.cpus and the agent starts the daemon under `taskset -c LIST`,
# so the daemon and every rank it starts may run on those CPUs only (with --bind-to none the
# mask is the rank's affinity, which mpipe records in its `ranks` dataset). Ranks fill hosts in
# order: -np 4 puts ranks 0,1 on vnode1 and 2,3 on vnode2 (with slots=C: C ranks per host).
# For the same reason Open MPI cannot see when the job oversubscribes the real cores, so with
# more ranks than cores (with --cores-per-host: than N*C) `run` adds --mca mpi_yield_when_idle 1
# (what --oversubscribe gives on one host); MPIPE_VC_YIELD=0 leaves it out (e.g. `mpipe bench`,
# which keeps two ranks busy at a time), MPIPE_VC_YIELD=1 always adds it (do that when --host
# puts more ranks on one host than it has CPUs).
#
# Root only (namespaces, bridge, mounts). up/down hold an flock on /run/mpipe-virtual-cluster.lock
# (skipped when MPIPE_VC_LOCK_HELD=1: the caller holds it, as tests/cluster/virtual_cluster.sh
# does). Traffic stays on 10.77.0.0/24, which up refuses to use if something else routes it.
# Exit status: 0 ok, 1 failure, 2 usage, 3 not up (status, run), 4 this machine cannot host a
# virtual cluster (not root, no `ip`/`unshare`, namespaces or bridges not permitted).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
agent=$here/vc-agent.sh
hostfile=$repo/hostfiles/virtual-cluster
lockfile=/run/mpipe-virtual-cluster.lock
statedir=/run/mpipe-virtual-cluster
bridge=vcbr0
subnet=10.77.0.0/24
prefix=10.77.0
bridge_ip=10.77.0.254
slots=2  # per host; with --cores-per-host C, C

say() { echo "[virtual-cluster] $*"; }
die() { echo "[virtual-cluster] error: $1" >&2; exit "${2:-1}"; }
unsupported() { die "$1 (this machine cannot host a virtual cluster)" 4; }

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -n 's/^# \{0,1\}//p'
}

need_root_and_tools() {
  [ "$(id -u)" -eq 0 ] || unsupported "must run as root (network namespaces, a bridge, mounts)"
  local tool
  for tool in ip unshare flock; do
    command -v "$tool" >/dev/null || unsupported "'$tool' not found (Debian: apt-get install iproute2 util-linux)"
  done
}

take_lock() {
  [ "${MPIPE_VC_LOCK_HELD:-0}" = 1 ] && return 0
  exec 8>"$lockfile"
  flock -w 120 8 || die "another virtual-cluster up/down or test holds $lockfile for over 120 s"
}

# Virtual hosts that exist now, one number per line, sorted.
nodes() { ip netns list 2>/dev/null | sed -nE 's/^vnode([0-9]+)( .*)?$/\1/p' | sort -n; }
has_link() { ip link show dev "$1" >/dev/null 2>&1; }

# Can this machine do what up and the agent need? Tried on a throwaway namespace first, so a
# refusal leaves nothing behind and is reported as unsupported rather than as a failure.
probe() {
  local p=vcprobe$$ err
  if ! err=$(ip netns add "$p" 2>&1); then
    unsupported "cannot create a network namespace: 'ip netns add' said: $err"
  fi
  if ! err=$(ip netns exec "$p" unshare --uts --mount --propagation private \
               sh -c 'hostname vcprobe && mount -t tmpfs tmpfs /dev/shm' 2>&1); then
    ip netns del "$p" 2>/dev/null || true
    unsupported "cannot give a namespace its own hostname and /dev/shm: $err"
  fi
  ip netns del "$p"
}

write_hostfile() {
  local n=$1 cores=$2 i how
  if ((cores > 0)); then
    how="up --hosts $n --cores-per-host $cores; each host has $cores CPU(s) of its own"
  else
    how="up $n; the hosts share all CPUs"
  fi
  mkdir -p "$(dirname "$hostfile")"
  {
    echo "# Virtual cluster: $n hosts (network namespaces vnode1..vnode$n on this machine), slots=$slots"
    echo "# each. Written by jobs/virtual-cluster.sh $how."
    echo "# Removed by its 'down'; launch through 'jobs/virtual-cluster.sh run' (it adds the launch"
    echo "# agent and interface settings)."
    for ((i = 1; i <= n; i++)); do
      if ((cores > 0)); then
        echo "$prefix.$i slots=$slots  # vnode$i: CPUs $(cat "$statedir/vnode$i.cpus")"
      else
        echo "$prefix.$i slots=$slots"
      fi
    done
  } >"$hostfile.tmp.$$"
  mv "$hostfile.tmp.$$" "$hostfile"
}

# The CPUs this process may run on, one number per line (its affinity, e.g. "0-1,4" expanded).
allowed_cpus() {
  local list part
  list=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status)
  [ -n "$list" ] || list="0-$(($(nproc) - 1))"
  for part in ${list//,/ }; do
    if [[ $part == *-* ]]; then seq "${part%-*}" "${part#*-}"; else echo "$part"; fi
  done
}

# Gives host i (1..n) CPUs (i-1)*c .. i*c-1 of allowed_cpus, in $statedir/vnodeI.cpus (a taskset
# list); c = 0 removes those files: the hosts share every CPU, as without --cores-per-host.
assign_cpus() {
  local n=$1 c=$2 i j cpus list
  mkdir -p "$statedir"
  rm -f "$statedir"/vnode*.cpus "$statedir/cores_per_host"
  ((c > 0)) || return 0
  mapfile -t cpus < <(allowed_cpus)
  for ((i = 1; i <= n; i++)); do
    list=""
    for ((j = (i - 1) * c; j < i * c; j++)); do list+="${list:+,}${cpus[$j]}"; done
    echo "$list" >"$statedir/vnode$i.cpus"
  done
  echo "$c" >"$statedir/cores_per_host"
}

cmd_up() {
  local n c i existing created=0 given_n="" given_c=""
  while [ $# -gt 0 ]; do
    case $1 in
      --hosts) [ $# -ge 2 ] || die "up: --hosts needs a number" 2; given_n=$2; shift 2 ;;
      --hosts=*) given_n=${1#*=}; shift ;;
      --cores-per-host) [ $# -ge 2 ] || die "up: --cores-per-host needs a number" 2; given_c=$2; shift 2 ;;
      --cores-per-host=*) given_c=${1#*=}; shift ;;
      -*) die "up: unknown option '$1' (usage: $0 up [N] | up --hosts N [--cores-per-host C])" 2 ;;
      *) [ -z "$given_n" ] || die "up: the number of hosts given twice ('$given_n', '$1')" 2
         given_n=$1; shift ;;
    esac
  done
  n=${given_n:-2}
  if ! [[ $n =~ ^[0-9]+$ ]] || ((10#$n < 1 || 10#$n > 253)); then die "up: N must be 1..253, got '$n'" 2; fi
  n=$((10#$n))
  if [ -n "$given_c" ] && { ! [[ $given_c =~ ^[0-9]+$ ]] || ((10#$given_c < 1)); }; then
    die "up: --cores-per-host must be a whole number >= 1, got '$given_c'" 2
  fi
  c=$((10#${given_c:-0}))
  local machine
  machine=$(allowed_cpus | wc -l)
  if ((c > 0 && n * c > machine)); then
    die "up: $n hosts x $c cores per host need $((n * c)) CPUs, but this machine has $machine (CPUs $(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status)); give fewer hosts or fewer cores per host" 2
  fi
  need_root_and_tools
  if ((c > 0)); then
    slots=$c
    command -v taskset >/dev/null || unsupported "'taskset' not found (Debian: apt-get install util-linux)"
  fi
  take_lock
  existing=$(nodes | paste -sd' ')
  for i in $existing; do
    ((i <= n)) || die "up $n: vnode$i exists (the cluster is up with more hosts: $existing); run 'down' first" 1
  done
  local other
  other=$(ip -4 route show "$subnet" 2>/dev/null | grep -v "dev $bridge" || true)
  [ -z "$other" ] || die "$subnet is already routed elsewhere ($other); not touching it"

  if [ "$(echo "$existing" | wc -w)" -lt "$n" ]; then probe; fi
  if ! has_link "$bridge"; then
    ip link add "$bridge" type bridge 2>/dev/null || unsupported "cannot create bridge $bridge"
    created=1
  fi
  if ! ip -4 addr show dev "$bridge" | grep -q "inet $bridge_ip/"; then
    ip addr add "$bridge_ip/24" dev "$bridge"
    created=1
  fi
  ip link set "$bridge" up
  for ((i = 1; i <= n; i++)); do
    local ns=vnode$i
    if ! ip netns list | grep -qE "^$ns( |$)"; then
      ip netns add "$ns"
      created=1
    fi
    if ! ip -n "$ns" link show dev "ve$i" >/dev/null 2>&1; then
      has_link "vh$i" && ip link del "vh$i"   # a stale half of a pair
      ip link add "vh$i" type veth peer name "ve$i" || unsupported "cannot create veth pairs"
      ip link set "ve$i" netns "$ns"
      created=1
    fi
    ip link set "vh$i" master "$bridge"
    ip link set "vh$i" up
    if ! ip -n "$ns" -4 addr show dev "ve$i" | grep -q "inet $prefix.$i/"; then
      ip -n "$ns" addr add "$prefix.$i/24" dev "ve$i"
      created=1
    fi
    ip -n "$ns" link set "ve$i" up
    ip -n "$ns" link set lo up
  done
  local cpus_before cpus_after
  cpus_before=$(cpu_state)
  assign_cpus "$n" "$c"
  cpus_after=$(cpu_state)
  write_hostfile "$n" "$c"
  if ((created)) || [ ! -f "$statedir/owner" ]; then
    echo "${MPIPE_VC_OWNER:-user}" >"$statedir/owner"
  fi
  if ((created)); then
    if ((n == 1)); then
      say "up: 1 host vnode1 at $prefix.1 on $bridge ($bridge_ip)"
    else
      say "up: $n hosts vnode1..vnode$n at $prefix.1..$prefix.$n on $bridge ($bridge_ip)"
    fi
  elif [ "$cpus_before" = "$cpus_after" ]; then
    say "already up: vnode1..vnode$n (nothing to do)"
  else
    say "already up: vnode1..vnode$n; CPUs per host changed (what runs there now keeps its CPUs)"
  fi
  for ((i = 1; i <= n; i++)); do say "vnode$i: $(host_cpus "$i")"; done
  say "hostfile: $hostfile; launch with: $0 run -np $((n * slots)) PROGRAM [ARGS...]"
}

# What each host may run on, as `up` last set it: one "vnodeI LIST" line per pinned host.
cpu_state() { grep -H . "$statedir"/vnode*.cpus 2>/dev/null || true; }

# Host i's CPUs in words: "CPUs 0 (1 core of its own)" or "all CPUs (shared)".
host_cpus() {
  local f=$statedir/vnode$1.cpus list k
  if [ -f "$f" ]; then
    list=$(cat "$f")
    k=$(echo "$list" | tr ',' '\n' | wc -l)
    echo "CPUs $list ($k core$( ((k == 1)) || echo s) of its own)"
  else
    echo "all $(nproc) CPUs (shared with the other hosts)"
  fi
}

cmd_down() {
  need_root_and_tools
  take_lock
  local i pids gone=""
  for i in $(nodes); do
    pids=$(ip netns pids "vnode$i" 2>/dev/null | tr '\n' ' ')
    if [ -n "${pids// /}" ]; then
      say "vnode$i still runs processes $pids: sending TERM"
      # shellcheck disable=SC2086
      kill -TERM $pids 2>/dev/null || true
      local _
      for _ in 1 2 3 4 5 6 7 8 9 10; do
        [ -z "$(ip netns pids "vnode$i" 2>/dev/null)" ] && break
        sleep 0.2
      done
      pids=$(ip netns pids "vnode$i" 2>/dev/null | tr '\n' ' ')
      if [ -n "${pids// /}" ]; then
        say "vnode$i: processes $pids ignored TERM: sending KILL"
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
      fi
    fi
    ip netns del "vnode$i"
    gone+=" vnode$i"
  done
  # Host ends of veth pairs normally vanish with their namespace; remove any stale one.
  local link
  for link in $(ip -o link show type veth 2>/dev/null | sed -nE 's/^[0-9]+: (vh[0-9]+)@.*/\1/p'); do
    ip link del "$link" 2>/dev/null || true
  done
  if has_link "$bridge"; then
    ip link del "$bridge"
    gone+=" $bridge"
  fi
  [ -f "$hostfile" ] && gone+=" $hostfile"
  rm -f "$hostfile"
  rm -rf "$statedir"
  if [ -n "$gone" ]; then
    say "down: removed$gone"
  else
    say "down: nothing was up"
  fi
}

cmd_status() {
  need_root_and_tools
  local list i n ok=1 pids
  list=$(nodes | tr '\n' ' ')
  n=$(echo "$list" | wc -w)
  if has_link "$bridge"; then
    say "bridge $bridge: $(ip -4 -o addr show dev "$bridge" | awk '{print $4}' | tr '\n' ' ')"
  else
    say "bridge $bridge: absent"
    ok=0
  fi
  if ((n == 0)); then
    say "namespaces: none"
    ok=0
  fi
  for i in $list; do
    pids=$(ip netns pids "vnode$i" 2>/dev/null | wc -l)
    say "vnode$i: $(ip -n "vnode$i" -4 -o addr show 2>/dev/null | awk '$2 != "lo" {print $2, $4}' | tr '\n' ' ')($pids processes); $(host_cpus "$i")"
    ip -n "vnode$i" -4 -o addr show 2>/dev/null | grep -q "inet $prefix.$i/" || ok=0
  done
  if [ -f "$hostfile" ]; then
    say "hostfile $hostfile: $(grep -vc '^#' "$hostfile") hosts"
  else
    say "hostfile $hostfile: absent"
    ok=0
  fi
  [ -f "$statedir/owner" ] && say "brought up by: $(cat "$statedir/owner")"
  if ((ok)); then
    say "status: up ($n hosts)"
    return 0
  fi
  say "status: not up$( ((n > 0)) || has_link "$bridge" && echo ' (partly: run down, then up)')"
  return 3
}

cmd_run() {
  [ $# -ge 1 ] || die "usage: $0 run -np N [MPIRUN OPTIONS] PROGRAM [ARGS...]" 2
  need_root_and_tools
  command -v mpirun >/dev/null || unsupported "'mpirun' not found"
  if [ ! -f "$hostfile" ] || [ -z "$(nodes)" ]; then
    die "the virtual cluster is not up: run '$0 up' first" 3
  fi
  [ -x "$agent" ] || die "launch agent $agent is not executable (chmod +x it)"
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  local cmd=(mpirun --hostfile "$hostfile" --mca plm_rsh_agent "$agent"
             --mca oob_tcp_if_include "$subnet" --mca btl_tcp_if_include "$subnet"
             --bind-to none --map-by slot)
  # Every virtual host believes it owns all the machine's cores, so Open MPI never sees that
  # the job oversubscribes them and lets idle ranks spin in MPI calls without yielding; ranks
  # then wait for the scheduler tick (~4 ms), e.g. during mpipe's clock sync. When the ranks
  # outnumber the cores, ask for what --oversubscribe gives on one host: yield when idle.
  # MPIPE_VC_YIELD=0 never adds it, =1 always does.
  local np="" args=("$@") i cores
  for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[$i]}" in  # the first only: a program's own -c or -n is not mpirun's
      -np|-n|--np|-c) np=${args[$((i + 1))]:-}; break ;;
      --np=*|-np=*) np=${args[$i]#*=}; break ;;
    esac
  done
  [[ $np =~ ^[0-9]+$ ]] || np=$(awk '!/^#/ && match($0, /slots=[0-9]+/) {n += substr($0, RSTART + 6, RLENGTH - 6)} END {print n + 0}' "$hostfile")
  cores=$(nproc)
  # Hosts with CPUs of their own: together they have only those (N*C, maybe fewer than nproc).
  if [ -f "$statedir/cores_per_host" ]; then
    cores=$(($(cat "$statedir/cores_per_host") * $(nodes | wc -l)))
  fi
  case "${MPIPE_VC_YIELD:-auto}" in
    1) cmd+=(--mca mpi_yield_when_idle 1) ;;
    0) ;;
    auto) if ((np > cores)); then
            say "$np ranks on $cores cores: adding --mca mpi_yield_when_idle 1 (MPIPE_VC_YIELD=0: don't)" >&2
            cmd+=(--mca mpi_yield_when_idle 1)
          fi ;;
    *) die "MPIPE_VC_YIELD must be auto, 0 or 1, got '$MPIPE_VC_YIELD'" 2 ;;
  esac
  cmd+=("$@")
  echo "[virtual-cluster] OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 $(printf '%q ' "${cmd[@]}" | sed 's/ $//')" >&2
  exec "${cmd[@]}"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) shift; [ $# -eq 0 ] || die "usage: $0 down" 2; cmd_down ;;
  status) shift; [ $# -eq 0 ] || die "usage: $0 status" 2; cmd_status ;;
  run) shift; cmd_run "$@" ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
