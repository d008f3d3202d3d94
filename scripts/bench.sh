#!/usr/bin/env bash
# The benchmark report: everything measured on this machine in one run,
# written to bench/REPORT.md and bench/report.json, and the table between
# the bench markers of README.md rewritten from it. A benchmark, not a
# test: it exits 0 whatever the figures (non-zero only when it cannot run).
#
#   scripts/bench.sh            # 100k items, 100k users, 1M events (~10 min)
#   scripts/bench.sh --quick    # a tiny store and 2 s phases (~2 min)
#   nice -n 10 scripts/bench.sh --items 1000000 --users 100000
#
# Steps (the server pinned to one core with taskset, every client to the
# other; the client is always `aisle loadgen --call`, the async ghz mode):
#   1. `aisle generate` a store and `aisle train` a model (timed).
#   2. `aisle serve` on loopback: time to SERVING; wait for its background
#      ANN build and re-fold; resident memory.
#   3. Closed loop, -c 24 on 2 connections, each for --seconds: the
#      health-check ceiling, Recommend per scenario (FOR_YOU with users
#      spread over all users and with one fixed user, SIMILAR_ITEMS,
#      FREQUENTLY_BOUGHT_TOGETHER, RECENTLY_VIEWED, TRENDING) and Feedback
#      (one event per call, distinct ids): req/s, p50/p99, and the ratio to
#      the ceiling measured by the same client in the same run (the
#      better of two health runs, one before the RPC phases and one after).
#      Open loop at half of FOR_YOU's maximum (after FOR_YOU spread),
#      three 10-s runs (one with --quick): the median run's p99; then
#      GetItem at the same rate, the floor under those figures.
#   4. Steady-state latency: FOR_YOU, users spread, at a fixed rate (-r)
#      for 10 s.
#   5. Memory per item and per user: RSS deltas over --delta new items
#      (UpsertItems) and new users (one Feedback event each).
#   6. Restart on the trained store: time to SERVING, then the same fixed
#      rate probe during the first 10 s after SERVING, against step 4.
#   7. The Google Benchmark binaries (core/*_benchmark, storage/*) with
#      --benchmark_format=json: ALS iteration, fold-in, ANN recall and
#      latency per ef, exact top-k, model load, engine, store appends.
# The server is stopped and the temp dir removed on exit.
#
# Flags:
#   --items N  --users N  --events N   the store [100000, = items, 10 x items]
#   --seconds S     each closed-loop phase [10]
#   --probe-rate R  calls/s of the fixed-rate latency probes [200]
#   --delta N       new items and new users of the memory step [20000]
#   --concurrency C workers of the closed-loop phases [24: enough to keep
#                   one core busy, few enough that admission control does
#                   not shed calls for waiting in its queue]
#   --quick         2000 items, 2000 users, 20000 events, 2 s phases
#   --out DIR       where REPORT.md and report.json go [bench]
#   --no-readme     leave README.md alone
#   --no-gbench     skip step 7 (at 1M items its ANN build and model load
#                   benchmarks alone take most of an hour); the report
#                   leaves those figures out
# Environment: AISLE_BUILD_DIR [build] (built with benchmarks when a binary
# is missing), BENCH_SERVER_CPU [0], BENCH_CLIENT_CPU [1], BENCH_KEEP=1
# keeps the temp dir.
# shellcheck disable=SC2317  # cleanup and the wait checks run indirectly
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/server.sh  # stop_server, free_port

ITEMS=100000 USERS="" EVENTS="" PHASE_S=10 PROBE_RATE=200 DELTA=20000
QUICK=0 OUT=bench README=1 CONCURRENCY=24 GBENCH=1
while (($#)); do
  case $1 in
    --items) ITEMS=$2; shift ;;
    --users) USERS=$2; shift ;;
    --events) EVENTS=$2; shift ;;
    --seconds) PHASE_S=$2; shift ;;
    --probe-rate) PROBE_RATE=$2; shift ;;
    --delta) DELTA=$2; shift ;;
    --concurrency) CONCURRENCY=$2; shift ;;
    --quick) QUICK=1 ;;
    --out) OUT=$2; shift ;;
    --no-readme) README=0 ;;
    --no-gbench) GBENCH=0 ;;
    -h|--help) sed -n '2,48p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown flag $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if ((QUICK)); then
  ITEMS=2000 USERS=2000 EVENTS=20000 PHASE_S=2 PROBE_RATE=100 DELTA=2000
