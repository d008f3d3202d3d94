#!/usr/bin/env bash
# Runs a ghz config (deploy/loadtest/*.json) with real ghz when it is
# installed, else with `aisle loadgen`, which takes the same config and
# flags and prints the same reports.
#
#   scripts/ghz.sh deploy/loadtest/recommend.json [ghz flags...] [HOST]
#   scripts/ghz.sh deploy/loadtest/health.json -z 5s -O json 127.0.0.1:50051
#
# Environment: AISLE_BIN (default ./build/aisle), GHZ (default: ghz on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
if (($# < 1)) || [[ ! -f $1 ]]; then
  echo "usage: scripts/ghz.sh CONFIG.json [flags...] [HOST]" >&2
  echo "configs: $(ls deploy/loadtest/*.json | tr '\n' ' ')" >&2
  exit 2
fi
config=$1
shift
GHZ=${GHZ:-$(command -v ghz || true)}
if [[ -n $GHZ ]]; then
  echo "[ghz.sh] running $GHZ --config $config $*" >&2
  exec "$GHZ" --config "$config" "$@"
fi
AISLE=${AISLE_BIN:-$PWD/build/aisle}
cat >&2 <<'HINT'
[ghz.sh] ghz is not installed; running `aisle loadgen` with the same config.
[ghz.sh] To use real ghz: download a release from
[ghz.sh]   https://github.com/bojand/ghz/releases (ghz-linux-x86_64.tar.gz, put
[ghz.sh]   `ghz` on PATH) or `go install github.com/bojand/ghz/cmd/ghz@latest`.
HINT
[[ -x $AISLE ]] || { echo "[ghz.sh] no aisle binary at $AISLE: run scripts/build.sh or set AISLE_BIN" >&2; exit 1; }
exec "$AISLE" loadgen --config "$config" "$@"
