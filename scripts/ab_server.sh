#!/usr/bin/env bash
# A/B of two `aisle` binaries on one RPC: server CPU time per answered
# call, which moves less than throughput on a shared machine. Both servers
# run at once on the same core (each on its own copy of the store), and
# the loads alternate between them, round after round, so that whatever
# else the machine does lands on both. Odd rounds load A first, even
# rounds B first: with A always first, the second side read up to 6% more
# CPU per call than the first even with the same binary on both sides (a
# load's after-effects land in the next one's window), so use an even
# number of rounds. A benchmark, not a test.
#
#   scripts/ab_server.sh OLD_BIN NEW_BIN [ROUNDS (4)] [SECONDS (6)]
#   AB_DATA='{"user_id":"u1","scenario":"FOR_YOU","count":10}' scripts/ab_server.sh ...
#
# The store (AB_ITEMS [100000] items, as many users, 10 x as many events)
# is generated and trained once (recovery_store in scripts/lib/server.sh:
# /tmp/aisle-recovery-ITEMS-ITEMS-EVENTS) and copied for each server.
# AB_STORE names another store to copy instead (a 1M-item bench store,
# say); AB_STORE_B gives B another store than A's (the same binary on a
# store in two states, say). AB_CALL [aisle.v1.Recommender.Recommend] and AB_DATA
# [FOR_YOU, users spread over all users] set the call (ghz syntax, as
# `aisle loadgen --call`). Prints, per round and in all: OK calls/s and
# server CPU microseconds per OK call for A (OLD_BIN) and B (NEW_BIN).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/server.sh  # free_port, pin_cores, recovery_store, servers_work_dir
(($# >= 2)) || { sed -n 2,17p "$0"; exit 2; }
A_BIN=$(realpath "$1") B_BIN=$(realpath "$2") ROUNDS=${3:-4} SECONDS_PER=${4:-6}
ITEMS=${AB_ITEMS:-100000}
CALL=${AB_CALL:-aisle.v1.Recommender.Recommend}
DATA=${AB_DATA:-"{\"user_id\":\"u{{randomInt 0 $ITEMS}}\",\"scenario\":\"FOR_YOU\",\"count\":10}"}
log() { printf '[ab_server] %s\n' "$*" >&2; }
STORE=${AB_STORE:-$(recovery_store "$A_BIN" "$ITEMS" "$ITEMS" $((ITEMS * 10)))}
STORE_B=${AB_STORE_B:-$STORE}
servers_work_dir aisle-ab
pin_cores 0 1
start() {  # NAME BIN STORE: a server on a copy of STORE; sets PORT_NAME, PID_NAME
  local name=$1 bin=$2 port
  cp -a "$3" "$WORK/$name"
  port=$(free_port)
  "${PIN_SERVER[@]}" "$bin" serve --data-dir "$WORK/$name" --host 127.0.0.1 \
    --port "$port" --metrics-port "$(free_port)" --model-poll-interval -1 \
    >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  printf -v "PORT_$name" %s "$port"
  printf -v "PID_$name" %s "$!"
}
start A "$A_BIN" "$STORE"
start B "$B_BIN" "$STORE_B"
log "waiting for both servers' background work (ANN index, user vectors)"
for _ in $(seq 1 3000); do
  grep -q re-solved "$WORK/A.log" && grep -q re-solved "$WORK/B.log" && break
  for p in "${PIDS[@]}"; do kill -0 "$p" || { tail "$WORK"/*.log; exit 1; }; done
  sleep 0.2
done
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() {  # NAME ROUND
  local name=$1 pid port t0 t1
  pid=PID_$1 port=PORT_$1
  t0=$(cpu_ticks "${!pid}")
  "${PIN_CLIENT[@]}" "$A_BIN" loadgen --insecure -O json -o "$WORK/$name-$2.json" \
    -c 24 --connections 2 -z "${SECONDS_PER}s" -t 1s --call "$CALL" -d "$DATA" \
    "127.0.0.1:${!port}" 2>/dev/null || true
  t1=$(cpu_ticks "${!pid}")
  echo "$((t1 - t0))" >"$WORK/$name-$2.ticks"
}
for r in $(seq 1 "$ROUNDS"); do
  if ((r % 2 == 1)); then run A "$r"; run B "$r"; else run B "$r"; run A "$r"; fi
done
python3 - "$WORK" "$ROUNDS" "$(getconf CLK_TCK)" <<'PY'
import json, sys
work, rounds, tck = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tot = {}
for r in range(1, rounds + 1):
    row = []
    for name in "AB":
        d = json.load(open(f"{work}/{name}-{r}.json"))
        ok = d.get("statusCodeDistribution", {}).get("OK", 0)
        cpu = int(open(f"{work}/{name}-{r}.ticks").read()) / tck
        t = tot.setdefault(name, [0, 0.0, 0.0])
        t[0] += ok; t[1] += cpu; t[2] += d["total"] / 1e9
        row.append(f"{name} {d['rps']:8.0f} calls/s {cpu / max(ok, 1) * 1e6:7.1f} us CPU/call")
    print(f"round {r}: " + "   ".join(row))
a, b = ((t[1] / max(t[0], 1) * 1e6) for t in (tot["A"], tot["B"]))
print(f"in all:  A {a:.1f} us CPU/call, B {b:.1f} us CPU/call, B/A {b / a:.3f}")
PY