fi
USERS=${USERS:-$ITEMS}
EVENTS=${EVENTS:-$((ITEMS * 10))}
PROBE_S=10 OPEN_RUNS=3
((QUICK)) && PROBE_S=3 OPEN_RUNS=1

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
command -v python3 >/dev/null || die "python3 is needed to assemble the report"
command -v curl >/dev/null || die "curl is needed to read /metrics"

# --- binaries ----------------------------------------------------------------
BUILD=${AISLE_BUILD_DIR:-build}
AISLE=$BUILD/aisle
BENCHES=(core/als_benchmark core/vector_index_benchmark core/model_benchmark
  core/engine_benchmark storage/store_benchmark)
missing=0
[[ -x $AISLE ]] || missing=1
for b in "${BENCHES[@]}"; do [[ -x $BUILD/$b ]] || missing=1; done
if ((missing)); then
  log "building aisle and the benchmarks in $BUILD (Release, -j2)"
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DAISLE_BUILD_BENCHMARKS=ON >/dev/null
  cmake --build "$BUILD" -j2 --target aisle "${BENCHES[@]##*/}" >&2
fi

SERVER_CPU=${BENCH_SERVER_CPU:-0} CLIENT_CPU=${BENCH_CLIENT_CPU:-1}
pin_cores "$SERVER_CPU" "$CLIENT_CPU"

