#!/usr/bin/env bash
# Builds Aisle with a sanitizer and runs the tests under it.
#
#   scripts/sanitize.sh asan [CTEST_ARGS...]   # ASan + UBSan, build-fuzz/
#   scripts/sanitize.sh tsan [CTEST_ARGS...]   # TSan, build-tsan/
#
# Example: scripts/sanitize.sh tsan -R 'Engine|Store'
# AISLE_JOBS (default nproc) bounds the build; AISLE_TEST_JOBS (2) ctest.
# Third-party exclusions, each with its reason, are in scripts/sanitizers/:
# asan_ignorelist.txt (compile time) and tsan_suppressions.txt (run time).
# tsan also builds Debian's abseil with TSan once (scripts/sanitizers/
# abseil_tsan.sh): without it TSan cannot see absl::Mutex.
# Uses clang (Debian's clang 14). A full run takes long on a small machine
# (a build from scratch, tests 2-5x slower): it is not part of
# scripts/test.sh. Debian's gRPC, protobuf and RocksDB are not instrumented,
# so TSan can only see races in Aisle's own code and in inlined headers.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-}
shift || true
case "$kind" in
  # One ASan+UBSan build serves the tests and the fuzz targets
  # (scripts/fuzz.sh): AISLE_SANITIZE=fuzzer is ASan+UBSan plus libFuzzer's
  # coverage instrumentation, which costs the tests little, and a second
  # instrumented build of everything would cost as long as the run.
  asan | address) kind=fuzzer dir=build-fuzz ;;
  tsan | thread) kind=thread dir=build-tsan ;;
  *) echo "usage: scripts/sanitize.sh asan|tsan [ctest args...]" >&2; exit 2 ;;
esac
./scripts/setup.sh
apt_missing=()
command -v clang++ >/dev/null || apt_missing+=(clang)
if ((${#apt_missing[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get install -y -qq --no-install-recommends "${apt_missing[@]}"
fi
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# Configured every time: scripts/fuzz.sh may have made the dir without tests.
CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DAISLE_SANITIZE="$kind" -DAISLE_BUILD_TESTS=ON -DAISLE_BUILD_BENCHMARKS=OFF \
  "${launcher[@]}" >/dev/null
echo "sanitize: building $dir (AISLE_JOBS=${AISLE_JOBS:-$(nproc)})"
cmake --build "$dir" -j "${AISLE_JOBS:-$(nproc)}"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [[ $kind == thread ]]; then
  # absl::Mutex must be instrumented for TSan to see the locks: Debian's
  # abseil rebuilt with -fsanitize=thread (scripts/sanitizers/abseil_tsan.sh)
  # is loaded in place of the system's.
  AISLE_JOBS=${AISLE_JOBS:-$(nproc)} scripts/sanitizers/abseil_tsan.sh "$dir/abseil-tsan"
  export LD_LIBRARY_PATH=$PWD/$dir/abseil-tsan/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
# Races inside Debian's uninstrumented gRPC/RocksDB only; see the file.
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/sanitizers/tsan_suppressions.txt}
ctest --test-dir "$dir" --output-on-failure -j "${AISLE_TEST_JOBS:-2}" --timeout 1800 "$@"
