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
set -eu
[ $# -ge 2 ] || { echo "vc-agent.sh: usage: vc-agent.sh HOST COMMAND..." >&2; exit 255; }
host=$1
shift
case $host in
  10.77.0.*) node=vnode${host##*.} ;;
  vnode*) node=$host ;;
  *) echo "vc-agent.sh: '$host' is not a virtual-cluster host (10.77.0.N or vnodeN)" >&2; exit 255 ;;
esac
# Open MPI hands ssh-style arguments; the remote shell would join and parse them: eval does that.
# shellcheck disable=SC2016 # $1 and $2 are the inner shell's, on purpose
exec ip netns exec "$node" unshare --uts --mount --propagation private \
  sh -c 'hostname "$1" && mount -t tmpfs -o mode=1777 tmpfs /dev/shm && eval "$2"' \
  vc-agent "$node" "$*"
