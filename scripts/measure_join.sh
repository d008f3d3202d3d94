#!/usr/bin/env bash
# Measures how long a cluster node with an empty data directory takes to
# join (docs/cluster.md "Snapshots and joining"): from its start to
# SERVING, from the newest node snapshot plus the log's tail. On loopback
# only: one nats-server with JetStream, two Aisle nodes.
#
#   scripts/measure_join.sh [ITEMS USERS EVENTS [TAIL]]
#
# Default: 100k items, 1M users, 10M events in the snapshot, 20k events in
# the log after it. The history comes from the same cached store as
# scripts/measure_recovery.sh (/tmp/aisle-recovery-ITEMS-USERS-EVENTS,
# `aisle generate` + `aisle train`; made on first use): node A starts in
# cluster mode on a copy of it (its log position is 0: the generated
# history is not in the log, which is what a bounded retention leaves),
# takes TAIL Feedback events through the log, publishes a snapshot, then
# takes TAIL more; node B starts on an empty directory and is timed until
# SERVING. Prints a summary with the parts of B's start from its log.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/server.sh  # free_port, recovery_store
ITEMS=${1:-100000}
USERS=${2:-1000000}
EVENTS=${3:-10000000}
TAIL=${4:-20000}
AISLE=${AISLE_BIN:-$PWD/build/aisle}
[[ -x $AISLE ]] || ./scripts/build.sh aisle
NATS=$(command -v nats-server || echo /usr/sbin/nats-server)
[[ -x $NATS ]] || { echo "measure_join: no nats-server; run scripts/setup.sh" >&2; exit 1; }
WORK=$(mktemp -d /tmp/aisle-join.XXXXXX)
log() { printf '[measure_join] %s\n' "$*"; }
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
since() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN {printf "%.1f", (b - a) / 1e9}'; }
wait_log() {  # FILE PATTERN SECONDS PID
  for _ in $(seq 1 $(($3 * 10))); do
    grep -q "$2" "$1" && return 0
    kill -0 "$4" 2>/dev/null || { tail -20 "$1"; log "FAILED: the process exited"; exit 1; }
    sleep 0.1
  done
  tail -20 "$1"; log "FAILED: no '$2' in $1 after $3 s"; exit 1
}

STORE=$(recovery_store "$AISLE" "$ITEMS" "$USERS" "$EVENTS")

NATS_PORT=$(free_port)
"$NATS" -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$WORK/nats" >"$WORK/nats.log" 2>&1 &
pids+=($!)
disown
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$NATS_PORT") 2>/dev/null && break
  sleep 0.1
done
CLUSTER=nats://127.0.0.1:$NATS_PORT

log "node A: a copy of $STORE ($(du -sh "$STORE" | cut -f1)) in cluster mode"
cp -a "$STORE" "$WORK/a"
rm -f "$WORK/a/.trained"
A_PORT=$(free_port)
"$AISLE" serve --cluster "$CLUSTER" --data-dir "$WORK/a" --host 127.0.0.1 \
  --port "$A_PORT" --metrics-port -1 --cluster-snapshot-interval 2m \
  >"$WORK/a.log" 2>&1 &
A=$!
pids+=($A)
disown
wait_log "$WORK/a.log" "aisle serving on" 1800 $A
feedback() {  # N: N Feedback events with unique ids through node A
  "$AISLE" loadgen --target "127.0.0.1:$A_PORT" --mix feedback=1 \
    --users "$USERS" --items "$ITEMS" --total "$1" --duration 10m \
    --concurrency 8 >"$WORK/loadgen.log" 2>&1 || { cat "$WORK/loadgen.log"; exit 1; }
}
mb() { awk -v k="$2:" '$1 == k {printf "%d MB", $2 / 1024}' "/proc/$1/status"; }
log "node A: $TAIL events through the log, then a snapshot (checked every 30 s)"
feedback "$TAIL"
a_peak_before=$(mb $A VmHWM)
wait_log "$WORK/a.log" "cluster snapshot: published" 600 $A
grep "cluster snapshot: published" "$WORK/a.log" | tail -1
a_peak_after=$(mb $A VmHWM)
log "node A: $TAIL more events (the log's tail after the snapshot)"
feedback "$TAIL"

log "node B: empty data dir, joining"
B_PORT=$(free_port)
start=$(date +%s%N)
"$AISLE" serve --cluster "$CLUSTER" --data-dir "$WORK/b" --host 127.0.0.1 \
  --port "$B_PORT" --metrics-port -1 --cluster-snapshot-interval -1 \
  >"$WORK/b.log" 2>&1 &
B=$!
pids+=($B)
disown
wait_log "$WORK/b.log" "aisle serving on" 1800 $B
serving_s=$(since "$start")
echo
log "summary ($ITEMS items, $USERS users, $EVENTS events in the snapshot, $((2 * TAIL)) through the log)"
grep -E "joined from snapshot|engine snapshot|replayed|caught up with the log|ready in" "$WORK/b.log" |
  sed -E 's/^\[[^]]*\] \[[^]]*\] //' | sed 's/^/  B: /'
log "node B SERVING ${serving_s} s after its start; resident memory $(mb $B VmRSS), peak $(mb $B VmHWM)"
log "node A peak resident memory: $a_peak_before before publishing, $a_peak_after after"
