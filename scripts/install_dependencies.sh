#!/usr/bin/env bash
# Installs the Debian packages ceres_wiberg builds, tests and runs with.
# Run as root on Debian 12 (bookworm) or newer.
set -euo pipefail
packages=(
  cmake g++ make
  libceres-dev libeigen3-dev libgoogle-glog-dev libgflags-dev libsuitesparse-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libhdf5-dev gnuplot-nox
  clang  # libFuzzer targets (scripts/run_fuzzers.sh)
  libopenmpi-dev openmpi-bin  # the distributed learner (ceres_wiberg::mpi), optional
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi
