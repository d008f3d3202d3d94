#!/usr/bin/env bash
# Installs what Aisle needs to build and test on Debian 12 (idempotent).
# Only packages that are missing are installed; run as root or with sudo.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libeigen3-dev librocksdb-dev libspdlog-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev libhnswlib-dev
  libnats-dev nats-server  # cluster mode (cluster/) and its tests
  libnghttp2-dev  # tests/raw_grpc.h: raw HTTP/2 frames for hostile-client tests
  python3 python3-grpcio python3-protobuf
  libssl-dev openssl  # TLS checks, HMAC; the TLS tests make certificates
  clang  # the build of scripts/test.sh, scripts/sanitize.sh
  libgoogle-perftools-dev  # tcmalloc, the aisle binary's allocator
  libcivetweb-dev  # the web console's HTTP server (console/)
  chromium  # scripts/console_e2e.sh: the console in a real browser
)
# The console's browser test runs playwright-core under Node; a Node.js
# installed otherwise (e.g. NodeSource's, which bundles npm) is kept.
if ! command -v npm >/dev/null; then
  PACKAGES+=(nodejs npm)
fi
# Extra tools used by the deployment checks (scripts/check_prometheus.sh,
# scripts/validate_k8s.sh; Node.js comes above). scripts/test.sh sets
# AISLE_SETUP_DEPLOY=1 unless AISLE_SKIP_DEPLOY_CHECKS=1, so that they are
# installed with the rest (one apt-get update) and not by the checks.
if [[ "${AISLE_SETUP_DEPLOY:-0}" == "1" ]]; then
  PACKAGES+=(prometheus python3-yaml curl)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "setup: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup: run as root or install sudo" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
