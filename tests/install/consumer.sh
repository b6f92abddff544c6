#!/usr/bin/env bash
# mpipe as a library (issue 16, docs/library.md): installs this build into a scratch prefix,
# builds examples/consumer out of tree against it with find_package(mpipe) alone, and runs it at
# 2 ranks; it must print the summary and say every item of the reference pipeline completed.
# Then examples/image (beside CONSUMER_SOURCE) the same way: built out of tree against the prefix,
# its library form run at 2 ranks and its plugin form under the installed bin/mpipe, each
# compared byte for byte with its serial reference (examples/image/check.sh).
# Writes only under SCRATCH_DIR. Usage: consumer.sh CMAKE BUILD_DIR CONSUMER_SOURCE SCRATCH_DIR CXX
set -euo pipefail
cmake=$1 build=$2 src=$3 dir=$4 cxx=$5
rm -rf "$dir" && mkdir -p "$dir"
prefix=$dir/prefix

"$cmake" --install "$build" --prefix "$prefix" >"$dir/install.log"
for f in include/mpipe/mpipe.hpp include/mpipe/version.hpp bin/mpipe \
  lib/cmake/mpipe/mpipeConfig.cmake lib/cmake/mpipe/mpipeConfigVersion.cmake \
  lib/cmake/mpipe/mpipeTargets.cmake; do
  [[ -e $prefix/$f ]] || { echo "FAIL: the install lacks $f"; exit 1; }
done
# The package must not point back into the source or build tree (only the prefix is needed).
if grep -rqF -e "$build" "$prefix/lib/cmake/mpipe"; then
  echo "FAIL: the installed package names the build tree $build"; exit 1
fi

"$cmake" -S "$src" -B "$dir/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$dir/configure.log" 2>&1 ||
  { cat "$dir/configure.log"; echo "FAIL: find_package(mpipe) against the prefix"; exit 1; }
"$cmake" --build "$dir/build" >"$dir/build.log" 2>&1 ||
  { tail -50 "$dir/build.log"; echo "FAIL: the consumer does not build"; exit 1; }

status=0
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
  mpirun -np 2 --oversubscribe --bind-to none "$dir/build/consumer" --time-scale 0.01 \
  >"$dir/run.txt" 2>&1 || status=$?
cat "$dir/run.txt"
[[ $status -eq 0 ]] || { echo "FAIL: the consumer exited $status"; exit 1; }
grep -Eq "^consumer: ([0-9]+) of \1 items completed on 2 ranks" "$dir/run.txt" ||
  { echo "FAIL: the consumer did not report every item completed"; exit 1; }

# examples/image out of tree: the library form (mpipe::core) and the plugin (mpipe::plugin).
image_src=$(cd "$src/../image" && pwd)
"$cmake" -S "$image_src" -B "$dir/image" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$dir/image-configure.log" 2>&1 ||
  { cat "$dir/image-configure.log"; echo "FAIL: examples/image: find_package(mpipe)"; exit 1; }
"$cmake" --build "$dir/image" >"$dir/image-build.log" 2>&1 ||
  { tail -50 "$dir/image-build.log"; echo "FAIL: examples/image does not build"; exit 1; }
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
  bash "$image_src/check.sh" lib 2 spread "$dir/image-lib" "$dir/image/image_reference" \
  "$image_src/image.yaml" "$image_src/data" "$dir/image/image_pipeline" mpirun ||
  { echo "FAIL: examples/image's library form against the prefix"; exit 1; }
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
  bash "$image_src/check.sh" cli 2 spread "$dir/image-plugin" "$dir/image/image_reference" \
  "$dir/image/image-plugin.yaml" "$image_src/data" "$prefix/bin/mpipe" mpirun ||
  { echo "FAIL: examples/image's plugin under the installed mpipe"; exit 1; }
echo "install.consumer: OK"
