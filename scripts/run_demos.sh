#!/usr/bin/env bash
# The main job: installs dependencies, builds in release mode, runs the demos.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_dependencies.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCERES_WIBERG_BUILD_TESTS=OFF \
  -DCERES_WIBERG_BUILD_BENCHMARKS=OFF
cmake --build build -j2
echo "== hello_wiberg =="
./build/examples/hello_wiberg
echo
echo "== robust_mean (paper Figure 1): outputs in out/robust_mean/ =="
mkdir -p out/robust_mean
(cd out/robust_mean && ../../build/examples/robust_mean --output_json=robust_mean.json)
echo
echo "== tracker_fusion (paper Table 1, Figure 2; demo size): outputs in out/tracker_fusion/ =="
mkdir -p out/tracker_fusion
./build/examples/tracker_fusion/fuse_trackers --max_train_frames=1000 --num_epochs=4 \
  --output_json=out/tracker_fusion/fusion.json --output_dir=out/tracker_fusion/figure
