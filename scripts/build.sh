#!/usr/bin/env bash
# Configures and builds Aisle (Release) into ./build. Usage: scripts/build.sh [targets...]
# The first run configures: the compiler is CMake's choice (CXX=clang++ to
# pick clang), AISLE_CMAKE_ARGS adds CMake options (e.g. -DAISLE_WERROR=ON).
# An existing build directory keeps its configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${AISLE_BUILD_DIR:-build}
JOBS=${AISLE_JOBS:-$(nproc)}
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-Release} \
    ${AISLE_CMAKE_ARGS:-}
fi
if (($# > 0)); then
  cmake --build "$BUILD_DIR" -j "$JOBS" --target "$@"
else
  cmake --build "$BUILD_DIR" -j "$JOBS"
fi
