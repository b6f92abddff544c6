#!/usr/bin/env bash
# mpirun with the settings a laptop or container needs, said out loud (one "[mpirun.sh]" line on
# stderr for each):
#  - running as root (containers, CI): OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;
#  - MPIPE_TRANSPORT=tcp forces TCP even between ranks of one host (--mca btl self,tcp), to see
#    what a network hop costs without a second machine; shm (default) leaves Open MPI's choice;
#  - a binding that gives each rank the cores its stages need (docs/running.md, "Cores and
#    binding"). Open MPI binds each rank to one core when there are at most two ranks, so two
#    CPU-bound stages packed on one rank take turns on that core. The rule, first match wins:
#      1. you passed a binding (--bind-to, --map-by, --cpus-per-rank/-proc, --cpu-set,
#         --cpu-list, --rankfile, or OMPI_MCA_{hwloc_base_binding,rmaps_base_mapping}_policy):
#         kept as it is, never overridden; mpipe itself warns before the run if it starves a
#         rank (warn, don't rebind);
#      2. more ranks than cores: --oversubscribe --bind-to none (ranks then wait politely);
#      3. a host list (--host, -H, --hostfile, --machinefile) or a Slurm job on several nodes:
#         --bind-to none, since the cores per host are not known here;
#      4. `mpipe run`: each rank gets PE = floor(cores / ranks) cores, unless that starves one.
#         mpipe is asked: `mpipe run ... --dry-run` under `--map-by slot:PE=PE --bind-to core`
#         warns of every rank whose CPU-bound stage threads (those that can run at once)
#         exceed its cores (core_warnings, src/runtime/layout.cpp). No warning: that binding
#         (ranks kept apart on their own cores); a warning: --bind-to none (every rank may use
#         every core, so a rank packed with several CPU-bound stages runs them at once);
#      5. anything else (other mpipe commands, other programs): --bind-to none, as the needs
#         are not known here and an unbound rank is never starved.
#    MPIPE_BINDING=keep turns the choice off (Open MPI's default binding, or yours).
# Usage: [MPIPE_TRANSPORT=tcp] [MPIPE_BINDING=auto|keep] scripts/mpirun.sh -np N [mpirun options]
#        PROGRAM [ARGS...]
set -euo pipefail
say() { echo "[mpirun.sh] $*" >&2; }
args=("$@")
cores=$(nproc)
np=$cores  # mpirun's own default: one rank per slot, a slot per core
prog=${#args[@]}  # index of PROGRAM (mpipe), if found: mpirun's options are the ones before it
for ((i = 0; i < ${#args[@]}; i++)); do
  if [[ "$(basename -- "${args[$i]}")" == mpipe ]]; then prog=$i; break; fi
done
user_bind="" host_list=""
for ((i = 0; i < prog; i++)); do
  a=${args[$i]}
  case "$a" in
    -np|-n|--np|-c) np=${args[$((i + 1))]:-1} ;;
    --bind-to|-bind-to|--map-by|-map-by|--cpus-per-rank|-cpus-per-rank|--cpus-per-proc|\
    -cpus-per-proc|--cpu-set|-cpu-set|--cpu-list|-cpu-list|--rankfile|-rankfile|-rf)
      user_bind+="${user_bind:+ }$a ${args[$((i + 1))]:-}" ;;
    --bind-to=*|--map-by=*) user_bind+="${user_bind:+ }$a" ;;
    --mca|-mca) case "${args[$((i + 1))]:-}" in hwloc_base_binding_policy|rmaps_base_mapping_policy)
                  user_bind+="${user_bind:+ }$a ${args[$((i + 1))]} ${args[$((i + 2))]:-}" ;; esac ;;
    --host|-host|-H|--hostfile|-hostfile|--machinefile|-machinefile|--default-hostfile)
      host_list="$a given" ;;
  esac
done
if [ -z "$host_list" ] && [[ "${SLURM_JOB_NUM_NODES:-1}" =~ ^[0-9]+$ ]] && ((${SLURM_JOB_NUM_NODES:-1} > 1)); then
  host_list="a Slurm job on $SLURM_JOB_NUM_NODES nodes"
fi
for v in OMPI_MCA_hwloc_base_binding_policy OMPI_MCA_rmaps_base_mapping_policy; do
  [ -z "${!v:-}" ] || user_bind+="${user_bind:+ }$v=${!v}"
done

extra=()
if [ "$(id -u)" -eq 0 ]; then
  say "running as root: setting OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
case "${MPIPE_TRANSPORT:-shm}" in
  tcp) say "MPIPE_TRANSPORT=tcp: adding --mca btl self,tcp"
       extra+=(--mca btl self,tcp) ;;
  shm) ;;
  *) say "error: MPIPE_TRANSPORT must be shm or tcp, got '$MPIPE_TRANSPORT'"; exit 2 ;;
esac

plural() { if (($1 == 1)); then echo "$1 $2"; else echo "$1 $2s"; fi; }
ranks=$(plural "$np" rank) on=$(plural "$cores" core) default="Open MPI's default"
if [ "${MPIPE_BINDING:-auto}" = keep ]; then
  ((np <= cores)) || extra+=(--oversubscribe)
  say "binding: ${user_bind:-$default} (MPIPE_BINDING=keep)"
elif [ -n "$user_bind" ]; then
  # Yours stays, even one that starves a rank: mpipe warns of that before the run, it never
  # rebinds (docs/running.md).
  ((np <= cores)) || extra+=(--oversubscribe)
  say "binding: yours ($user_bind), kept; mpipe warns before the run if it leaves a rank short of cores"
elif ((np > cores)); then
  say "binding: --oversubscribe --bind-to none ($ranks on $on)"
  extra+=(--oversubscribe --bind-to none)
elif [ -n "$host_list" ]; then
  say "binding: --bind-to none ($host_list: the cores per host are not known here)"
  extra+=(--bind-to none)
elif ((prog < ${#args[@]})) && [ "${args[$((prog + 1))]:-}" = run ]; then
  pe=$((cores / np))
  try=(--map-by "slot:PE=$pe" --bind-to core)
  dry=(--dry-run)
  for a in "${args[@]:prog}"; do [ "$a" != --dry-run ] || dry=(); done
  if probe=$(timeout 60 mpirun "${extra[@]}" "${try[@]}" "$@" "${dry[@]}" 2>&1); then
    starved=$(grep -m1 'warning: rank [0-9]* may use CPUs' <<<"$probe" |
      sed -e 's/.*warning: //' -e 's/: they take turns.*//' || true)
    if [ -n "$starved" ]; then
      say "binding: --bind-to none ($ranks on $on; under ${try[*]} $starved)"
      extra+=(--bind-to none)
    else
      say "binding: ${try[*]} ($ranks on $on, $pe each: enough for every rank's CPU-bound stages)"
      extra+=("${try[@]}")
    fi
  else
    say "binding: --bind-to none (the dry run under ${try[*]} failed; the run will say why)"
    extra+=(--bind-to none)
  fi
else
  say "binding: --bind-to none ($ranks on $on; only \`mpipe run\` is asked what its stages need, and an unbound rank is never starved)"
  extra+=(--bind-to none)
fi
exec mpirun "${extra[@]}" "$@"
