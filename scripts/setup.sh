#!/usr/bin/env bash
# Installs what mpipe needs (Debian 12 packages only, via apt) and builds it into build/.
# Safe to run again: installs only what is missing, rebuilds only what changed.
# Env: MPIPE_BUILD_DIR (default build), MPIPE_CMAKE_ARGS (extra cmake -D...), CI=true (-Werror).
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(build-essential cmake ninja-build pkg-config git
      openmpi-bin libopenmpi-dev libboost-mpi-dev libboost-serialization-dev
      libhdf5-dev hdf5-tools libyaml-cpp-dev libcli11-dev libgtest-dev googletest
      python3 python3-h5py python3-numpy python3-pandas python3-pytest
      python3-matplotlib python3-nbformat python3-nbclient python3-ipykernel
      python3-venv python3-setuptools python3-pip python3-wheel python3-yaml
      libotf2-trace-dev otf2-tools)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "[setup] installing with apt: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
build=${MPIPE_BUILD_DIR:-build}
werror=OFF
if [ "${CI:-}" = "true" ]; then werror=ON; fi
# shellcheck disable=SC2086
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMPIPE_WERROR=$werror \
      ${MPIPE_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j"$(nproc)"
echo "[setup] built $build/mpipe"
