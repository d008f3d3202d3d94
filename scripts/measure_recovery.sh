#!/usr/bin/env bash
# Measures how fast `aisle serve` is ready on an existing data directory,
# and its memory, at a given scale (default: 100k items, 1M users, 10M
# events). On loopback only.
#
#   scripts/measure_recovery.sh [ITEMS USERS EVENTS]
#
# The store is generated once with `aisle generate` and trained with
# `aisle train` into /tmp/aisle-recovery-ITEMS-USERS-EVENTS (kept, so a
# second run measures the restart alone; delete it to start over). Then
# the server is started and timed until it reports ready (health SERVING),
# until its background work (ANN index, user vectors) is done, and through
# a SIGTERM shutdown. Prints a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/server.sh  # stop_server, free_port, recovery_store
ITEMS=${1:-100000}
USERS=${2:-1000000}
EVENTS=${3:-10000000}
AISLE=${AISLE_BIN:-$PWD/build/aisle}
[[ -x $AISLE ]] || ./scripts/build.sh aisle
LOG=$(mktemp /tmp/aisle-recovery.XXXXXX.log)
log() { printf '[measure_recovery] %s\n' "$*"; }
DIR=$(recovery_store "$AISLE" "$ITEMS" "$USERS" "$EVENTS")
GRPC_PORT=$(free_port)
METRICS_PORT=$(free_port)
since() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN {printf "%.1f", (b - a) / 1e9}'; }
rss_mb() { awk '/VmRSS/ {printf "%d", $2/1024}' "/proc/$1/status"; }

log "starting aisle serve on $DIR"
start=$(date +%s%N)
"$AISLE" serve --data-dir "$DIR" --host 127.0.0.1 --port "$GRPC_PORT" \
  --metrics-port "$METRICS_PORT" >"$LOG" 2>&1 &
PID=$!
trap 'kill -KILL $PID 2>/dev/null || true' EXIT
wait_log() {  # PATTERN SECONDS
  for _ in $(seq 1 $(($2 * 10))); do
    grep -q "$1" "$LOG" && return 0
    kill -0 $PID 2>/dev/null || { cat "$LOG"; log "FAILED: the server exited"; exit 1; }
    sleep 0.1
  done
  cat "$LOG"; log "FAILED: no '$1' after $2 s"; exit 1
}
wait_log "aisle serving on" 1800
ready_s=$(since $start)
ready_rss=$(rss_mb $PID)
"$AISLE" recommend --target "127.0.0.1:$GRPC_PORT" --user u1 --count 5 >/dev/null
wait_log "re-solved" 1800
done_s=$(since $start)
done_rss=$(rss_mb $PID)
stop=$(date +%s%N)
kill -TERM $PID
code=0
wait $PID || code=$?
stop_s=$(since $stop)
trap - EXIT

grep -E "loaded in|ready in|built the ANN|re-solved|shut down" "$LOG" | sed 's/^/  /'
printf '\nrecovery of %s (%s)\n' "$DIR" "$(du -sh "$DIR" | cut -f1)"
printf '  ready (health SERVING):           %6.1f s   RSS %s MB\n' "$ready_s" "$ready_rss"
printf '  background work done (ANN, users): %6.1f s   RSS %s MB\n' "$done_s" "$done_rss"
printf '  SIGTERM to exit %d:                %6.1f s\n' "$code" "$stop_s"
rm -f "$LOG"
