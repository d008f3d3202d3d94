#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test. Exit status is
# non-zero on any failure. CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
BUILD_DIR=${AISLE_BUILD_DIR:-build}
# Unit and integration tests (GoogleTest via CTest).
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "${AISLE_TEST_JOBS:-2}" --timeout 600
