#!/usr/bin/env bash
# How close a server's answers with its ANN index are to the same server's
# answers with exact search: the same store is served twice at once, by
# default (ANN above --ann-min-items) and with --ann-min-items above the
# catalog (no index: every retrieval is an exact scan), and both are asked
# the same calls. Prints the mean overlap@COUNT of the two answers (1 = the
# same items). A diagnostic of retrieval quality on large catalogs (the
# ML-100K evaluation has 1,682 items and never uses the index), not a test.
#
#   scripts/ann_agreement.sh [BIN]        # SIMILAR_ITEMS, 200 random items
#   ANN_SCENARIO=for_you scripts/ann_agreement.sh
#
# ANN_ITEMS [100000] items, as many users, 10 x as many events: the store
# of scripts/ab_server.sh (generated and trained once). ANN_CALLS [200], ANN_COUNT [10], ANN_SCENARIO [similar_items]
# (similar_items: a random item as the context, anonymous; for_you: a
# random user).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/server.sh  # free_port, recovery_store, servers_work_dir
BIN=$(realpath "${1:-build/aisle}")
ITEMS=${ANN_ITEMS:-100000}
CALLS=${ANN_CALLS:-200}
COUNT=${ANN_COUNT:-10}
SCENARIO=${ANN_SCENARIO:-similar_items}
log() { printf '[ann_agreement] %s\n' "$*" >&2; }
STORE=$(recovery_store "$BIN" "$ITEMS" "$ITEMS" $((ITEMS * 10)))
servers_work_dir aisle-ann
start() {  # NAME [FLAGS...]: a server on a copy of the store; sets PORT_NAME
  local name=$1 port
  shift
  cp -a "$STORE" "$WORK/$name"
  port=$(free_port)
  "$BIN" serve --data-dir "$WORK/$name" --host 127.0.0.1 --port "$port" \
    --metrics-port "$(free_port)" --model-poll-interval -1 "$@" \
    >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  printf -v "PORT_$name" %s "$port"
}
start ann
start exact --ann-min-items $((ITEMS * 10 + 1))
log "waiting for both servers' background work (ANN index, user vectors)"
for _ in $(seq 1 3000); do
  grep -q re-solved "$WORK/ann.log" && grep -q re-solved "$WORK/exact.log" &&
    break
  for p in "${PIDS[@]}"; do kill -0 "$p" || { tail "$WORK"/*.log; exit 1; }; done
  sleep 0.2
done
ask() {  # PORT CONTEXT_OR_USER: the answer's item ids, one line, comma-separated
  local who=(--user "$2")
  [[ $SCENARIO == similar_items ]] && who=(--user "" --context "$2")
  "$BIN" recommend --target "127.0.0.1:$1" --scenario "$SCENARIO" \
    "${who[@]}" --count "$COUNT" --json |
    grep -oE '"item_?[iI]d": *"[^"]*"' | sed -E 's/.*"([^"]*)"$/\1/' |
    paste -sd, -
}
log "$CALLS $SCENARIO calls to each server"
RANDOM=7  # the same calls on every run
for _ in $(seq 1 "$CALLS"); do
  id=$((RANDOM * 32768 + RANDOM))
  if [[ $SCENARIO == similar_items ]]; then id="i$((id % ITEMS))"; else id="u$((id % ITEMS))"; fi
  ann=PORT_ann exact=PORT_exact
  printf '%s %s %s\n' "$id" "$(ask "${!ann}" "$id")" "$(ask "${!exact}" "$id")"
done >"$WORK/answers"
python3 - "$WORK/answers" "$COUNT" "$SCENARIO" <<'PY'
import sys
path, count, scenario = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = [line.split(" ") for line in open(path).read().splitlines()]
overlaps = []
for _, ann, exact in rows:
    a, e = [x for x in ann.split(",") if x], set(x for x in exact.split(",") if x)
    if e:
        overlaps.append(len([x for x in a if x in e]) / min(count, len(e)))
if not overlaps:
    sys.exit("no answers from the exact server")
print(f"{scenario}: {len(overlaps)} calls, mean overlap@{count} of the ANN "
      f"server's answers with the exact server's: {sum(overlaps) / len(overlaps):.3f}")
PY
