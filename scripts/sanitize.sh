#!/usr/bin/env bash
# Sanitizer builds and runs (docs/faults.md, "Robustness checks: fuzzing and sanitizers").
#   asan: AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer) build in build-asan/;
#         runs the unit tests, fuzz.replay, the MPI tests at 2 ranks and `mpipe validate`
#         on every bad spec, less the tests that assert timing (below); not the Python, cluster
#         or CLI run tests (the same code paths again, at minutes of ASan time).
#   tsan: ThreadSanitizer build in build-tsan/; runs what shares memory between threads: the
#         MPI pipeline and stream tests on one rank without mpirun, as `mpipe run` on a laptop
#         (the same runtime entry point the CLI calls): every stage a thread of that process,
#         items handed over through the in-rank queues, joins, ordered stages, credits.
# Both build with -O0 -g1 (measured: -O0 compiles ~40 % faster than -O1 here, and the tests wait
# on MPI and sleeps more than they compute; -g1 keeps line numbers in reports), and only the
# targets they run. Any report fails the run (halt_on_error / exitcode), loudly.
# Suppressions: tests/sanitizers/{lsan,ubsan,tsan}.supp, for MPI and library internals only,
# each with its reason.
# Usage: scripts/sanitize.sh [asan] [tsan]   (default both)
# Env: MPIPE_ASAN_BUILD_DIR (build-asan), MPIPE_TSAN_BUILD_DIR (build-tsan).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
supp=$root/tests/sanitizers
modes=("$@")
if ((${#modes[@]} == 0)); then modes=(asan tsan); fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# Tests that assert timing (latency within 3 % of the model, >= 80 % of a throughput bound,
# clock offsets inside sub-microsecond bounds, kernels taking their time, bench ratios): a
# sanitizer slows code 2-15x unevenly, so their numbers mean nothing there; the plain build
# runs them. Everything else runs. gtest filters: unit executables get --gtest_filter, MPI tests
# (one CTest test per rank count, under mpirun) GTEST_FILTER, which every rank reads.
unit_timing='Kernels.SleepTakesItsTime:Kernels.SpinTakesItsTime:Kernels.ComputeIsCalibratedToOneCore'
unit_timing+=':Kernels.ComputeSplitsAcrossThreads'
mpi_timing='Pipeline.SeedLatencyPacked:Pipeline.SeedLatencySpread:Pipeline.CoLocatedParallelStagesOverlap'
mpi_timing+=':Pipeline.ClockOffsetsNearZeroOnOneHost:Stream.OnDemandFarmReachesItsBound'
mpi_timing+=':ClockSync.*:EmulatedLink.DelaysEachCrossRankHopOnTheCriticalPath'
mpi_timing+=':Bench.RawMpiIsItsOwnUnitAndTheSerializationsAreInItsLeague'

configure() {  # DIR SANITIZERS
  if [ ! -f "$1/CMakeCache.txt" ]; then
    cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O0 -g1" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O0 -g1" \
      -DMPIPE_SANITIZE="$2" >/dev/null
  fi
}

run_asan() {
  local build=${MPIPE_ASAN_BUILD_DIR:-build-asan} t0=$SECONDS f t rc
  configure "$build" address,undefined
  # Only what runs below: every unit and MPI test executable (tests/unit/test_X.cpp is target
  # test_X, tests/mpi/test_X_mpi.cpp test_X_mpi), the fuzz replay and the CLI.
  local unit=() mpi=()
  for f in tests/unit/test_*.cpp; do unit+=("$(basename "$f" .cpp)"); done
  for f in tests/mpi/test_*_mpi.cpp; do mpi+=("$(basename "$f" .cpp)"); done
  cmake --build "$build" -j"$(nproc)" --target "${unit[@]}" "${mpi[@]}" fuzz_spec_replay mpipe
  echo "[sanitize] asan: built $build in $((SECONDS - t0)) s"
  t0=$SECONDS
  # detect_leaks: LSan runs at every process's exit, MPI ranks included. fast_unwind_on_malloc=0:
  # full allocation stacks through Open MPI's libraries (built without frame pointers), so the
  # suppressions can match them. Open MPI and PMIx unload their mca_* components at finalize,
  # and their leaks would then show as "<unknown module>": disable_dlclose keeps them loaded.
  export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=0:fast_unwind_on_malloc=0
  export LSAN_OPTIONS=suppressions=$supp/lsan.supp:print_suppressions=0
  export UBSAN_OPTIONS=suppressions=$supp/ubsan.supp:print_stacktrace=1:halt_on_error=1
  export OMPI_MCA_mca_base_component_disable_dlclose=1 PMIX_MCA_mca_base_component_disable_dlclose=1
  # Unit tests: each executable once, all its tests in one process (CTest would start one
  # process per test: minutes under ASan).
  for t in "${unit[@]}"; do
    echo "[sanitize] asan: $t"
    timeout -k 5 600 "$build/tests/$t" --gtest_brief=1 --gtest_filter="-$unit_timing"
  done
  echo "[sanitize] asan: fuzz.replay (seed corpus, bad specs, past crashes)"
  ctest --test-dir "$build" --output-on-failure -R '^fuzz\.replay$'
  # MPI tests at 2 ranks: every path between ranks; 1 rank is the TSan part's, 3 and 4 add
  # oversubscription, not code paths, at minutes of ASan time on 2 cores. Every rank reads
  # GTEST_FILTER.
  GTEST_FILTER="-$mpi_timing" ctest --test-dir "$build" --output-on-failure -j2 --timeout 600 \
    -R "^($(IFS='|'; echo "${mpi[*]}"))\.np2\$"
  # Bad specs through `mpipe validate` (no MPI): the CLI's error path exits cleanly, with the
  # message the corpus expects, and leaks nothing. Every 6th file (the parser already met all
  # of them in-process in fuzz.replay and test_spec; ~1 s each here is the CLI around it).
  echo "[sanitize] asan: mpipe validate on every 6th tests/data/bad spec"
  local n=0 i=0 expect
  for f in tests/data/bad/*.yaml; do
    if ((i++ % 6 != 0)); then continue; fi
    expect=$(head -n1 "$f" | sed -n 's/^# expect: //p')
    rc=0
    timeout -k 5 60 "$build/mpipe" validate --spec "$f" >"$build/asan-validate.log" 2>&1 || rc=$?
    if [ $rc -ne 2 ] || ! grep -Eq -- "$expect" "$build/asan-validate.log"; then
      echo "[sanitize] asan: $f: exit $rc (want 2 and /$expect/):"
      cat "$build/asan-validate.log"
      exit 1
    fi
    n=$((n + 1))
  done
  echo "[sanitize] asan: $n bad specs refused cleanly"
  echo "[sanitize] asan: tests passed in $((SECONDS - t0)) s"
}

run_tsan() {
  local build=${MPIPE_TSAN_BUILD_DIR:-build-tsan} t0=$SECONDS
  configure "$build" thread
  cmake --build "$build" -j"$(nproc)" --target test_pipeline_mpi test_stream_mpi
  echo "[sanitize] tsan: built $build in $((SECONDS - t0)) s"
  t0=$SECONDS
  local out=$build/tsan-out
  rm -rf "$out" && mkdir -p "$out"
  # halt_on_error: the first race ends the process with TSan's exit code, so nothing passes
  # with a report in its log. second_deadlock_stack: both stacks of a lock-order inversion.
  export TSAN_OPTIONS="suppressions=$supp/tsan.supp:halt_on_error=1:second_deadlock_stack=1"
  # One rank, no mpirun (singleton MPI_Init), as `mpipe run` on a laptop: every stage is a
  # thread of this process. Timing tests excluded as above.
  local t rc
  for t in test_pipeline_mpi test_stream_mpi; do
    echo "[sanitize] tsan: $t on 1 rank"
    timeout -k 5 300 "$build/tests/$t" --gtest_filter="-$mpi_timing"
    # The timing tests too, for races only: they are the ones that pack every stage of the
    # seed on one rank and overlap co-located stages. Their timing asserts may fail under TSan
    # (exit 1, tolerated); a race exits 66 and fails.
    echo "[sanitize] tsan: $t timing tests on 1 rank, for races only"
    rc=0
    TSAN_OPTIONS="$TSAN_OPTIONS:exitcode=66" timeout -k 5 300 "$build/tests/$t" \
      --gtest_filter="$mpi_timing" >"$out/$t.timing.log" 2>&1 || rc=$?
    if [ $rc -ne 0 ] && { [ $rc -ne 1 ] || grep -q 'ThreadSanitizer' "$out/$t.timing.log"; }; then
      cat "$out/$t.timing.log"
      echo "[sanitize] tsan: $t (timing tests) exit $rc: a race or a crash"
      exit 1
    fi
    grep -E '^\[  (PASSED|FAILED)  \]' "$out/$t.timing.log" | sed 's/^/    /' || true
  done
  echo "[sanitize] tsan: clean in $((SECONDS - t0)) s"
}

for m in "${modes[@]}"; do
  case $m in
    asan) run_asan ;;
    tsan) run_tsan ;;
    *)
      echo "usage: scripts/sanitize.sh [asan] [tsan]" >&2
      exit 2
      ;;
  esac
done
