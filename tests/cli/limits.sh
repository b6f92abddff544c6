#!/usr/bin/env bash
# Absurd but valid input either runs with bounded memory or is refused up front naming the limit
# (docs/faults.md and docs/performance.md, "Limits"). One rank, no mpirun: every stage a thread of one process, as on a laptop.
#   stages:  10 000 (the limit) validate, and run 1 item through a 10 000-stage chain (10 000
#            threads, 10 000 in-memory hand-offs) in bounded memory; 10 001 are refused.
#   payload: payloads of 16 MiB, 4 items in flight: peak RSS stays within the payloads in
#            flight (4 x 2 edges x 16 MiB, x 1.5) over the process's base, and grows less than
#            48 MiB from 12 to 48 items (36 more items would be 1.1 GiB if any were kept); 64 in
#            flight x 2 GiB per item are refused (16 GiB payload limit).
#   items:   1e5 and 1e6 items at zero work: the same peak RSS (per-item rows are sampled);
#            1e7 + 1 are refused. 1e7 itself (~2 min here) runs with MPIPE_LIMITS_FULL=1,
#            which also runs a 1 GiB payload (~1 min here: this VM faults pages at ~30 MB/s).
# Max RSS from /usr/bin/time -v. Usage: limits.sh MPIPE_BINARY SCRATCH_DIR
set -uo pipefail
bin=$1 dir=$2
rm -rf "$dir" && mkdir -p "$dir"
fails=0
say() { echo "$*"; }
fail() {
  echo "FAIL $*"
  fails=$((fails + 1))
}

# rss NAME CMD...: runs CMD (600 s at most), sets $rss_kb and $rc, keeps the output in NAME.log.
rss() {
  local name=$1
  shift
  /usr/bin/time -v -o "$dir/$name.time" timeout -k 5 600 "$@" >"$dir/$name.log" 2>&1
  rc=$?
  rss_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$dir/$name.time")
  rss_kb=${rss_kb:-0}
}

# chain N FILE [PAYLOAD] [ITEMS] [INFLIGHT]: Main -> S1 -> ... -> S(N-1) -> Main.
chain() {
  local n=$1 f=$2 payload=${3:-0} items=${4:-1} inflight=${5:-1} i
  {
    echo "name: chain$n"
    echo "source: S0"
    echo "items: $items"
    echo "inflight: $inflight"
    echo "defaults: {payload_bytes: $payload}"
    echo "stages:"
    for ((i = 0; i < n; i++)); do echo "  - S$i"; done
    echo "edges:"
    for ((i = 0; i + 1 < n; i++)); do echo "  - S$i -> S$((i + 1))"; done
    echo "  - S$((n - 1)) -> S0"
  } >"$f"
}

# --- stages -------------------------------------------------------------------------------
chain 10000 "$dir/s10000.yaml"
chain 10001 "$dir/s10001.yaml"
rss validate10000 "$bin" validate --spec "$dir/s10000.yaml"
if [ $rc -ne 0 ] || ! grep -q "is valid: 10000 stages" "$dir/validate10000.log"; then
  fail "10000 stages do not validate:"; tail -n 5 "$dir/validate10000.log"
else
  say "ok   10000 stages validate (max RSS $((rss_kb / 1024)) MB)"
fi
rss validate10001 "$bin" validate --spec "$dir/s10001.yaml"
if [ $rc -ne 2 ] || ! grep -q "has 10001 stages; the limit is 10000" "$dir/validate10001.log"; then
  fail "10001 stages are not refused with the limit named (exit $rc):"
  tail -n 5 "$dir/validate10001.log"
else
  say "ok   10001 stages refused: $(grep -m1 'mpipe: error' "$dir/validate10001.log")"
fi
t0=$SECONDS
rss run10000 "$bin" run --spec "$dir/s10000.yaml" --out "$dir/s.h5" --no-progress
if [ $rc -ne 0 ]; then
  fail "1 item through 10000 stages: exit $rc"; tail -n 20 "$dir/run10000.log"
elif [ "$rss_kb" -gt $((1024 * 1024)) ]; then
  fail "1 item through 10000 stages: max RSS $((rss_kb / 1024)) MB, over 1 GiB"
else
  say "ok   1 item through 10000 stages (threads) on 1 rank: $((SECONDS - t0)) s," \
    "max RSS $((rss_kb / 1024)) MB"
fi

# --- payload ------------------------------------------------------------------------------
mib16=$((16 * 1024 * 1024))
chain 2 "$dir/p.yaml" $mib16 1 1
rss base "$bin" run --spec "$dir/p.yaml" --payload-bytes 0 --out "$dir/p.h5" --no-progress
base_kb=$rss_kb
rss p12 "$bin" run --spec "$dir/p.yaml" --items 12 --inflight 4 --out "$dir/p.h5" --no-progress
rc12=$rc p12_kb=$rss_kb
rss p48 "$bin" run --spec "$dir/p.yaml" --items 48 --inflight 4 --out "$dir/p.h5" --no-progress
# Payloads in flight: 4 items x 2 edges x 16 MiB = 128 MiB; allow 1.5x for hand-over overlap.
bound_kb=$((base_kb + 3 * 4 * 2 * mib16 / 1024 / 2))
if [ $rc12 -ne 0 ] || [ $rc -ne 0 ]; then
  fail "16 MiB payloads: exit $rc12 / $rc"; tail -n 20 "$dir/p48.log"
