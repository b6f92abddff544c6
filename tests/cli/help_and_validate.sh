#!/usr/bin/env bash
# The CLI's own surface: --help everywhere, --version, `validate` doing the arithmetic (latency and
# throughput bounds), `scenarios`, and command-line mistakes about farms failing clearly.
# Usage: help_and_validate.sh MPIPE_BINARY DATA_DIR
set -euo pipefail
bin=$1 data=$2
out=$(mktemp)
scratch=$(mktemp -d)
trap 'rm -rf "$out" "$scratch"' EXIT
passed=0
expect() {  # expect REGEX CMD...: exit 0 and output matching REGEX
  local re=$1
  shift
  "$@" >"$out" 2>&1 || { echo "FAIL: '$*' exited $?"; cat "$out"; exit 1; }
  grep -Eq -- "$re" "$out" || { echo "FAIL: '$*' output lacks /$re/:"; cat "$out"; exit 1; }
  echo "ok   $*"
  passed=$((passed + 1))
}
expect "Subcommands:.*" "$bin" --help
expect "run +Run a pipeline" "$bin" --help
expect "--placement" "$bin" run --help
expect "--time-scale" "$bin" run --help
expect "--ranks" "$bin" validate --help
expect "^mpipe [0-9]+\.[0-9]+\.[0-9]+" "$bin" --version
expect "critical-path bound 700 ms: Main A B C C3 D" "$bin" validate
expect "placement on 4 rank\(s\) \(spread\): Main=0,A=1,B=2,C=3,C1=0" "$bin" validate --placement spread --ranks 4
expect "critical-path bound 45 ms: Main X Z W" "$bin" validate --spec "$data/small.yaml"
# Streams, farms and the named scenarios.
expect "scenarios +List the built-in scenarios" "$bin" --help
expect "--scenario" "$bin" run --help
expect "--inflight" "$bin" run --help
expect "--replicas" "$bin" run --help
expect "--scenario" "$bin" validate --help
expect "--replicas" "$bin" validate --help
expect "--cores" "$bin" validate --help
expect "^seed +9 +3 +1 +700 ms  the article's reference pipeline" "$bin" scenarios
expect "^render-farm +2 +1000 +64 +10000 ms  " "$bin" scenarios
expect "^api-calls +2 +100 +10 +50 ms  " "$bin" scenarios
expect "throughput bound 1.429 items/s, set by window: 1 in flight / 700 ms critical path" "$bin" validate
expect "throughput bound 3.333 items/s, set by stage 'C3'" "$bin" validate --scenario seed --inflight 8
expect "throughput bound 5 items/s, set by stage 'A'" "$bin" validate --inflight 8 --replicas C3=2
expect "pipeline 'render-farm' is valid: 2 stages, 2 edges, 1000 items, 64 in flight" "$bin" validate --scenario render-farm
expect "\(spread\): Main=0,Render#0=1,Render#1=2,Render#2=3,Render#3=4$" "$bin" validate --scenario render-farm --replicas Render=4 --ranks 5
expect "throughput bound 0.2 items/s, set by host 'this host': 2 cores / 10000 core-ms per item" "$bin" validate --scenario render-farm --replicas Render=4 --ranks 5 --cores 2
expect "throughput bound 0.8 items/s, set by stage 'Render': 8 replicas x 1 item / 10000 ms = 0.8 items/s and equally by host" "$bin" validate --scenario render-farm --replicas Render=8 --ranks 9 --cores 8
expect "\(map\): Main=0,Call#0=1,.*Call#8=1,Call#9=2$" "$bin" validate --scenario api-calls --placement Call=1,Call#9=2 --ranks 3
expect "throughput bound 200 items/s" "$bin" validate --scenario api-calls
expect "pipeline 'api-calls' \(2 stages, 100 items, 10 in flight\)" "$bin" run --dry-run --scenario api-calls --out "$scratch/sub/r.h5"
expect_fail() {  # expect_fail REGEX CMD...: exit 2, one error line matching REGEX
  local re=$1
  shift
  if "$@" >"$out" 2>&1; then echo "FAIL: '$*' should have failed"; cat "$out"; exit 1; fi
  grep -Eq -- "$re" "$out" || { echo "FAIL: '$*' output lacks /$re/:"; cat "$out"; exit 1; }
  echo "ok   $* -> error"
  passed=$((passed + 1))
}
expect_fail "unknown scenario 'nope' \(known: seed, render-farm, api-calls" "$bin" validate --scenario nope
expect_fail "unknown scenario 'nope'" "$bin" run --scenario nope --out "$scratch/sub/r.h5"
expect_fail "excludes" "$bin" run --scenario seed --spec "$data/small.yaml"
expect_fail "field '--replicas': stage 'D' has 2 replicas and 4 input edges .*round-robin" "$bin" validate --replicas D=2
expect_fail "field '--replicas': the source 'Main' cannot be replicated" "$bin" validate --replicas Main=2
expect_fail "field '--replicas': replicas of 'C3' must be a whole number between 1 and 256" "$bin" validate --replicas C3=0
expect_fail "field 'placement': stage 'C3' has 2 replicas \(C3#0..C3#1\), so 'C3#2' names none" "$bin" validate --replicas C3=2 --placement C3#2=1 --ranks 2
expect_fail "--inflight" "$bin" validate --inflight 0
# predict: the article's scenarios on its LAN, the edge table, the Amdahl table, clear errors.
plat="$data/../../jobs/platforms"
expect "predict +Predict a placement" "$bin" --help
expect "--platform" "$bin" predict --help
expect "--hosts" "$bin" predict --help
expect "--emulate-link" "$bin" predict --help
expect "Item latency: predicted 700.000 ms; free-communication critical path 700.000 ms" "$bin" predict --platform "$plat/article-lan.yaml" --placement pack
expect "Item latency: predicted 710.002 ms" "$bin" predict --platform "$plat/article-lan.yaml" --placement Main=0,A=0,B=1,C=1,C1=1,C3=1,D=1,C2=2,C4=2 --hosts 3
expect "Item latency: predicted 720.004 ms" "$bin" predict --platform "$plat/article-lan.yaml" --placement Main=0,A=0,D=0,B=1,C=2,C1=3,C2=4,C3=5,C4=6
expect "A->B\* +cross-host +0->1 +1024 +boost +5.0010 +150.0 +30.0  distribution helps" "$bin" predict --platform "$plat/article-lan.yaml" --placement Main=0,A=0,B=1,C=1,C1=1,C3=1,D=1,C2=2,C4=2 --hosts 3
expect "on 9 rank\(s\) over 1 host\(s\), placement spread" "$bin" predict --platform "$plat/laptop-shm.yaml"
# Cores (issue 17): the reference pipeline's compute stages share one host's 2 cores when packed
# (825 ms), not when spread over four hosts (700 ms); --kernel and --time-scale as `run` takes them.
expect "Item latency: predicted 825.0[0-9]+ ms" "$bin" predict --platform "$plat/laptop-shm.yaml" --kernel compute --placement pack --ranks 1 --cores 2
expect "Item latency: predicted 700.0[0-9]+ ms" "$bin" predict --platform "$plat/laptop-shm.yaml" --kernel compute --placement spread --ranks 4 --hosts 4 --cores 2
expect "Item latency: predicted 165.0[0-9]+ ms" "$bin" predict --platform "$plat/laptop-shm.yaml" --kernel compute --time-scale 0.2 --ranks 4 --cores 2
expect "Item latency: predicted 700.0[0-9]+ ms" "$bin" predict --platform "$plat/laptop-shm.yaml" --kernel sleep --placement pack --ranks 1 --cores 1
expect "--time-scale" "$bin" predict --help
# Latency tolerance (issue 19): on one host no hop crosses hosts; between ranks a finite hold.
expect "cross-host hops +unbounded \(no such hop\)" "$bin" predict --platform "$plat/laptop-shm.yaml" --ranks 4
expect "cross-rank hops +[0-9.]+ ms +[0-9.]+ ms" "$bin" predict --platform "$plat/laptop-shm.yaml" --ranks 4
# Without --platform and without a calibration in --out: the shipped laptop platform, named.
expect "^platform laptop-shm \(.*laptop-shm.yaml, the fallback: no calibration in /nonexistent/x.h5\)" "$bin" predict --out /nonexistent/x.h5
expect "Item latency: predicted 725.033 ms" "$bin" predict --platform "$plat/laptop-shm.yaml" --ranks 4 --emulate-link latency=5ms
expect "^ +8 +1.521x +1.444x +1.453x$" "$bin" predict --platform "$plat/article-lan.yaml"
expect "P = 1 - critical path / T1 = 1 - 700.0 / 1150.0 = 0.3913" "$bin" predict --platform "$plat/article-lan.yaml"
expect "Throughput bound 3.333 items/s, set by stage 'C3'" "$bin" predict --platform "$plat/infiniband-100g.yaml" --inflight 8
# An emulated 100 kB/s link and 10 kB items each way: 10 items/s, as the run measures (test_edges_mpi).
expect "Throughput bound 10 items/s, set by link rank 0 -> rank 1" "$bin" predict --spec "$data/link.yaml" --platform "$plat/laptop-shm.yaml" --emulate-link bandwidth=800kbit/s
# The edge table's columns stay apart however long the names: "Main->Render*" once ran into its
# tier ("Main->Render*same-host"); every row has the header's cells, aligned with it.
. "$(dirname "${BASH_SOURCE[0]}")/columns.sh"
"$bin" predict --platform "$plat/laptop-shm.yaml" --scenario render-farm --replicas Render=2 >"$out"
check_columns "$out" "^  edge +tier +ranks" "predict --scenario render-farm (edge table)"
"$bin" predict --platform "$plat/article-lan.yaml" --placement Main=0,A=0,B=1,C=1,C1=1,C3=1,D=1,C2=2,C4=2 --hosts 3 >"$out"
check_columns "$out" "^  edge +tier +ranks" "predict Scenario 3 (edge table)"
passed=$((passed + 2))
# docs/running.md: its `mpipe run` options table names every option `mpipe run --help` lists
# (--payload-bytes and --detail-items were missing), and no page calls calibrate a next step.
readme="$data/../../docs/running.md"
"$bin" run --help | grep -oE '^ +--[a-z-]+' | tr -d ' ' | sort -u >"$out"
missing=$(awk '/^`mpipe run` options:/ { t = 1; next } t && /^\|/ { r = 1; print; next } r { exit }' "$readme" |
          grep -oE '^\| `--[a-z-]+' | sed 's/^| `//' | sort -u | comm -23 "$out" -)
