#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test. Exit status is
# non-zero on any failure. CI (.ci/run) calls exactly this.
#
#   1. unit and integration tests (GoogleTest via CTest): real server, real
#      sockets, real RocksDB in temporary directories; and every benchmark
#      binary started once on its cheapest cases (benchmark_smoke_*, about
#      a minute; scripts/bench.sh runs them for real);
#   2. deployment checks: the Prometheus rules and every Grafana panel query
#      against a real server and a real Prometheus on loopback
#      (scripts/check_prometheus.sh), and the Kubernetes manifests against
#      the Kubernetes schemas (scripts/validate_k8s.sh). Skip them with
#      AISLE_SKIP_DEPLOY_CHECKS=1.
#   3. the lock annotations (ABSL_GUARDED_BY ...) and clang's warnings,
#      every one an error. A new build directory is built with clang and
#      -DAISLE_WERROR=ON (clang adds -Wthread-safety), so the build itself
#      is that check, on every unit including the tests; a build directory
#      configured with another compiler gets clang's front end over the
#      units of `aisle` instead (scripts/check_thread_safety.sh, ~250 s on
#      2 cores).
#   4. cluster mode with real processes: scripts/cluster_test.sh --small.
#   5. the web console in a real browser (scripts/console_e2e.sh: the
#      system Chromium driven by playwright-core; screenshots in
#      $BUILD_DIR/console-e2e/).
#   6. chaos checks with the real binary (scripts/chaos.sh, ~15 s): kill -9
#      during train, swap, import and backup; a full disk; a read-only
#      data dir; damaged model files and backups.
# Sanitizer runs (scripts/sanitize.sh asan|tsan) and long fuzzing
# (scripts/fuzz.sh) take long and are run separately.
# The container image check (scripts/build_image.sh, ~7 minutes, needs
# root) is run separately.
#
# Time (CI has 2 cores and ~20 minutes): every step prints its seconds and
# a table closes the run. Two things overlap: the npm packages of the
# console and Kubernetes checks download while the build compiles, and
# check_prometheus (mostly waiting for Prometheus' 1 s scrapes and rule
# evaluations) runs beside the thread-safety check (when it compiles, at a
# lower priority, so that the check's server is not starved) and the
# Kubernetes check; its output is printed when it ends. Not beside the
# cluster check: with it, a node once missed its 60 s start-up bound.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${AISLE_BUILD_DIR:-build}
START=$(date +%s)
failed=()
timings=()
# step NAME COMMAND...: runs COMMAND, then prints and records how many
# seconds it took and whether it passed (the summary at the end lists every
# step); a failure is recorded, not fatal.
step() {
  local name=$1 t0 rc=0
  shift
  t0=$(date +%s)
  echo "=== test.sh: $name"
  "$@" || rc=$?
  local line
  line=$(printf '%-22s %5d s  %s' "$name" $(($(date +%s) - t0)) \
    "$( ((rc == 0)) && echo ok || echo "FAILED (exit $rc)")")
  echo "=== test.sh: $line"
  timings+=("$line")
  ((rc == 0)) || failed+=("$name")
}
summary() {
  echo "=== test.sh: seconds per step"
  printf '  %s\n' "${timings[@]}"
  echo "  total                  $(($(date +%s) - START)) s"
}

deploy_checks=1
[[ "${AISLE_SKIP_DEPLOY_CHECKS:-0}" == "1" ]] && deploy_checks=0

# Without the packages and the build nothing else can run. The deployment
# checks' packages (prometheus...) come with the others: one apt-get update.
step setup env AISLE_SETUP_DEPLOY=$deploy_checks ./scripts/setup.sh
if ((${#failed[@]} == 0)); then
  # Network, not CPU: while the build runs. A failure shows again, with
  # its message, in the check that needs the packages.
  npm_log=$(mktemp /tmp/aisle-npm.XXXXXX)
  {
    ./scripts/console_e2e.sh --deps-only
    if ((deploy_checks)); then ./scripts/validate_k8s.sh --deps-only; fi
  } >"$npm_log" 2>&1 &
  npm_pid=$!
  # clang with every warning an error when the build directory is new
  # (setup.sh installs clang): clang's -Wthread-safety then checks the lock
  # annotations as it compiles, which makes step 3 free.
  build_env=()
  if [[ ! -f "$BUILD_DIR/build.ninja" ]] && command -v clang++ >/dev/null; then
    build_env=(CXX=clang++ "AISLE_CMAKE_ARGS=-DAISLE_WERROR=ON")
  fi
  step build env "${build_env[@]}" ./scripts/build.sh
  wait "$npm_pid" || echo "=== test.sh: npm prefetch failed (see below)"
  cat "$npm_log"
  rm -f "$npm_log"
fi
if ((${#failed[@]})); then
  summary
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi

if ((deploy_checks)); then
  prom_log=$(mktemp /tmp/aisle-prom-check.XXXXXX)
  (
    t0=$(date +%s)
    rc=0
    AISLE_BIN="$PWD/$BUILD_DIR/aisle" ./scripts/check_prometheus.sh || rc=$?
    echo $(($(date +%s) - t0)) >"$prom_log.seconds"
    exit "$rc"
  ) >"$prom_log" 2>&1 &
  prom_pid=$!
fi
# Step 3: done by the build when it was clang's with -Werror.
if grep -q '^CMAKE_CXX_COMPILER:.*clang' "$BUILD_DIR/CMakeCache.txt" &&
  grep -q '^AISLE_WERROR:BOOL=ON' "$BUILD_DIR/CMakeCache.txt"; then
  echo "=== test.sh: check_thread_safety: done by the build" \
    "(clang, -Wthread-safety, -Werror, every unit)"
else
  step check_thread_safety nice -n 10 ./scripts/check_thread_safety.sh
fi
if ((deploy_checks)); then
  step validate_k8s ./scripts/validate_k8s.sh
  rc=0
  wait "$prom_pid" || rc=$?
  echo "=== test.sh: check_prometheus (ran beside the steps above)"
  cat "$prom_log"
  line=$(printf '%-22s %5d s  %s' check_prometheus \
    "$(cat "$prom_log.seconds" 2>/dev/null || echo 0)" \
    "$( ((rc == 0)) && echo "ok (beside the steps above)" ||
      echo "FAILED (exit $rc)")")
  rm -f "$prom_log" "$prom_log.seconds"
  echo "=== test.sh: $line"
  timings+=("$line")
  ((rc == 0)) || failed+=(check_prometheus)
fi
# Cluster mode with real processes (3 NATS + 3 Aisle, kill -9 of one of
# each under load); the full run with measurements is run by hand.
step cluster_test env AISLE_BUILD_DIR="$BUILD_DIR" \
  ./scripts/cluster_test.sh --small
step console_e2e env AISLE_BUILD_DIR="$BUILD_DIR" ./scripts/console_e2e.sh
step chaos env AISLE_BIN="$PWD/$BUILD_DIR/aisle" ./scripts/chaos.sh
# CTest last, so that its summary closes the output (before the timings).
# 4 at a time on 2 cores: the tests mostly wait (sockets, child processes,
# shutdowns); measured, 523 tests used 62 s of CPU in 222 s at -j2.
step ctest ctest --test-dir "$BUILD_DIR" --output-on-failure \
  -j "${AISLE_TEST_JOBS:-4}" --timeout 600
summary
if ((${#failed[@]})); then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
