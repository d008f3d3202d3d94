#!/usr/bin/env bash
# Builds one libFuzzer target (clang 14, -fsanitize=fuzzer,address,undefined)
# and runs it for a bounded time on a copy of its seed corpus.
#
#   scripts/fuzz.sh TARGET SECONDS     # TARGET: codec, model_decoder,
#                                      # requests, readers
#   scripts/fuzz.sh list
#
# The seeds are fuzz/corpus/<TARGET>/ (in the repository); inputs the run
# finds interesting go to build-fuzz/corpus/<TARGET>/, not into the
# repository. A crash leaves build-fuzz/crash-<TARGET>-* and exits non-zero:
# minimise it, fix the bug, and add the input to fuzz/corpus/<TARGET>/ so
# that every later run (and scripts/fuzz.sh TARGET 10 in CI) replays it.
# Prints the executions and their rate at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(codec model_decoder requests readers)
if [[ "${1:-}" == "list" ]]; then printf '%s\n' "${targets[@]}"; exit 0; fi
target=${1:-}
seconds=${2:-}
if [[ -z "$target" || -z "$seconds" || ! " ${targets[*]} " =~ " $target " ]]; then
  echo "usage: scripts/fuzz.sh TARGET SECONDS   (targets: ${targets[*]})" >&2
  exit 2
fi
command -v clang++ >/dev/null || { echo "fuzz: needs clang (apt-get install clang)" >&2; exit 1; }
dir=build-fuzz
if [[ ! -f "$dir/build.ninja" ]]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DAISLE_SANITIZE=fuzzer -DAISLE_BUILD_TESTS=OFF -DAISLE_BUILD_BENCHMARKS=OFF \
    "${launcher[@]}"
fi
echo "fuzz: building fuzz_$target"
cmake --build "$dir" -j "${AISLE_JOBS:-2}" --target "fuzz_$target"
work="$dir/corpus/$target"
mkdir -p "$work"
echo "fuzz: running fuzz_$target for ${seconds}s (seeds fuzz/corpus/$target)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
log="$dir/fuzz-$target.log"
status=0
"$dir/fuzz/fuzz_$target" "$work" "fuzz/corpus/$target" \
  -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 \
  -artifact_prefix="$dir/crash-$target-" -print_final_stats=1 \
  >"$log" 2>&1 || status=$?
grep -E "^stat::number_of_executed_units|^stat::average_exec_per_sec|^stat::new_units_added|^stat::peak_rss_mb" "$log" || true
if ((status != 0)); then
  tail -40 "$log"
  echo "fuzz: fuzz_$target FAILED (exit $status); see $log and $dir/crash-$target-*" >&2
  exit "$status"
fi
echo "fuzz: fuzz_$target ran ${seconds}s without a finding"
