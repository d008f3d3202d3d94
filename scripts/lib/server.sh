# Sourced (not run) by the scripts that start `aisle serve` or another
# server in the background on loopback: bench.sh, memory_scale.sh,
# overload.sh, measure_recovery.sh, check_prometheus.sh, build_image.sh.
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
