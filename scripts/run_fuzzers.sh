#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (AddressSanitizer +
# UndefinedBehaviorSanitizer) in build-fuzz/ and runs each for the given
# number of seconds (default 30), starting from its seed corpus in
# tests/fuzz/corpus/<target>/. New inputs go to build-fuzz/corpus/<target>/
# (the seeds in the repository are not modified); a crash is written to
# build-fuzz/crashes/<target>/ and fails the script.
#
#   scripts/run_fuzzers.sh [seconds] [target ...]     e.g. scripts/run_fuzzers.sh 600 pgm vot
#
# Environment: JOBS (build parallelism and fuzzers run at once, default 2), FUZZ_BUILD_DIR (default
# build-fuzz), CERES_WIBERG_LOCK (a command to prefix every build and run
# with, e.g. "buildlock" on a shared machine).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
shift || true
build="${FUZZ_BUILD_DIR:-build-fuzz}"
jobs="${JOBS:-2}"
lock="${CERES_WIBERG_LOCK:-}"
# hdf5 runs only when named: libhdf5 itself crashes on some malformed files
# (tests/fuzz/libhdf5_crashes/), which no reader of ours can prevent.
all_targets=(pgm foe vot vot_list bal checkpoint learner_options derivative_options)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

command -v clang++ >/dev/null || { echo "run_fuzzers.sh: clang++ is missing (scripts/install_dependencies.sh)"; exit 1; }
$lock cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DCERES_WIBERG_BUILD_FUZZERS=ON -DCERES_WIBERG_BUILD_TESTS=OFF \
  -DCERES_WIBERG_BUILD_EXAMPLES=OFF -DCERES_WIBERG_BUILD_BENCHMARKS=OFF >/dev/null
$lock cmake --build "$build" -j"$jobs" --target $(printf '%s_fuzzer ' "${targets[@]}")

export ASAN_OPTIONS="${ASAN_OPTIONS:-allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# Runs one target; its output goes to $build/<target>.log.
fuzz() {
  local target="$1"
  local corpus="$build/corpus/$target" crashes="$build/crashes/$target"
  mkdir -p "$corpus" "$crashes"
  # libhdf5 (not instrumented) leaks a few hundred bytes on some malformed
  # files, inside the library; leaks are checked for every other target.
  local leaks=1
  [ "$target" != hdf5 ] || leaks=0
  # -timeout: an input that takes 10 s is a hang; -rss_limit_mb: one that
  # needs 2 GiB is an unbounded allocation.
  ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=$leaks" $lock "$build/tests/fuzz/${target}_fuzzer" "$corpus" "tests/fuzz/corpus/$target" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$crashes/" 2>"$build/$target.log"
}
# $jobs targets at a time (each fuzzer is one process on one core), then
# each target's result in order.
declare -A status
for ((first = 0; first < ${#targets[@]}; first += jobs)); do
  batch=("${targets[@]:first:jobs}")
  declare -A pids=()
  for target in "${batch[@]}"; do
    echo "== $target: ${seconds} s =="
    fuzz "$target" &
    pids[$target]=$!
  done
  for target in "${batch[@]}"; do
    if wait "${pids[$target]}"; then status[$target]=0; else status[$target]=1; fi
  done
  unset pids
done
failed=()
for target in "${targets[@]}"; do
  echo "== $target =="
  if [ "${status[$target]}" != 0 ]; then
    failed+=("$target")
    tail -n 60 "$build/$target.log"
  fi
  grep -E "^(#[0-9]+ *DONE|stat::number_of_executed_units|stat::peak_rss_mb)" "$build/$target.log" || true
  grep -E "cov: " "$build/$target.log" | tail -n 1 || true
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "run_fuzzers.sh: crashes or errors in: ${failed[*]} (inputs in $build/crashes/)"
  exit 1
fi
echo "run_fuzzers.sh: ${#targets[@]} targets, ${seconds} s each, no crash"
