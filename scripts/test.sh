#!/usr/bin/env bash
# Every test: install + build if needed, then unit, MPI (1-4 ranks), CLI and Python tests.
# Loud on failure: ctest prints the output of each failing test and the script exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build=${MPIPE_BUILD_DIR:-build}
ctest --test-dir "$build" --output-on-failure -j2 --timeout 600 "$@"
