#!/usr/bin/env bash
# A prediction across hosts on a platform whose cross-host numbers are stand-ins (a calibration
# on one host copies same-host's numbers there) says so, once, naming the edges that lean on
# them; a platform with its own cross-host numbers, or a placement on one host, does not.
#   1. a platform file marking cross-host `stand_in: same-host`: predict --hosts 2 warns, naming
#      the cross-host edges; --hosts 1 does not; advise warns for a first choice across hosts;
#   2. article-lan.yaml (real cross-host numbers) over 3 hosts: no warning;
#   3. mpipe calibrate on 2 ranks of this host writes a platform file whose cross-host tier is
#      marked as a stand-in: predict on it over 2 hosts warns; `mpipe run` on one host with it
#      (and with the calibration read from its results file) does not.
# Usage: stand_in.sh MPIPE_BINARY SCRATCH_DIR
set -euo pipefail
bin=$1 dir=$2
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
plat=$repo/jobs/platforms
rm -rf "$dir" && mkdir -p "$dir"
mpirun=(mpirun --oversubscribe --bind-to none)
fail() { echo "FAIL: $*"; exit 1; }
warned() { grep -c "warning: platform .* has no measured cross-host numbers" "$1" || true; }

cat >"$dir/one-host.yaml" <<'YAML'
name: one-host
tiers:
  same-host: {alpha_us: 0.46, ns_per_byte: 0.089}
  cross-host: {alpha_us: 0.46, ns_per_byte: 0.089, stand_in: same-host}
YAML

# 1. Spread over 2 hosts (ranks 0,1 | 2,3): A->B, C->C1, C->C2, C3->D, C4->D cross.
"$bin" predict --platform "$dir/one-host.yaml" --ranks 4 --hosts 2 >"$dir/p1.log" 2>&1 ||
  { cat "$dir/p1.log"; fail "predict on one-host.yaml"; }
[ "$(warned "$dir/p1.log")" -eq 1 ] || { cat "$dir/p1.log"; fail "predict --hosts 2 on a stand-in cross-host tier: want one warning"; }
grep -q "same-host's numbers stand in), but 5 edge(s) of this placement cross hosts: A->B, C->C1, C->C2, C3->D, C4->D; their predicted cross-host costs are stand-ins" "$dir/p1.log" ||
  { cat "$dir/p1.log"; fail "the warning does not name the cross-host edges"; }
echo "ok   predict --hosts 2, stand-in cross-host: $(grep -m1 warning "$dir/p1.log")"
"$bin" predict --platform "$dir/one-host.yaml" --ranks 4 --hosts 1 >"$dir/p2.log" 2>&1
[ "$(warned "$dir/p2.log")" -eq 0 ] || { cat "$dir/p2.log"; fail "predict on one host warned"; }
echo "ok   predict --hosts 1, stand-in cross-host: no warning"
"$bin" advise --platform "$dir/one-host.yaml" --scenario render-farm --ranks 3 --hosts 3 \
  --objective throughput --cores 1 >"$dir/a1.log" 2>&1 || { cat "$dir/a1.log"; fail "advise"; }
grep -q "edge(s) of the first choice cross hosts: Main->Render, Render->Main" "$dir/a1.log" ||
  { cat "$dir/a1.log"; fail "advise across hosts on a stand-in cross-host tier: no warning"; }
echo "ok   advise, first choice across hosts: warned"

# 2. Real cross-host numbers: no warning.
"$bin" predict --platform "$plat/article-lan.yaml" --placement Main=0,A=0,B=1,C=1,C1=1,C3=1,D=1,C2=2,C4=2 \
  --hosts 3 >"$dir/p3.log" 2>&1 || { cat "$dir/p3.log"; fail "predict on article-lan"; }
if grep -q "warning" "$dir/p3.log"; then cat "$dir/p3.log"; fail "article-lan.yaml has real cross-host numbers, yet a warning"; fi
echo "ok   predict --hosts 3 on article-lan.yaml: no warning"

# 3. A real calibration on this one host.
timeout 120 "${mpirun[@]}" -np 2 "$bin" calibrate --quick --sizes 0,4K,16K --out "$dir/cal.h5" \
  --platform-out "$dir/cal.yaml" --no-progress >"$dir/cal.log" 2>&1 || { cat "$dir/cal.log"; fail "calibrate"; }
grep -Eq "^  cross-host: \{.*stand_in: same-host\}" "$dir/cal.yaml" || { cat "$dir/cal.yaml"; fail "calibrate did not mark cross-host as a stand-in"; }
"$bin" predict --platform "$dir/cal.yaml" --ranks 4 --hosts 2 >"$dir/p4.log" 2>&1 ||
  { cat "$dir/p4.log"; fail "predict on the calibrated platform"; }
[ "$(warned "$dir/p4.log")" -eq 1 ] || { cat "$dir/p4.log"; fail "predict --hosts 2 on a one-host calibration: want one warning"; }
echo "ok   predict --hosts 2 on mpipe calibrate's one-host platform: warned"
for how in "--platform $dir/cal.yaml" ""; do  # "": the newest calibration in --out
  # shellcheck disable=SC2086
  timeout 120 "${mpirun[@]}" -np 2 "$bin" run --items 1 --time-scale 0.01 --placement spread \
    --no-progress --out "$dir/cal.h5" $how >"$dir/run.log" 2>&1 || { cat "$dir/run.log"; fail "run $how"; }
  grep -q "^Predicted (platform " "$dir/run.log" || { cat "$dir/run.log"; fail "run $how predicted nothing"; }
  [ "$(warned "$dir/run.log")" -eq 0 ] || { cat "$dir/run.log"; fail "run on one host warned"; }
  echo "ok   run on one host with the calibration ${how:-from --out}: predicted, no warning"
done
# Two ranks that see two host names (a UTS namespace each: Open MPI still uses shared memory,
# mpipe's tiers say cross-host): the run's prediction leans on the stand-in, and it says so.
if unshare --uts true 2>/dev/null; then
  for how in "--platform $dir/cal.yaml" ""; do
    rank_cmd() { echo "hostname $1 && exec '$bin' run --items 1 --time-scale 0.01 --placement spread --no-progress --out '$dir/cal.h5' $how"; }
    timeout 120 "${mpirun[@]}" -np 1 unshare --uts sh -c "$(rank_cmd fake-host-a)" : \
      -np 1 unshare --uts sh -c "$(rank_cmd fake-host-b)" >"$dir/run2.log" 2>&1 ||
      { cat "$dir/run2.log"; fail "run on two (namespace) hosts $how"; }
    grep -q "^Predicted (platform " "$dir/run2.log" || { cat "$dir/run2.log"; fail "run $how predicted nothing"; }
    [ "$(warned "$dir/run2.log")" -eq 1 ] || { cat "$dir/run2.log"; fail "run across two hosts with a one-host calibration $how: want one warning"; }
    grep -q "edge(s) of this placement cross hosts: Main->A, A->B" "$dir/run2.log" ||
      { cat "$dir/run2.log"; fail "run's warning does not name the cross-host edges"; }
    echo "ok   run on 2 (namespace) hosts with the calibration ${how:-from --out}: warned"
  done
else
  echo "note: unshare --uts not permitted here: the run-across-hosts warning is not checked"
fi
