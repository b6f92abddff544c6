#!/usr/bin/env bash
# mpirun with the settings a laptop or container needs, said out loud:
#  - more ranks than cores: --oversubscribe --bind-to none (and ranks wait politely: see docs/running.md);
#  - running as root (containers, CI): OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;
#  - MPIPE_TRANSPORT=tcp forces TCP even between ranks of one host (--mca btl self,tcp), to see
#    what a network hop costs without a second machine; shm (default) leaves Open MPI's choice.
# Usage: [MPIPE_TRANSPORT=tcp] scripts/mpirun.sh -np N [other mpirun options] PROGRAM [ARGS...]
set -euo pipefail
np=1
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    -np|-n|--np|-c) np=${args[$((i + 1))]:-1} ;;
  esac
done
extra=()
cores=$(nproc)
if ((np > cores)); then
  echo "[mpirun.sh] $np ranks on $cores cores: adding --oversubscribe --bind-to none" >&2
  extra+=(--oversubscribe --bind-to none)
fi
if [ "$(id -u)" -eq 0 ]; then
  echo "[mpirun.sh] running as root: setting OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1" >&2
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
case "${MPIPE_TRANSPORT:-shm}" in
  tcp) echo "[mpirun.sh] MPIPE_TRANSPORT=tcp: adding --mca btl self,tcp" >&2
       extra+=(--mca btl self,tcp) ;;
  shm) ;;
  *) echo "[mpirun.sh] error: MPIPE_TRANSPORT must be shm or tcp, got '$MPIPE_TRANSPORT'" >&2; exit 2 ;;
esac
exec mpirun "${extra[@]}" "$@"
