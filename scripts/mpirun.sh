#!/usr/bin/env bash
# mpirun with the settings a laptop or container needs, said out loud:
#  - more ranks than cores: --oversubscribe --bind-to none (and ranks wait politely: see README);
#  - running as root (containers, CI): OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1.
# Usage: scripts/mpirun.sh -np N [other mpirun options] PROGRAM [ARGS...]
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
exec mpirun "${extra[@]}" "$@"
