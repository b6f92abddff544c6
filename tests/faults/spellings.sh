#!/usr/bin/env bash
# One results file reached by several spellings (a symlink, a chain of symlinks, an absolute
# symlink from another directory, dir/../x.h5, a relative path): every spelling takes the same
# lock, the one of the file itself, so a writer through any of them waits while the lock is held,
# and writers appending through different spellings at once all keep their runs.
# Usage: spellings.sh MPIPE_BINARY SCRATCH_DIR
set -euo pipefail
bin=$1 dir=$2
source "$(dirname "$0")/lib.sh"
rm -rf "$dir" && mkdir -p "$dir/sub" "$dir/other"
dir=$(cd "$dir" && pwd -P)
quick=(run --time-scale 0.01 --items 2 --no-progress)
real=$dir/real.h5
ln -s real.h5 "$dir/link.h5"           # relative target
ln -s link.h5 "$dir/link2.h5"          # a chain
ln -s "$real" "$dir/other/abs.h5"      # absolute target, another directory
spellings=("$dir/link.h5" "$dir/link2.h5" "$dir/other/abs.h5" "$dir/sub/../real.h5" "real.h5")
"$bin" "${quick[@]}" --out "$real" >"$dir/seed.log" 2>&1 || fail "seed run: $(cat "$dir/seed.log")"
[ -f "$real" ] && [ -L "$dir/link.h5" ] || fail "the seed run replaced a symlink"

# ---- The file's own lock held for 3 s: a writer through each spelling waits for it.
n=0
for spelling in "${spellings[@]}"; do
  n=$((n + 1))
  echo "== lock on $real held, writer through $spelling"
  before=$(snapshot "$real")
  flock "$real.lock" sleep 3 &
  holder=$!
  sleep 0.3
  t0=$(now)
  (cd "$dir" && MPIPE_LOCK_WAIT_S=30 timeout 60 "$bin" "${quick[@]}" --out "$spelling") \
    >"$dir/wait$n.log" 2>&1 || fail "writer through $spelling failed: $(cat "$dir/wait$n.log")"
  took=$(elapsed "$t0" "$(now)")
  wait "$holder"
  grep -q "mpipe: waiting for $spelling (locked by" "$dir/wait$n.log" ||
    fail "writer through $spelling did not wait for the lock ($took s): $(cat "$dir/wait$n.log")"
  less_than 2 "$took" || fail "writer through $spelling did not wait for the lock ($took s)"
  added=$(check_file "$real" "$before")
  [ "$(wc -l <<<"$added")" -eq 1 ] && grep -q True <<<"$added" || fail "run after the wait: $added"
  [ -L "$dir/link.h5" ] && [ -L "$dir/link2.h5" ] && [ -L "$dir/other/abs.h5" ] ||
    fail "a symlink was replaced by a file"
  echo "  waited $took s, then appended to $real"
done

# ---- Writers through every spelling at once, twice: no run lost.
echo "== concurrent writers through ${#spellings[@]} spellings, 2 rounds"
before=$(snapshot "$real")
for round in 1 2; do
  pids=()
  n=0
  for spelling in "${spellings[@]}"; do
    n=$((n + 1))
    (cd "$dir" && timeout 120 "$bin" "${quick[@]}" --out "$spelling") \
      >"$dir/conc$round-$n.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || fail "a concurrent writer failed: $(cat "$dir"/conc*.log)"; done
done
added=$(check_file "$real" "$before")
expect=$((2 * ${#spellings[@]}))
[ "$(wc -l <<<"$added")" -eq "$expect" ] || fail "expected $expect new runs, got: $added"
grep -q False <<<"$added" && fail "a concurrent run is incomplete: $added"
echo "  $expect runs kept"
[ -z "$(find "$dir" -name '.*.tmp.*')" ] || fail "temporary files left: $(find "$dir" -name '.*.tmp.*')"

# ---- A dangling symlink: the run creates the file it points to and keeps the link.
echo "== dangling symlink"
ln -s fresh.h5 "$dir/dangling.h5"
"$bin" "${quick[@]}" --out "$dir/dangling.h5" >"$dir/dangling.log" 2>&1 ||
  fail "writer through a dangling symlink: $(cat "$dir/dangling.log")"
[ -L "$dir/dangling.h5" ] && [ -f "$dir/fresh.h5" ] || fail "the dangling symlink was replaced"
check_file "$dir/fresh.h5" "" | grep -q True || fail "fresh.h5 does not hold the run"
echo "  created $dir/fresh.h5 through the link"
echo "PASS"
