#!/usr/bin/env bash
# Checks every translation unit of Aisle's libraries and the `aisle` binary
# with clang, -Wthread-safety and every warning an error (AISLE_WERROR), so
# that every ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED annotation is
# checked by the compiler, and clang's other checks (e.g. -Wdangling-gsl: a
# string_view of a temporary) hold too.
#
# Only clang's front end runs (-fsyntax-only, with the flags of the clang
# build's compile_commands.json): the thread-safety analysis and those
# warnings are front-end diagnostics, so the verdict is a full clang
# build's, without the optimiser, code generation and linking, which took
# most of its time (scripts/test.sh prints the step's seconds).
# AISLE_CLANG_FULL_BUILD=1 builds `aisle` with clang instead, as before.
#
# Build directory: build-clang/ (AISLE_CLANG_BUILD_DIR); AISLE_JOBS
# parallel units (default: the cores). Exit status non-zero when the
# analysis finds a lock misuse or clang warns.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${AISLE_CLANG_BUILD_DIR:-build-clang}
jobs=${AISLE_JOBS:-$(nproc)}
command -v clang++ >/dev/null || {
  echo "check_thread_safety: clang++ is missing: apt-get install clang" >&2
  exit 1
}
if [[ ! -f "$dir/build.ninja" ]]; then
  CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DAISLE_BUILD_TESTS=OFF -DAISLE_BUILD_BENCHMARKS=OFF \
    -DAISLE_WERROR=ON >/dev/null
fi
if [[ ${AISLE_CLANG_FULL_BUILD:-0} == 1 ]]; then
  cmake --build "$dir" -j "$jobs" --target aisle
  echo "check_thread_safety: no lock annotation violated, no clang warning"
  exit 0
fi
# The units include generated code (protobuf and gRPC, the console's
# embedded assets): make it through the phony target of CMake's Ninja
# generator that orders it before the `aisle` objects. That also compiles
# aisle_proto (CMake has the console's generator wait for the libraries
# aisle_console links), with the same flags: those units are not checked
# twice.
ninja -C "$dir" cmake_object_order_depends_target_aisle >/dev/null || {
  echo "check_thread_safety: could not generate the sources in $dir" \
    "(ninja cmake_object_order_depends_target_aisle); delete $dir and retry," \
    "or run with AISLE_CLANG_FULL_BUILD=1" >&2
  exit 1
}
python3 scripts/lib/syntax_check.py "$dir/compile_commands.json" "$jobs" \
  /aisle_proto.dir/
echo "check_thread_safety: no lock annotation violated, no clang warning"
