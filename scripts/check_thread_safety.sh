#!/usr/bin/env bash
# Compiles Aisle's libraries and the `aisle` binary with clang,
# -Wthread-safety and every warning an error (AISLE_WERROR), so that every
# ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED annotation is checked by
# the compiler, and clang's other checks (e.g. -Wdangling-gsl: a
# string_view of a temporary) hold too.
# Build directory: build-clang/ (AISLE_CLANG_BUILD_DIR). Exit status non-zero
# when the analysis finds a lock misuse. Run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${AISLE_CLANG_BUILD_DIR:-build-clang}
command -v clang++ >/dev/null || {
  echo "check_thread_safety: clang++ is missing: apt-get install clang" >&2
  exit 1
}
if [[ ! -f "$dir/build.ninja" ]]; then
  CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DAISLE_BUILD_TESTS=OFF -DAISLE_BUILD_BENCHMARKS=OFF \
    -DAISLE_WERROR=ON >/dev/null
fi
cmake --build "$dir" -j "${AISLE_JOBS:-$(nproc)}" --target aisle
echo "check_thread_safety: no lock annotation violated, no clang warning"
