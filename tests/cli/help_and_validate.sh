#!/usr/bin/env bash
# The CLI's own surface: --help everywhere, --version, and `validate` doing the arithmetic.
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
expect "Dry run: nothing was executed" "$bin" run --dry-run --out "$scratch/sub/r.h5"
expect "C2 -> D: same-rank \(rank 0 -> 0, in memory\)" "$bin" run --dry-run --out "$scratch/sub/r.h5"
[ ! -e "$scratch/sub" ] || { echo "FAIL: --dry-run created $scratch/sub"; exit 1; }
if "$bin" >"$out" 2>&1; then echo "FAIL: no subcommand should be an error"; exit 1; fi
grep -q "mpipe: error:" "$out" || { echo "FAIL: no subcommand: unclear message"; cat "$out"; exit 1; }
echo "ok   (no subcommand) -> error"
echo "$((passed + 1)) passed, 0 failed"
