#!/usr/bin/env bash
# Memory per user and per event: how much resident memory `aisle serve`
# needs as a store grows, so that the size where one node's memory stops
# being enough (docs/cluster.md, "When the state outgrows one node") is a
# number. A measurement, not a test: it prints one Markdown table and exits
# 0 whatever the figures (non-zero only when it cannot run at all).
#
#   scripts/memory_scale.sh                # 3 stores, ~15 min on 2 cores
#   MEMORY_SIZES="20000:200000 200000:200000 200000:600000" \
#     scripts/memory_scale.sh              # a quick variant
#
# For each store "USERS:EVENTS" in $MEMORY_SIZES (items fixed at
# $MEMORY_ITEMS): `aisle generate` it into a temp dir, `aisle train` a
# model, `aisle serve` it on loopback, wait for SERVING and for the
# background ANN build and user re-fold, and read the server's VmRSS and
# the users with events (from the train log). A linear fit through the
# three stores, RSS = base + a x users with events + b x events, gives
# bytes per user and bytes per event (choose stores that move users and
# events independently, as the defaults do). Every server is stopped and every temp dir
# removed on exit.
#
# Environment (defaults in brackets):
#   AISLE_BIN      the aisle binary [./build/aisle]
#   MEMORY_ITEMS   catalog items [100000]
#   MEMORY_SIZES   three USERS:EVENTS stores
#                  [100000:1000000 1000000:1000000 1000000:3000000]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/server.sh  # stop_server, free_port
AISLE=${AISLE_BIN:-$PWD/build/aisle}
ITEMS=${MEMORY_ITEMS:-100000}
read -r -a SIZES <<<"${MEMORY_SIZES:-100000:1000000 1000000:1000000 1000000:3000000}"

log() { printf '[memory] %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
[[ -x $AISLE ]] || die "no aisle binary at $AISLE (build it: ./scripts/build.sh aisle, or set AISLE_BIN)"
((${#SIZES[@]} == 3)) || die "MEMORY_SIZES needs three USERS:EVENTS stores"
command -v curl >/dev/null || die "curl is needed to read /metrics"

WORK=$(mktemp -d /tmp/aisle-memory.XXXXXX)
PID=""
cleanup() { stop_server; rm -rf "$WORK"; }
trap cleanup EXIT

# measure USERS EVENTS: prints "rss_kib data_dir_kib seconds_to_serving
# active_users" (active: the users with events, the ones the engine holds)
measure() {
  local users=$1 events=$2 dir=$WORK/u$1-e$2
  log "store: $ITEMS items, $users users, $events events: generating"
  "$AISLE" generate --data-dir "$dir" --items "$ITEMS" --users "$users" \
    --events "$events" >"$dir.generate.log" 2>&1 || { tail "$dir.generate.log"; die "generate"; }
  log "  training"
  "$AISLE" train --data-dir "$dir" --validate-fraction 0 >"$dir.train.log" 2>&1 ||
    { tail "$dir.train.log"; die "train"; }
  local grpc metrics
  grpc=$(free_port)
  metrics=$(free_port)
  log "  serving"
  local t0=$SECONDS
  "$AISLE" serve --data-dir "$dir" --host 127.0.0.1 --port "$grpc" \
    --metrics-port "$metrics" --log-level info >"$dir.serve.log" 2>&1 &
  PID=$!
  local ok=0
  for _ in $(seq 1 12000); do  # at most 20 minutes
    kill -0 "$PID" 2>/dev/null || { tail "$dir.serve.log"; die "the server exited"; }
    if curl -sf "http://127.0.0.1:$metrics/metrics" 2>/dev/null | grep -Eq '^aisle_up 1(\.0+)?( |$)' &&
      grep -q "re-solved" "$dir.serve.log"; then
      ok=1
      break
    fi
    sleep 0.1
  done
  ((ok)) || die "the server was not SERVING with its background work done after 20 minutes"
  local seconds=$((SECONDS - t0)) rss disk active
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$PID/status")
  active=$(sed -nE 's/.*loaded [0-9,]+ items, [0-9,]+ events: ([0-9,]+) users x.*/\1/p' "$dir.train.log" | head -1 | tr -d ,)
  stop_server
  disk=$(du -sk "$dir" | cut -f1)
  rm -rf "$dir"
  log "  VmRSS $((rss / 1024)) MiB, data dir $((disk / 1024)) MiB, SERVING + background work in $seconds s"
  echo "$rss $disk $seconds ${active:-0}"
}

declare -a U E RSS DISK SECS ACTIVE
for i in 0 1 2; do
  U[i]=${SIZES[i]%%:*}
  E[i]=${SIZES[i]##*:}
  read -r RSS[i] DISK[i] SECS[i] ACTIVE[i] < <(measure "${U[i]}" "${E[i]}")
done

# RSS = base + a * users_with_events + b * events through the three stores
# (three equations, three unknowns); the data dir per event likewise.
read -r PER_USER PER_EVENT BASE DISK_PER_USER DISK_PER_EVENT < <(python3 - \
  "${ACTIVE[*]}" "${E[*]}" "${RSS[*]}" "${DISK[*]}" <<'PY'
import sys
users, events, rss, disk = ([float(x) for x in a.split()] for a in sys.argv[1:5])
def det(m):
    return (m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]))
def solve(y):  # Cramer's rule for [users events 1] x = y
    m = [[users[i], events[i], 1.0] for i in range(3)]
    d = det(m)
    if abs(d) < 1e-9:
        return None
    out = []
    for c in range(3):
        mc = [row[:] for row in m]
        for i in range(3):
            mc[i][c] = y[i]
        out.append(det(mc) / d)
    return out
r = solve([x * 1024 for x in rss])
d = solve([x * 1024 for x in disk])
if r is None or d is None:
    print("n.a. n.a. n.a. n.a. n.a.")
else:
    print(round(r[0]), round(r[1]), round(r[2] / 2**20), round(d[0]), round(d[1]))
PY
)
echo "### Memory: $ITEMS items; tree at commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo
echo "| users | users with events | events | VmRSS MiB | data dir MiB | SERVING + background s |"
echo "|---|---|---|---|---|---|"
for i in 0 1 2; do
  echo "| ${U[i]} | ${ACTIVE[i]} | ${E[i]} | $((RSS[i] / 1024)) | $((DISK[i] / 1024)) | ${SECS[i]} |"
done
echo
echo "Fit of RSS = base + a x users with events + b x events through the three stores:"
echo "resident bytes per user with events a = $PER_USER, per event b = $PER_EVENT, base $BASE MiB;"
echo "data dir bytes per user $DISK_PER_USER, per event $DISK_PER_EVENT."