elif [ "$rss_kb" -gt "$bound_kb" ] || [ "$rss_kb" -gt $((p12_kb + 48 * 1024)) ]; then
  fail "16 MiB payloads, 4 in flight: max RSS 12 items $((p12_kb / 1024)) MB, 48 items" \
    "$((rss_kb / 1024)) MB (base $((base_kb / 1024)) MB, bound $((bound_kb / 1024)) MB)"
else
  say "ok   16 MiB payloads, 4 in flight: max RSS 12 items $((p12_kb / 1024)) MB, 48 items" \
    "$((rss_kb / 1024)) MB (base $((base_kb / 1024)) MB, bound $((bound_kb / 1024)) MB)"
fi
chain 2 "$dir/pbig.yaml" 1073741824 1 64
rss pbig "$bin" validate --spec "$dir/pbig.yaml"
if [ $rc -ne 2 ] || ! grep -q "= 128.0 GiB of payloads in flight; the limit is 16 GiB" "$dir/pbig.log"; then
  fail "64 in flight x 2 GiB per item not refused with the limit named (exit $rc):"
  tail -n 5 "$dir/pbig.log"
else
  say "ok   64 in flight x 2 GiB refused: $(grep -m1 'mpipe: error' "$dir/pbig.log")"
fi

# --- items --------------------------------------------------------------------------------
chain 3 "$dir/z.yaml" 0 1 8
for n in 100000 1000000; do
  t0=$SECONDS
  rss "items$n" "$bin" run --spec "$dir/z.yaml" --items $n --out "$dir/z$n.h5" --no-progress
  eval "rc$n=$rc kb$n=$rss_kb took$n=$((SECONDS - t0))"
done
if [ "$rc100000" -ne 0 ] || [ "$rc1000000" -ne 0 ]; then
  fail "zero-work items: exit $rc100000 / $rc1000000"; tail -n 20 "$dir/items1000000.log"
elif [ "$kb1000000" -gt $((kb100000 + 8 * 1024)) ]; then
  fail "max RSS grows with items: 1e5 items $((kb100000 / 1024)) MB, 1e6 items" \
    "$((kb1000000 / 1024)) MB"
else
  say "ok   zero work on 1 rank: 1e5 items $((kb100000 / 1024)) MB max RSS (${took100000} s)," \
    "1e6 items $((kb1000000 / 1024)) MB (${took1000000} s);" \
    "$(grep -m1 -o 'Throughput: [0-9.]* items/s' "$dir/items1000000.log")"
fi
rss items_over "$bin" run --spec "$dir/z.yaml" --items 10000001 --out "$dir/zx.h5"
if [ $rc -ne 2 ] || ! grep -Eq "(not in range 1 to|must be between 1 and) 10000000" \
  "$dir/items_over.log"; then
  fail "1e7 + 1 items not refused with the limit named (exit $rc):"; tail -n 5 "$dir/items_over.log"
else
  say "ok   1e7 + 1 items refused: $(grep -m1 'mpipe: error' "$dir/items_over.log")"
fi

if [ "${MPIPE_LIMITS_FULL:-}" = 1 ]; then
  t0=$SECONDS
  rss items10000000 "$bin" run --spec "$dir/z.yaml" --items 10000000 --out "$dir/z1e7.h5" \
    --no-progress
  if [ $rc -ne 0 ] || [ "$rss_kb" -gt $((kb100000 + 8 * 1024)) ]; then
    fail "1e7 items: exit $rc, max RSS $((rss_kb / 1024)) MB"
  else
    say "ok   1e7 items: max RSS $((rss_kb / 1024)) MB in $((SECONDS - t0)) s"
  fi
  chain 2 "$dir/g.yaml" 0 1 1
  sed -i 's/^  - S0$/  - {name: S0, payload_bytes: 1073741824}/' "$dir/g.yaml"
  t0=$SECONDS
  rss gib "$bin" run --spec "$dir/g.yaml" --out "$dir/g.h5" --no-progress
  if [ $rc -ne 0 ] || [ "$rss_kb" -gt $((base_kb + 1024 * 1024 + 256 * 1024)) ]; then
    fail "1 GiB payload: exit $rc, max RSS $((rss_kb / 1024)) MB"
  else
    say "ok   1 GiB payload, 1 item: max RSS $((rss_kb / 1024)) MB in $((SECONDS - t0)) s"
  fi
fi

[ "$fails" -eq 0 ] && echo "all limits hold" || echo "$fails limit check(s) failed"
[ "$fails" -eq 0 ]