WORK=$(mktemp -d /tmp/aisle-bench.XXXXXX)
PID=""
cleanup() {
  stop_server
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
LOAD0=$(cut -d' ' -f1 /proc/loadavg)
now() { date +%s.%N; }
elapsed() { python3 -c "print(round($(now) - $1, 3))"; }

# --- 1. store and model ----------------------------------------------------------
log "generating $ITEMS items, $USERS users, $EVENTS events"
t=$(now)
"$AISLE" generate --data-dir "$WORK/data" --items "$ITEMS" --users "$USERS" \
  --events "$EVENTS" >"$WORK/generate.log" 2>&1 || { cat "$WORK/generate.log"; die "generate"; }
GENERATE_S=$(elapsed "$t")
t=$(now)
"$AISLE" train --data-dir "$WORK/data" --validate-fraction 0 >"$WORK/train.log" 2>&1 ||
  { cat "$WORK/train.log"; die "train"; }
TRAIN_S=$(elapsed "$t")
log "generate ${GENERATE_S}s, train ${TRAIN_S}s"

# --- 2. the server ----------------------------------------------------------------
GRPC_PORT=$(free_port)
METRICS_PORT=$(free_port)
TARGET=127.0.0.1:$GRPC_PORT
serving() { curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" 2>/dev/null | grep -Eq '^aisle_up 1(\.0+)?( |$)'; }
start_server() {  # LOG: starts the server, sets PID and STARTED_S (to SERVING)
  local log=$1 t0
  t0=$(now)
  "${PIN_SERVER[@]}" "$AISLE" serve --data-dir "$WORK/data" --host 127.0.0.1 \
    --port "$GRPC_PORT" --metrics-port "$METRICS_PORT" --log-level info \
    --model-poll-interval -1 >"$log" 2>&1 &
  PID=$!
  for _ in $(seq 1 6000); do
    serving && { STARTED_S=$(elapsed "$t0"); return 0; }
    kill -0 "$PID" 2>/dev/null || { tail -20 "$log"; die "the server exited"; }
    sleep 0.05
  done
  die "not SERVING after 300 s"
}
wait_background() {  # LOG: waits for the ANN build and re-fold ("re-solved")
  for _ in $(seq 1 6000); do
    grep -q "re-solved" "$1" && return 0
    sleep 0.1
  done
  log "no 're-solved' in the server log after 600 s; measuring anyway"
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$PID/status"; }

start_server "$WORK/serve1.log"
FIRST_START_S=$STARTED_S
log "SERVING after ${FIRST_START_S}s; waiting for the background ANN build"
t=$(now)
wait_background "$WORK/serve1.log"
BACKGROUND_S=$(elapsed "$t")
RSS_LOADED_KB=$(rss_kb)

# --- 3. closed-loop phases --------------------------------------------------------------
# The server's CPU time (user + system, all its threads) in clock ticks.
server_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
load() {  # NAME ARGS...: one `aisle loadgen --call` run, ghz JSON in $WORK/NAME.json
  local name=$1 t0 ticks0
  shift
  log "load: $name"
  t0=$(now) ticks0=$(server_ticks)
  "${PIN_CLIENT[@]}" "$AISLE" loadgen --insecure -O json -o "$WORK/$name.json" "$@" \
    "$TARGET" 2>"$WORK/$name.err" || true
  # "CPU_SECONDS WALL_SECONDS" of the server over the run: its CPU per call
  # and how busy its core was (a phase at ~100% was limited by the server,
  # one well below by the client or the machine).
  echo "$((($(server_ticks) - ticks0))) $(getconf CLK_TCK) $(elapsed "$t0")" |
    awk '{print $1 / $2, $3}' >"$WORK/$name.cpu"
  [[ -s $WORK/$name.json ]] || { cat "$WORK/$name.err"; die "loadgen $name wrote no report"; }
}
closed() { load "$1" -c "$CONCURRENCY" --connections 2 -z "${PHASE_S}s" -t 1s "${@:2}"; }
REC=aisle.v1.Recommender.Recommend
U="u{{randomInt 0 $USERS}}"
I="i{{randomInt 0 $ITEMS}}"
# The client's own cost: CPU seconds of the health run per call (the
# async client should need a few microseconds of its core per call).
CLIENT_TIME=()
command -v /usr/bin/time >/dev/null && CLIENT_TIME=(/usr/bin/time -f "%U %S" -o "$WORK/health.time")
PIN_CLIENT_SAVED=("${PIN_CLIENT[@]}")
PIN_CLIENT=("${CLIENT_TIME[@]}" "${PIN_CLIENT_SAVED[@]}")
closed health --call grpc.health.v1.Health.Check
PIN_CLIENT=("${PIN_CLIENT_SAVED[@]}")
closed for_you_spread --call $REC -d "{\"user_id\":\"$U\",\"scenario\":\"FOR_YOU\",\"count\":10}"
# Open loop at half of the closed-loop maximum of FOR_YOU (users spread):
# calls start on a fixed schedule whatever the answers (`loadgen --rate`),
# the latency a server sized at twice its load gives. Here, before the
# Feedback phase, whose writes leave the server busy for a while after.
HALF_RATE=$(python3 -c "import json; r = json.load(open('$WORK/for_you_spread.json')); \
print(max(1, round(r['statusCodeDistribution'].get('OK', 0) / (r['total'] / 1e9) / 2)))")
# Three runs, reported by their median p99 with all three listed: on a
# shared machine one run's p99 moved from 0.55 to 2.4 ms within minutes
# with the same binary and store, so a single run says more about the
# neighbours than about the server.
for run in $(seq 1 "$OPEN_RUNS"); do
  log "load: half_load $run/$OPEN_RUNS (open loop, $HALF_RATE calls/s)"
  "${PIN_CLIENT[@]}" "$AISLE" loadgen --target "$TARGET" --rate "$HALF_RATE" --deadline 1s \
    --duration "${PROBE_S}s" --mix recommend=1 --users "$USERS" --items "$ITEMS" \
    --json "$WORK/half_load_open_$run.json" >"$WORK/half_load_$run.out" 2>&1 || true
done
# The floor under those p99s: GetItem (one hash lookup) at the same rate,
# so that what gRPC, the client and the machine's neighbours add to every
# call is read next to them.
log "load: half_load_floor (open loop GetItem, $HALF_RATE calls/s)"
"${PIN_CLIENT[@]}" "$AISLE" loadgen --target "$TARGET" --rate "$HALF_RATE" --deadline 1s \
  --duration "${PROBE_S}s" --mix get_item=1 --users "$USERS" --items "$ITEMS" \
  --json "$WORK/half_load_floor.json" >"$WORK/half_load_floor.out" 2>&1 || true
closed for_you_fixed --call $REC -d '{"user_id":"u1","scenario":"FOR_YOU","count":10}'
closed similar_items --call $REC -d "{\"context_item_ids\":[\"$I\"],\"scenario\":\"SIMILAR_ITEMS\",\"count\":10}"
closed frequently_bought_together --call $REC -d "{\"context_item_ids\":[\"$I\"],\"scenario\":\"FREQUENTLY_BOUGHT_TOGETHER\",\"count\":10}"
closed recently_viewed --call $REC -d "{\"user_id\":\"$U\",\"scenario\":\"RECENTLY_VIEWED\",\"count\":10}"
closed trending --call $REC -d "{\"user_id\":\"$U\",\"scenario\":\"TRENDING\",\"count\":10}"
closed feedback --call aisle.v1.Recommender.Feedback \
  -d "{\"events\":[{\"event_id\":\"bench-{{newUUID}}\",\"user_id\":\"$U\",\"item_id\":\"$I\",\"type\":\"VIEW\"}]}"
# The ceiling again, after every RPC phase: the report's ceiling is the
# better of the two runs. The client's own CPU per health call moved from
# 19 to 30 us within an hour on this shared machine; a ceiling measured in
# a slow moment alone made every ratio look better than it was (once,
# RECENTLY_VIEWED at 1.15 of it).
closed health_after --call grpc.health.v1.Health.Check
# --- 4. steady-state latency at a fixed rate ---------------------------------------------
PROBE=(--call $REC -c 16 -r "$PROBE_RATE" -z "${PROBE_S}s" -t 1s
  -d "{\"user_id\":\"$U\",\"scenario\":\"FOR_YOU\",\"count\":10}")
load steady "${PROBE[@]}"

# --- 5. memory per item and per user -----------------------------------------------------
RSS_BEFORE_ITEMS_KB=$(rss_kb)
load new_items --call aisle.v1.Recommender.UpsertItems -n "$DELTA" -c 16 -t 5s \
  -d '{"items":[{"item_id":"bench-item-{{.RequestNumber}}","title":"bench item {{.RequestNumber}}","categories":["bench/new"],"price":9.5,"available":true}]}'
RSS_AFTER_ITEMS_KB=$(rss_kb)
load new_users --call aisle.v1.Recommender.Feedback -n "$DELTA" -c 16 -t 5s \
  -d "{\"events\":[{\"event_id\":\"bench-user-{{.RequestNumber}}\",\"user_id\":\"bench-user-{{.RequestNumber}}\",\"item_id\":\"$I\",\"type\":\"VIEW\"}]}"
RSS_AFTER_USERS_KB=$(rss_kb)

# --- 6. restart on the trained store ----------------------------------------------------
log "restarting the server"
stop_server
start_server "$WORK/serve2.log"
RESTART_S=$STARTED_S
load first10 "${PROBE[@]}"
wait_background "$WORK/serve2.log"
stop_server

# --- 7. Google Benchmark binaries ------------------------------------------------------------
MIN_TIME=0.5
((QUICK)) && MIN_TIME=0.01
gbench() {  # NAME FILTER [ENV...]: one benchmark binary, JSON in $WORK/NAME.json
  local name=$1 filter=$2
  shift 2
  ((GBENCH)) || return 0
  log "benchmark: $name ($filter)"
  env "$@" "${PIN_SERVER[@]}" "$BUILD/$name" --benchmark_filter="$filter" \
    --benchmark_min_time="$MIN_TIME" --benchmark_format=json \
    >"$WORK/gb_${name##*/}.json" 2>"$WORK/gb_${name##*/}.err" ||
    { tail -5 "$WORK/gb_${name##*/}.err"; log "$name failed; its figures are left out"; }
}
# ALS on --events interactions, at least 1M: the benchmark draws 100 distinct
# items per user from nnz/200 items, which never ends on a tiny catalog.
NNZ=$((EVENTS > 1000000 ? EVENTS : 1000000))
gbench core/als_benchmark 'BM_AlsIteration/0|BM_FoldIn/' "AISLE_BENCH_NNZ=$NNZ"
# The ANN and model benchmarks have sizes 100k and 1M: those <= --items
# (none below 100k: skipped).
if ((ITEMS >= 100000)); then
  gbench core/vector_index_benchmark 'BM_AnnSearch|BM_AnnBuild|BM_ExactTopK/' "AISLE_BENCH_MAX_ITEMS=$ITEMS"
  gbench core/model_benchmark 'BM_ModelLoad' "AISLE_BENCH_MAX_ITEMS=$ITEMS"
fi
gbench core/engine_benchmark '/20000($|/)' AISLE_UNUSED=1
gbench storage/store_benchmark 'BM_AppendEvents/machine:0' AISLE_UNUSED=1

# --- the report ------------------------------------------------------------------------------
LOAD1=$(cut -d' ' -f1 /proc/loadavg)
mkdir -p "$OUT"
export CONCURRENCY WORK OUT ITEMS USERS EVENTS PHASE_S PROBE_RATE PROBE_S OPEN_RUNS DELTA \
  QUICK PINNING GENERATE_S TRAIN_S FIRST_START_S BACKGROUND_S RESTART_S RSS_LOADED_KB \
  RSS_BEFORE_ITEMS_KB RSS_AFTER_ITEMS_KB RSS_AFTER_USERS_KB LOAD0 LOAD1 README
python3 scripts/bench_report.py
log "wrote $OUT/REPORT.md and $OUT/report.json"
