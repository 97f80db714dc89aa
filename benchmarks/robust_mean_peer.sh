#!/usr/bin/env bash
# Robust-mean derivative throughput, ceres_wiberg against the PyTorch peer
# (the paper's authors' approach), both timed in this one run:
#
#   benchmarks/robust_mean_peer.sh [BUILD_DIR]      (default build)
#
# Runs BUILD_DIR/benchmarks/robust_mean_benchmark and robust_mean_peer.py
# (skipped with a message where PyTorch is absent; Debian: python3-torch),
# prints examples/s of both and their ratio, and writes
# benchmarks/results/robust_mean_peer.json.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-build}"
program="$build/benchmarks/robust_mean_benchmark"
[ -x "$program" ] || { echo "robust_mean_peer.sh: $program is missing (build the benchmarks)"; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$program" --benchmark_out="$tmp/ours.json" --benchmark_out_format=json >/dev/null
# Debian's python3-torch belongs to the system Python, which another python3
# on PATH (pyenv, a virtualenv) may hide; PYTHON overrides.
python="${PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3 )}"
"$python" "$here/robust_mean_peer.py" > "$tmp/peer.json"
python3 - "$tmp/ours.json" "$tmp/peer.json" "$here/results/robust_mean_peer.json" <<'PY'
import json, os, platform, sys, datetime
ours = json.load(open(sys.argv[1]))
peer = json.load(open(sys.argv[2]))
cases = {b["name"].split("/")[1]: b for b in ours["benchmarks"]}
result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
          "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
          "ceres_wiberg": {name: {k: b[k] for k in ("examples_per_s", "failed", "mean_loss", "draws")}
                           for name, b in cases.items()},
          "peer": peer}
print("robust mean, sigma = 4, paper protocol; derivative evaluations per second (inner solve included)")
for name, b in cases.items():
    print(f"  ceres_wiberg {name:21s} {b['examples_per_s']:10.0f}/s  (mean loss {b['mean_loss']:.3g}, failed {int(b['failed'])})")
if "skipped" in peer:
    print("  PyTorch peer: skipped:", peer["skipped"])
else:
    print(f"  PyTorch peer (implicit) {peer['examples_per_s']:10.0f}/s  (mean loss {peer['mean_loss']:.3g}, failed {peer['failed']}, torch {peer['torch']})")
    ratio = cases["implicit"]["examples_per_s"] / peer["examples_per_s"]
    result["ratio_implicit_over_peer"] = ratio
    print(f"  ratio (implicit / peer): {ratio:.1f}x")
    for name, b in cases.items():
        if name.startswith("implicit_"):
            ratio = b["examples_per_s"] / peer["examples_per_s"]
            result[f"ratio_{name}_over_peer"] = ratio
            print(f"  ratio ({name} / peer): {ratio:.1f}x")
out = sys.argv[3]
with open(out + ".tmp", "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")
os.replace(out + ".tmp", out)
PY
