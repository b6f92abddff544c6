#!/usr/bin/env bash
# Submit an mpipe job script so that it fits the Slurm cluster it finds, or fail at once saying
# why -- instead of a job that pends forever (reason PartitionConfig: jobs/cluster.sbatch asks for
# 2 nodes, and a one-node cluster never has them).
#
#     jobs/submit.sh                                   # jobs/cluster.sbatch, fitted
#     jobs/submit.sh -N 2 --ntasks-per-node 1          # sbatch options: given, never changed
#     MPIPE_ARGS="--items 5" jobs/submit.sh -p debug jobs/cluster-array.sbatch
#
# Arguments: sbatch options, then optionally the job script (a *.sbatch path; default
# jobs/cluster.sbatch beside this file). Run it where you would run sbatch (the repository root:
# the job's paths are relative to it); the environment passes on to the job as with sbatch.
#   1. Where no option sets nodes or tasks (-N/--nodes, -n/--ntasks, --ntasks-per-node), the
#      script's #SBATCH defaults are checked against `sinfo` for the partition (-p, else the
#      default one): on fewer nodes, or fewer CPUs per node, than they ask for, it asks for what
#      the partition has (e.g. 1 node x 2 tasks on a one-node cluster) and says so. At least 2
#      tasks (a hop to measure): on one node of one CPU, 2 with --overcommit.
#   2. `sbatch --test-only` with the final options: if Slurm says the job can never run here
#      ("Requested node configuration is not available"), nothing is submitted: exit 2 with its
#      message and what the partition has.
#   3. mkdir -p the directory of the script's #SBATCH --output (Slurm fails a job whose output
#      directory is missing) unless -o/--output is given; submit; print "Submitted batch job N".
#   4. For up to 5 s, squeue: a job pending for a reason that does not pass by waiting
#      (PartitionConfig, PartitionNodeLimit, PartitionTimeLimit, BadConstraints, ReqNodeNotAvail,
#      Invalid*, *Max*PerJob*) is cancelled: exit 2, saying why.
# Exit status: 0 submitted, 2 cannot run here (or usage), sbatch's own on other failures.
set -euo pipefail
prog=submit.sh
say() { echo "[$prog] $*" >&2; }
die() { echo "[$prog] error: $*" >&2; exit 2; }
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;; esac
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for tool in sbatch sinfo squeue scancel; do
  command -v "$tool" >/dev/null ||
    die "no '$tool' here: not a Slurm login node (scripts/slurm-local.sh start runs a local Slurm)"
done

opts=() script="" sized=0 partition="" output=0
while (($#)); do
  a=$1
  shift
  case "$a" in
    *.sbatch) script=$a; break ;;  # what follows goes to the script
    -N|--nodes|-n|--ntasks|--ntasks-per-node) sized=1; opts+=("$a" "${1:-}"); shift || true ;;
    -N*|--nodes=*|-n*|--ntasks=*|--ntasks-per-node=*) sized=1; opts+=("$a") ;;
    -p|--partition) partition=${1:-}; opts+=("$a" "${1:-}"); shift || true ;;
    -p*) partition=${a#-p}; opts+=("$a") ;;
    --partition=*) partition=${a#--partition=}; opts+=("$a") ;;
    -o|--output) output=1; opts+=("$a" "${1:-}"); shift || true ;;
    -o*|--output=*) output=1; opts+=("$a") ;;
    *) opts+=("$a") ;;
  esac
done
script_args=("$@")
script=${script:-$here/cluster.sbatch}
[ -f "$script" ] || die "no job script $script"

# The script's #SBATCH default for a long option, e.g. sbatch_default nodes -> 2.
sbatch_default() { sed -n "s/^#SBATCH --$1=\([^ ]*\).*/\1/p" "$script" | head -n 1; }

if [ -z "$partition" ]; then
  partition=$(sinfo -h -o '%P' | sed -n 's/\*$//p' | head -n 1)
  [ -n "$partition" ] || partition=$(sinfo -h -o '%P' | head -n 1)
fi
# Nodes of the partition that can take jobs (not down, drained or failed), and their fewest CPUs.
nodes_up=0 cpus=0 names=""
while read -r name c state; do
  case "$state" in down*|drain*|fail*|inval*) continue ;; esac
  nodes_up=$((nodes_up + 1))
  names="$names${names:+,}$name"
  if ((cpus == 0 || c < cpus)); then cpus=$c; fi
done < <(sinfo -h -N -p "$partition" -o '%N %c %t' 2>/dev/null | sort -u)
((nodes_up > 0)) || die "partition '$partition' has no node that can take a job (sinfo -p $partition)"
have="partition '$partition' has $nodes_up usable node(s) ($names), $cpus CPU(s) on the smallest"

if ((!sized)); then
  want_n=$(sbatch_default nodes) want_ppn=$(sbatch_default ntasks-per-node)
  cpt=$(sbatch_default cpus-per-task)
  want_n=${want_n:-1} want_ppn=${want_ppn:-1} cpt=${cpt:-1}
  for o in "${opts[@]}"; do
    case "$o" in -c*) cpt=${o#-c} ;; --cpus-per-task=*) cpt=${o#--cpus-per-task=} ;; esac
  done
  [[ "$cpt" =~ ^[0-9]+$ ]] && ((cpt > 0)) || cpt=1
  if ((want_n > nodes_up || want_ppn * cpt > cpus)); then
    n=$((want_n < nodes_up ? want_n : nodes_up))
    ppn=$((cpus / cpt))
    ((ppn <= want_ppn)) || ppn=$want_ppn
    ((ppn >= 1)) || ppn=1
    extra=()
    if ((n * ppn < 2)); then ppn=2 extra=(--overcommit); fi
    say "$(basename "$script") asks for $want_n node(s) x $want_ppn task(s) of $cpt CPU(s); $have:" \
        "submitting $n node(s) x $ppn task(s) (-N $n --ntasks-per-node $ppn${extra[*]:+ ${extra[*]}});" \
        "give -N/--ntasks-per-node to choose"
    opts=(-N "$n" --ntasks-per-node "$ppn" "${extra[@]}" "${opts[@]}")
  fi
fi

if ! why=$(sbatch --test-only "${opts[@]}" "$script" "${script_args[@]}" 2>&1); then
  die "Slurm cannot run this job here: $(echo "$why" | grep -v '^sbatch: Job ' | tr '\n' ' ')-- $have" \
      "(sbatch ${opts[*]} $(basename "$script"))"
fi

if ((!output)); then
  out_dir=$(dirname "$(sbatch_default output)")
  [ "$out_dir" = . ] || mkdir -p "$out_dir"
fi
id=$(sbatch --parsable "${opts[@]}" "$script" "${script_args[@]}")
id=${id%%;*}
echo "Submitted batch job $id"

# A reason that no amount of waiting clears: cancel now rather than pend forever.
for _ in $(seq 25); do
  line=$(squeue -h -j "$id" -o '%T %r' 2>/dev/null | head -n 1 || true)
  state=${line%% *} reason=${line#* }
  [ "$state" = PENDING ] || exit 0
  case "$reason" in
    PartitionConfig|PartitionNodeLimit|PartitionTimeLimit|BadConstraints|ReqNodeNotAvail*|Invalid*|*Max*PerJob*)
      scancel "$id" 2>/dev/null || true
      die "job $id cannot start here (squeue reason $reason), cancelled -- $have" ;;
    None|"") sleep 0.2 ;;
    *) exit 0 ;;  # Resources, Priority, ...: it will run when its turn comes
  esac
done
exit 0
