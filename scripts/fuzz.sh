#!/usr/bin/env bash
# A bounded libFuzzer run (default 60 s) over everything that reads a spec or a platform file:
# tests/fuzz/fuzz_spec.cpp, built with clang, ASan and UBSan into build-fuzz/ (only that target
# and mpipe_spec: no MPI, no runtime). Seeds: tests/fuzz/seeds, tests/fuzz/regressions, the
# bad-spec corpus tests/data/bad, tests/data, jobs/pipelines, jobs/platforms; what the fuzzer
# adds is kept in build-fuzz/fuzz-corpus for the next run.
# Loud on failure: a crash, an escaping non-mpipe exception, a sanitizer report, a unit slower
# than 10 s or 2 GiB of memory stops the run, libFuzzer prints the stack and the input is saved
# in build-fuzz/fuzz-artifacts/; add it to tests/fuzz/regressions/ once fixed (fuzz.replay then
# runs it in every build), and a bad spec with its message to tests/data/bad/.
# Env: MPIPE_FUZZ_SECONDS (default 60), MPIPE_FUZZ_BUILD_DIR (default build-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
# clang with its runtimes (libFuzzer, ASan, UBSan ship in libclang-rt-14-dev); libomp because
# the project's configure asks for OpenMP with whichever compiler builds it.
pkgs=(clang libclang-rt-14-dev libomp-14-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "[fuzz] installing with apt: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

build=${MPIPE_FUZZ_BUILD_DIR:-build-fuzz}
seconds=${MPIPE_FUZZ_SECONDS:-60}
t0=$SECONDS
if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMPIPE_SANITIZE=address,undefined -DMPIPE_FUZZ=ON >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target fuzz_spec
echo "[fuzz] built $build/tests/fuzz/fuzz_spec in $((SECONDS - t0)) s"

corpus=$build/fuzz-corpus
artifacts=$build/fuzz-artifacts
mkdir -p "$corpus" "$artifacts"
t1=$SECONDS
# detect_leaks: a leak in the parser is a bug too. halt_on_error: UBSan stops at its first report,
# so libFuzzer saves the input. The outer timeout only guards against libFuzzer itself hanging.
rc=0
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  timeout -k 10 $((seconds + 120)) "$build/tests/fuzz/fuzz_spec" \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
  -dict=tests/fuzz/spec.dict -artifact_prefix="$artifacts/" -print_final_stats=1 \
  "$corpus" tests/fuzz/regressions tests/fuzz/seeds tests/data tests/data/bad jobs/pipelines \
  jobs/platforms >"$build/fuzz.log" 2>&1 || rc=$?
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' \
  "$build/fuzz.log" | sed 's/^/[fuzz] /' || true
if [ "$rc" -ne 0 ]; then
  echo "[fuzz] FAILED (exit $rc) after $((SECONDS - t1)) s; the end of $build/fuzz.log:"
  tail -n 60 "$build/fuzz.log"
  echo "[fuzz] inputs saved in $artifacts/:"
  ls -l "$artifacts"
  exit 1
fi
echo "[fuzz] ok: ${seconds} s of fuzzing, no crash, hang, leak or stray exception" \
  "(corpus $(find "$corpus" -type f | wc -l) inputs; run took $((SECONDS - t1)) s)"
