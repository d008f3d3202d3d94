# Sourced (not run) by the scripts that start `aisle serve` or another
# server in the background on loopback: bench.sh, memory_scale.sh,
# overload.sh, measure_recovery.sh, check_prometheus.sh, build_image.sh
# (pin_cores: bench.sh, overload.sh; recovery_store: measure_recovery.sh,
# measure_join.sh, ab_server.sh, ann_agreement.sh; servers_work_dir:
# ab_server.sh, ann_agreement.sh).
#
#   source scripts/lib/server.sh   # after cd to the repository root

# free_port: prints a free TCP port on 127.0.0.1 (bound, then released: a
# small window in which another process could take it).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# stop_server: stops the background server whose pid is in $PID, if any:
# SIGTERM, up to 10 s for its graceful shutdown (in-flight calls, the
# engine snapshot, the store's flush), then SIGKILL; reaps it and clears
# PID. Safe to call twice and from an EXIT trap.
stop_server() {
  [[ -n ${PID:-} ]] || return 0
  kill -TERM "$PID" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  PID=""
}

# pin_cores SERVER_CPU CLIENT_CPU: sets PIN_SERVER and PIN_CLIENT (command
# prefixes: taskset -c N) and PINNING (what the report says). Without
# taskset or those cores both prefixes are empty and everything shares the
# machine: the figures are then not comparable, and PINNING says so.
pin_cores() {
  PIN_SERVER=() PIN_CLIENT=()
  if command -v taskset >/dev/null && (($(nproc) > $1 && $(nproc) > $2)); then
    PIN_SERVER=(taskset -c "$1")
    PIN_CLIENT=(taskset -c "$2")
    PINNING="server on core $1, client on core $2 (taskset)"
  else
    PINNING="not pinned (no taskset or fewer than 2 cores)"
  fi
}

# recovery_store AISLE ITEMS USERS EVENTS: prints the directory of a
# generated and trained store of that scale, /tmp/aisle-recovery-ITEMS-
# USERS-EVENTS, making it on first use (`aisle generate` + `aisle train`;
# progress on stderr). Shared by measure_recovery.sh and measure_join.sh.
recovery_store() {
  local aisle=$1 dir=/tmp/aisle-recovery-$2-$3-$4
  if [[ ! -f $dir/.trained ]]; then
    echo "generating $2 items, $3 users, $4 events into $dir (once)" >&2
    "$aisle" generate --data-dir "$dir" --items "$2" --users "$3" --events "$4" | tail -4 >&2
    "$aisle" train --data-dir "$dir" --validate-fraction 0 >&2
    touch "$dir/.trained"
  fi
  echo "$dir"
}

# servers_work_dir PREFIX: sets WORK to a new directory /tmp/PREFIX.XXXXXX
# and PIDS to an empty list, for a script that starts several background
# servers (it appends their pids to PIDS); on exit every one of them gets
# SIGTERM and is reaped, and WORK is removed.
servers_work_dir() {
  WORK=$(mktemp -d "/tmp/$1.XXXXXX")
  PIDS=()
  trap stop_servers_and_clean EXIT
}
# shellcheck disable=SC2317  # runs from the EXIT trap
stop_servers_and_clean() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
