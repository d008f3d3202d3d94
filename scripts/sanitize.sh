#!/usr/bin/env bash
# Builds Aisle with a sanitizer and runs the tests under it.
#
#   scripts/sanitize.sh address [CTEST_ARGS...]   # ASan + UBSan, build-asan/
#   scripts/sanitize.sh thread  [CTEST_ARGS...]   # TSan, build-tsan/
#
# Example: scripts/sanitize.sh thread -R 'Engine|Store'
# Uses clang (Debian's clang 14). A full run takes long on a small machine
# (a build from scratch, tests 2-5x slower): it is not part of
# scripts/test.sh. Debian's gRPC, protobuf and RocksDB are not instrumented,
# so TSan can only see races in Aisle's own code and in inlined headers.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-}
shift || true
case "$kind" in
  address) dir=build-asan ;;
  thread) dir=build-tsan ;;
  *) echo "usage: scripts/sanitize.sh address|thread [ctest args...]" >&2; exit 2 ;;
esac
./scripts/setup.sh
apt_missing=()
command -v clang++ >/dev/null || apt_missing+=(clang)
if ((${#apt_missing[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get install -y -qq --no-install-recommends "${apt_missing[@]}"
fi
if [[ ! -f "$dir/build.ninja" ]]; then
  CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DAISLE_SANITIZE="$kind" -DAISLE_BUILD_BENCHMARKS=OFF
fi
cmake --build "$dir" -j "${AISLE_JOBS:-$(nproc)}"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
ctest --test-dir "$dir" --output-on-failure -j "${AISLE_TEST_JOBS:-2}" --timeout 1800 "$@"
