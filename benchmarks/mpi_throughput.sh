#!/usr/bin/env bash
# Training throughput of the distributed learner: human_pose_mpi (the
# multi-view human-pose model, demo-size training: 750 frames, batch 16,
# 3,853 parameters) at 1 and 2 MPI processes of 1 thread each, with the
# given example distributions, REPEATS times in alternation (np = 1, np = 2,
# np = 1, ...). Writes results/mpi_throughput_np<np>_<distribution>_<repeat>.json
# and results/mpi_throughput.txt (every run, the best of each, the commands,
# the machine). On a shared machine single runs vary by 10-30 %: repeat.
#
#   benchmarks/mpi_throughput.sh [BUILD_DIR] [EPOCHS] [REPEATS] [DISTRIBUTIONS]
#   # defaults: build 2 1 "ROUND_ROBIN SHARDED"
#
# On a shared machine run it through the lock (buildlock benchmarks/mpi_throughput.sh):
# np = 2 needs both cores.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
epochs="${2:-2}"
repeats="${3:-1}"
distributions="${4:-ROUND_ROBIN SHARDED}"
program="$build/examples/human_pose/human_pose_mpi"
[ -x "$program" ] || { echo "no $program (configure with MPI and build human_pose_mpi)" >&2; exit 1; }
mpi_flags=(--oversubscribe)
[ "$(id -u)" = 0 ] && mpi_flags+=(--allow-run-as-root)
results=benchmarks/results
mkdir -p "$results"
log="$results/mpi_throughput.txt"
{
  echo "human_pose_mpi throughput, $(date -u +%Y-%m-%dT%H:%M:%SZ), source $(git rev-parse --short HEAD)$(git diff --quiet -- ceres_wiberg examples || echo ' (modified)')"
  echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(mpirun --version | head -1)"
} > "$log"
rm -f "$results"/mpi_throughput_np*.json
for distribution in $distributions; do
  for repeat in $(seq 1 "$repeats"); do
  for np in 1 2; do
    json="$results/mpi_throughput_np${np}_${distribution}_${repeat}.json"
    command=(mpirun "${mpi_flags[@]}" -np "$np" "$program" --threads=1 --epochs="$epochs"
             --evaluate=false --distribution="$distribution" --output_json="$json")
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); ${command[*]}" >> "$log"
    "${command[@]}"
  done
  done
done
python3 - "$results" "$log" "$repeats" "$distributions" <<'PY'
import json, sys
results, log, repeats, distributions = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split()
lines = ["", "| distribution | repeat | processes x threads | epochs | train s | examples/s | speed-up (same repeat) | evaluating s (per process) | exchanging s (per process) | model fingerprint |",
         "|---|---:|---:|---:|---:|---:|---:|---|---|---|"]
best = {}
for distribution in distributions:
    for repeat in range(1, repeats + 1):
        base = None
        for np in [1, 2]:
            r = json.load(open(f"{results}/mpi_throughput_np{np}_{distribution}_{repeat}.json"))
            base = base or r["examples_per_second"]
            key = (distribution, np)
            best[key] = max(best.get(key, 0.0), r["examples_per_second"])
            lines.append(f"| {distribution} | {repeat} | {np} x {r['threads_per_process']} | {r['epochs']} | "
                         f"{r['train_seconds']:.1f} | {r['examples_per_second']:.2f} | "
                         f"{r['examples_per_second'] / base:.2f} | "
                         f"{' / '.join('%.1f' % t for t in r['evaluation_seconds_per_process'])} | "
                         f"{' / '.join('%.1f' % t for t in r['exchange_seconds_per_process'])} | "
                         f"{r['model_fingerprint']} |")
lines += ["", "| distribution | best examples/s, np = 1 | best examples/s, np = 2 | ratio of the bests |",
          "|---|---:|---:|---:|"]
for distribution in distributions:
    one, two = best[(distribution, 1)], best[(distribution, 2)]
    lines.append(f"| {distribution} | {one:.2f} | {two:.2f} | {two / one:.2f} |")
open(log, "a").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