[ -z "$missing" ] || { echo "FAIL: docs/running.md's mpipe run options table lacks: ${missing//$'\n'/ }"; exit 1; }
echo "ok   docs/running.md's run options table has all $(wc -l <"$out") options of run --help"
if grep -n "calibrate\` and predictions stored with runs are the next steps" "$data/../../README.md" "$data/../../docs/"*.md; then
  echo "FAIL: the docs still call calibrate a next step"; exit 1
fi
passed=$((passed + 2))
expect_fail "cannot read platform file" "$bin" predict --platform "$scratch/none.yaml"
printf 'tiers:\n  same-host: {alpha_us: 1}\n  cross-host: {alpha_us: 5ms}\n' >"$scratch/bad-platform.yaml"
expect_fail "bad-platform.yaml:3: field 'tiers.cross-host.alpha_us': expected a number, got '5ms'" "$bin" predict --platform "$scratch/bad-platform.yaml"
expect_fail "field '--hosts': 2 hosts for 1 rank" "$bin" predict --platform "$plat/article-lan.yaml" --placement pack --hosts 2
expect_fail "field '--emulate-link'" "$bin" predict --platform "$plat/article-lan.yaml" --emulate-link latency=5
# advise: searches placements on the model, prints the top K and the gain over pack and spread.
expect "advise +Search placements" "$bin" --help
expect "--objective" "$bin" advise --help
expect "--top" "$bin" advise --help
expect "Search: exhaustive over 4\^8 = 65536 placements" "$bin" advise --ranks 4 --platform "$plat/article-lan.yaml"
expect "^ +1 +700.000 +1.429  Main=0,A=0,B=0,C=0,C1=0,C2=0,C3=0,C4=0,D=0$" "$bin" advise --ranks 4 --platform "$plat/article-lan.yaml"
expect "First choice vs pack: 700.000 vs 700.000 ms \(0.00 % lower latency\); vs spread: 700.000 vs 725.005 ms \(3.45 % lower latency\)" "$bin" advise --ranks 4 --platform "$plat/article-lan.yaml"
expect "Search: heuristic \(16\^8 > 2000000\)" "$bin" advise --ranks 16 --hosts 4 --platform "$plat/article-lan.yaml" --objective throughput --top 2
expect_fail "--ranks: Value 0 not in range" "$bin" advise --ranks 0 --platform "$plat/article-lan.yaml"
expect_fail "--ranks is required" "$bin" advise --platform "$plat/article-lan.yaml"
expect_fail "field '--hosts': 3 hosts for 2 rank" "$bin" advise --ranks 2 --hosts 3 --platform "$plat/article-lan.yaml"
expect_fail "--objective" "$bin" advise --ranks 2 --platform "$plat/article-lan.yaml" --objective speed
expect "Dry run: nothing was executed" "$bin" run --dry-run --out "$scratch/sub/r.h5"
expect "C2 -> D: same-rank \(rank 0 -> 0, in memory\)" "$bin" run --dry-run --out "$scratch/sub/r.h5"
[ ! -e "$scratch/sub" ] || { echo "FAIL: --dry-run created $scratch/sub"; exit 1; }
if "$bin" >"$out" 2>&1; then echo "FAIL: no subcommand should be an error"; exit 1; fi
grep -q "mpipe: error:" "$out" || { echo "FAIL: no subcommand: unclear message"; cat "$out"; exit 1; }
echo "ok   (no subcommand) -> error"
echo "$((passed + 1)) passed, 0 failed"
