#!/usr/bin/env bash
# The main job: installs dependencies, builds in release mode, runs the demos.
#
#   scripts/run_demos.sh [--update-readmes] [--no-build] [--ranks=N]
#
# --ranks=N         MPI processes of the distributed human-pose training
#                   (human_pose_mpi under mpirun; default 2, 0 skips it)
# --update-readmes  afterwards, rewrite the results tables of the example
#                   READMEs from the demos' JSON (scripts/update_readme_tables.py)
# --no-build        use the programs already in build/ (no install, no build)
set -euo pipefail
cd "$(dirname "$0")/.."
update_readmes=0
build=1
ranks=2
for arg in "$@"; do
  case "$arg" in
    --update-readmes) update_readmes=1 ;;
    --no-build) build=0 ;;
    --ranks=*) ranks="${arg#--ranks=}" ;;
    *) echo "usage: $0 [--update-readmes] [--no-build] [--ranks=N]" >&2; exit 2 ;;
  esac
done
if ! [[ "$ranks" =~ ^[0-9]+$ ]]; then
  echo "--ranks must be a number of processes (0: skip the MPI demo)" >&2
  exit 2
fi
if [ "$build" = 1 ]; then
  scripts/install_dependencies.sh
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCERES_WIBERG_BUILD_TESTS=OFF \
    -DCERES_WIBERG_BUILD_BENCHMARKS=OFF
  cmake --build build -j2
fi
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
echo
echo "== human_pose_mpi (the multi-view training on $ranks MPI processes; 2 epochs): outputs in out/human_pose_mpi/ =="
if [ "$ranks" = 0 ]; then
  echo "skipped (--ranks=0)"
elif [ ! -x build/examples/human_pose/human_pose_mpi ]; then
  echo "skipped: built without MPI (install libopenmpi-dev openmpi-bin)"
else
  mpi_flags=(--oversubscribe)  # OpenMPI: more processes than cores are allowed
  [ "$(id -u)" = 0 ] && mpi_flags+=(--allow-run-as-root)
  mkdir -p out/human_pose_mpi
  mpirun "${mpi_flags[@]}" -np "$ranks" build/examples/human_pose/human_pose_mpi \
    --output_dir=out/human_pose_mpi --output_json=out/human_pose_mpi/human_pose_mpi.json
fi
echo
echo "== bundle_adjustment (learnt camera weights and robust scale; the gauge; demo size): outputs in out/bundle_adjustment/ =="
mkdir -p out/bundle_adjustment
./build/examples/bundle_adjustment/bundle_adjustment \
  --output_json=out/bundle_adjustment/bundle_adjustment.json --output_dir=out/bundle_adjustment
if [ "$update_readmes" = 1 ]; then
  echo
  echo "== README tables from out/*/*.json =="
  scripts/update_readme_tables.py --out out
fi
