#!/usr/bin/env bash
# Builds and runs every test: the release suite, the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer, and a downstream project that
# consumes the installed package with find_package(ceres_wiberg).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_dependencies.sh
jobs=2

echo "== release build and tests =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCERES_WIBERG_BUILD_TESTS=ON \
  -DCERES_WIBERG_BUILD_EXAMPLES=ON -DCERES_WIBERG_BUILD_BENCHMARKS=ON
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== AddressSanitizer + UndefinedBehaviorSanitizer =="
# -O1 without debug information keeps this second build quick on 2 cores. The
# library's tests only: the examples' support code is tested by the release
# build, and its readers run under the same sanitizers in the fuzzers below.
cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O1 \
  -DCERES_WIBERG_SANITIZE=ON \
  -DCERES_WIBERG_BUILD_TESTS=ON -DCERES_WIBERG_BUILD_EXAMPLE_TESTS=OFF \
  -DCERES_WIBERG_BUILD_EXAMPLES=OFF \
  -DCERES_WIBERG_BUILD_BENCHMARKS=OFF
cmake --build build-sanitize -j"$jobs"
ctest --test-dir build-sanitize --output-on-failure -j"$jobs"

echo "== fuzzing: each libFuzzer target for a bounded time =="
# The clang build of the fuzz targets and the libraries they use, then 20 s
# per target from the committed seed corpora (about 5 minutes in all).
scripts/run_fuzzers.sh 20

echo "== install and build a downstream project =="
prefix="$(pwd)/build/install"
cmake --install build --prefix "$prefix"
cmake -S .ci/downstream -B build/downstream -DCMAKE_PREFIX_PATH="$prefix"
cmake --build build/downstream -j"$jobs"
./build/downstream/downstream
./build/downstream/downstream_learning
if [ -x build/downstream/downstream_mpi ]; then
  # OpenMPI refuses root without --allow-run-as-root; 2 processes on any machine.
  mpirun --allow-run-as-root --oversubscribe -np 2 ./build/downstream/downstream_mpi
fi
