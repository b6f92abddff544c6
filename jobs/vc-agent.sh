#!/bin/sh
# Open MPI launch agent for the virtual cluster (jobs/virtual-cluster.sh); not meant to be run by
# hand. Open MPI's rsh launcher (--mca plm_rsh_agent) calls it the way it would call ssh:
#
#   vc-agent.sh HOST COMMAND...
#
# HOST is a line of the hostfile, 10.77.0.N (or vnodeN); COMMAND is the daemon's command line as
# ssh would pass it to a remote shell. It runs COMMAND in network namespace vnodeN, inside fresh
# UTS and mount namespaces where the hostname is vnodeN and /dev/shm is a private tmpfs: without
# those, the shared-memory transport (vader) of two virtual hosts collides (same host name, same
# segment names) and ranks crash. The mounts vanish with the daemon; nothing leaks to the host.
# When `virtual-cluster.sh up --cores-per-host C` gave the host CPUs of its own (a taskset list in
# /run/mpipe-virtual-cluster/vnodeN.cpus), all of that runs under `taskset -c LIST`: the daemon
# and every rank it starts inherit the mask (mpirun --bind-to none leaves it as it is).
set -eu
[ $# -ge 2 ] || { echo "vc-agent.sh: usage: vc-agent.sh HOST COMMAND..." >&2; exit 255; }
host=$1
shift
case $host in
  10.77.0.*) node=vnode${host##*.} ;;
  vnode*) node=$host ;;
  *) echo "vc-agent.sh: '$host' is not a virtual-cluster host (10.77.0.N or vnodeN)" >&2; exit 255 ;;
esac
pin=""
cpus_file=/run/mpipe-virtual-cluster/$node.cpus
if [ -f "$cpus_file" ]; then
  pin=$(cat "$cpus_file")
  case $pin in
    ''|*[!0-9,-]*) echo "vc-agent.sh: $cpus_file holds '$pin', not a CPU list" >&2; exit 255 ;;
  esac
  command -v taskset >/dev/null ||
    { echo "vc-agent.sh: $node has CPUs $pin of its own but 'taskset' is missing (util-linux)" >&2; exit 255; }
fi
# Open MPI hands ssh-style arguments; the remote shell would join and parse them: eval does that.
remote=$*
if [ -n "$pin" ]; then set -- taskset -c "$pin"; else set --; fi
# shellcheck disable=SC2016 # $1 and $2 are the inner shell's, on purpose
exec "$@" ip netns exec "$node" unshare --uts --mount --propagation private \
  sh -c 'hostname "$1" && mount -t tmpfs -o mode=1777 tmpfs /dev/shm && eval "$2"' \
  vc-agent "$node" "$remote"
