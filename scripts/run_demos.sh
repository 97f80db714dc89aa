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
echo
echo "== denoise_foe (learnt Fields of Experts; demo size): outputs in out/denoise_foe/ =="
mkdir -p out/denoise_foe
./build/examples/denoise_foe/denoise_foe --output_dir=out/denoise_foe \
  --output_json=out/denoise_foe/denoise_foe.json
echo
echo "== human_pose (supplementary section 4; demo size): outputs in out/human_pose/ =="
mkdir -p out/human_pose
./build/examples/human_pose/human_pose --size=demo --output_json=out/human_pose/human_pose.json \
  --output_dir=out/human_pose
