#!/usr/bin/env bash
# Chaos checks with the real `aisle` binary: kill -9 during `aisle train`,
# during a model swap, during an import and during a backup; a full disk
# (a small tmpfs) while writing; a read-only data directory; truncated and
# corrupted model files and backups. Each case checks the same promises:
# a clear error (exit status and a message saying what to do), no
# acknowledged data lost, the previous model keeps serving, and a restart
# recovers without manual repair.
#
#   scripts/chaos.sh [CASE...]      # all cases, or some: train swap import
#                                   # backup disk readonly corrupt
#   AISLE_BIN=build/aisle (default), AISLE_CHAOS_KEEP=1 keeps the work dir.
#
# The disk and read-only cases need root and a private mount namespace
# (unshare -m: a tmpfs, a read-only bind mount); without them they say so
# and are skipped. Everything talks to 127.0.0.1 only; every wait is bounded
# (a count of polls of the event waited for, never a sleep that decides the
# outcome). Prints one line per check and a summary; exits 1 on a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
AISLE=${AISLE_BIN:-$PWD/build/aisle}
[[ -x "$AISLE" ]] || { echo "chaos: $AISLE not built (scripts/build.sh, or set AISLE_BIN)" >&2; exit 1; }
AISLE=$(realpath "$AISLE")
# A namespaced part (see in_namespace) runs in the parent's work dir.
nested=0
if [[ "${1:-}" == __*_inside ]]; then
  nested=1
  work=$CHAOS_WORK
else
  work=$(mktemp -d /tmp/aisle-chaos.XXXXXX)
fi
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  ((nested)) || [[ "${AISLE_CHAOS_KEEP:-0}" == 1 ]] || rm -rf "$work"
}
trap cleanup EXIT
passed=0
failed=()
skipped=()
current=""

ok() { echo "  ok   $current: $*"; ((passed++)); }
bad() { echo "  FAIL $current: $*"; failed+=("$current: $*"); }
check() {  # check "what" command...
  local what=$1
  shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}
contains() { grep -qiE -- "$2" "$1"; }

# Waits until `cmd` succeeds, polling up to `n` times (10 ms apart).
wait_for() {
  local n=$1
  shift
  for ((i = 0; i < n; i++)); do
    "$@" && return 0
    sleep 0.01
  done
  return 1
}

# serve DIR LOG [flags...]: starts a server, sets $server_pid and $target.
serve() {
  local dir=$1 log=$2
  shift 2
  : >"$log"
  "$AISLE" serve --data-dir "$dir" --host 127.0.0.1 --port 0 \
    --metrics-port -1 "$@" >"$log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  target=""
  if ! wait_for 3000 grep -q "^aisle serving on" "$log"; then
    target=""
    return 1
  fi
  target="127.0.0.1:$(sed -n 's/^aisle serving on .*:\([0-9]*\) .*/\1/p' "$log")"
}
kill9() { kill -9 "$1" 2>/dev/null; wait "$1" 2>/dev/null; }
serving_version() {
  "$AISLE" model info --target "$target" --json 2>/dev/null |
    sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' | head -1
}
event_count() {
  "$AISLE" model info --target "$target" --json 2>/dev/null |
    sed -n 's/.*"events": *"\{0,1\}\([0-9]*\).*/\1/p' | head -1
}
active_version() {
  "$AISLE" models list --data-dir "$1" 2>/dev/null | sed -n 's/^active: //p'
}

# A data dir with events, model v1 active and v2 stored (not active).
base=$work/base
make_base() {
  "$AISLE" generate --data-dir "$base" --items 400 --users 300 \
    --events 20000 >/dev/null 2>&1 &&
    "$AISLE" train --data-dir "$base" --factors 8 --iterations 3 \
      --validate-fraction 0 --version v1 >/dev/null 2>&1 &&
    "$AISLE" train --data-dir "$base" --factors 8 --iterations 3 \
      --validate-fraction 0 --version v2 --no-activate >/dev/null 2>&1
}
fresh() { rm -rf "$1" && cp -a "$base" "$1"; }

case_train() {
  local d=$work/train
  fresh "$d"
  # Offline: the store is written only at the end; killed before, nothing.
  "$AISLE" train --data-dir "$d" --factors 64 --iterations 1000 \
    --validate-fraction 0 --version v9 --threads 1 >"$work/train.log" 2>&1 &
  local p=$!
  pids+=("$p")
  if wait_for 3000 grep -q "train iteration 2/" "$work/train.log"; then
    kill9 "$p"
    check "offline: v1 still active after kill -9" [ "$(active_version "$d")" = v1 ]
    check "offline: no partial v9 stored" \
      bash -c "! '$AISLE' models list --data-dir '$d' | grep -q v9"
  else
    kill9 "$p"
    bad "train never reached iteration 2 (see $work/train.log)"
    return
  fi
  # Next to a running server: the model goes through the inbox.
  serve "$d" "$work/train-serve.log" --model-poll-interval 50ms ||
    { bad "server did not start"; return; }
  "$AISLE" train --data-dir "$d" --factors 64 --iterations 1000 \
    --validate-fraction 0 --version v8 --threads 1 >"$work/train2.log" 2>&1 &
  p=$!
  pids+=("$p")
  wait_for 3000 grep -q "train iteration 2/" "$work/train2.log"
  kill9 "$p"
  check "online: server keeps serving v1" [ "$(serving_version)" = v1 ]
  check "online: no model file left in the inbox" \
    bash -c "! ls '$d'/model-inbox/*.model >/dev/null 2>&1"
  # Recovery: training again just works, and the server swaps it in.
  "$AISLE" train --data-dir "$d" --factors 8 --iterations 2 \
    --validate-fraction 0 --version v7 >"$work/train3.log" 2>&1
  check "online: a new train after the kill is served" \
    wait_for 3000 bash -c "[ \"\$('$AISLE' model info --target $target --json 2>/dev/null | grep -c '\"v7\"')\" -gt 0 ]"
  kill9 "$server_pid"
  "$AISLE" train --data-dir "$d" --factors 8 --iterations 2 \
    --validate-fraction 0 --version v6 >"$work/train4.log" 2>&1
  check "offline train after the kills succeeds" [ "$(active_version "$d")" = v6 ]
}

case_swap() {
  local d=$work/swap
  fresh "$d"
  local want=v1
  for round in 1 2 3 4; do
    serve "$d" "$work/swap-$round.log" || { bad "round $round: server did not start"; return; }
    if [[ "$(serving_version)" != "$want" ]]; then
      bad "round $round: serving $(serving_version) after restart, want $want"
      kill9 "$server_pid"
      return
    fi
    local next=v2
    [[ $want == v2 ]] && next=v1
    if ((round % 2)); then
      # Killed right after ActivateModel was acknowledged.
      "$AISLE" models activate "$next" --target "$target" >"$work/swap-act.log" 2>&1 &&
        want=$next
      kill9 "$server_pid"
    else
      # Killed while the call may still be loading the model.
      "$AISLE" models activate "$next" --target "$target" >"$work/swap-act.log" 2>&1 &
      local c=$!
      kill9 "$server_pid"
      wait "$c" && want=$next
      # Not acknowledged: either version may be active, but consistently.
      [[ $want != "$next" ]] && want=$(active_version "$d")
    fi
    check "round $round: the stored active version is $want" [ "$(active_version "$d")" = "$want" ]
  done
  serve "$d" "$work/swap-final.log" || { bad "final restart failed"; return; }
  check "after 4 kills the server serves $want" [ "$(serving_version)" = "$want" ]
  kill9 "$server_pid"
}

case_import() {
  local d=$work/import
  fresh "$d"
  local rows=30000
  {
    printf 'user_id\titem_id\ttype\tevent_id\n'
    for ((i = 0; i < rows; i++)); do printf 'iu%d\ti%d\tview\timp-%d\n' $((i % 500)) $((i % 400)) "$i"; done
  } >"$work/events.tsv"
  serve "$d" "$work/import-serve.log" || { bad "server did not start"; return; }
  local before
  before=$(event_count)
  "$AISLE" import --target "$target" --events "$work/events.tsv" --batch 100 \
    >"$work/import.out" 2>"$work/import.err" &
  local p=$!
  pids+=("$p")
  # Kill the server once part of the stream is stored.
  wait_for 3000 bash -c "[ \$(( \$('$AISLE' model info --target $target --json 2>/dev/null | sed -n 's/.*\"events\": *\"\\{0,1\\}\\([0-9]*\\).*/\\1/p' | head -1) + 0 )) -gt $((before + 1000)) ]"
  kill9 "$server_pid"
  wait "$p"
  local rc=$?
  check "import exits 1 when the server dies (got $rc)" [ "$rc" = 1 ]
  check "import's error says what failed and what to do" \
    contains "$work/import.err" "unavailable|connect|server"
  # The stream confirmed nothing: the client must not claim it did.
  check "import does not claim unconfirmed rows as committed" \
    bash -c "! grep -q 'committed before the error' '$work/import.err'"
  serve "$d" "$work/import-serve2.log" || { bad "restart failed"; return; }
  local after_kill
  after_kill=$(event_count)
  check "restart keeps the stored part ($((after_kill - before)) events)" \
    [ "$after_kill" -gt "$((before + 1000))" ]
  "$AISLE" import --target "$target" --events "$work/events.tsv" --batch 100 \
    >"$work/import2.out" 2>"$work/import2.err"
  check "re-running the import succeeds" [ $? = 0 ]
  check "every row stored exactly once ($(($(event_count) - before)) of $rows)" \
    [ "$(event_count)" = "$((before + rows))" ]
  kill9 "$server_pid"
}

case_backup() {
  local d=$work/backup
  fresh "$d"
  serve "$d" "$work/backup-serve.log" || { bad "server did not start"; return; }
  local events
  events=$(event_count)
  # The backup goes to another file system (copies, not hard links), so it
  # takes long enough to be killed half-way.
  local b=/dev/shm/aisle-chaos-backup.$$
  rm -rf "$b" "$b.tmp"
  local hit=0
  for attempt in 1 2 3 4 5; do
    "$AISLE" backup --data-dir "$d" --to "$b" >/dev/null 2>&1 &
    local p=$!
    # A busy wait with shell builtins (no fork between two looks), bounded
    # by the backup's own lifetime: the copy takes milliseconds.
    until [[ -e "$b.tmp" ]] || ! kill -0 "$p" 2>/dev/null; do :; done
    kill9 "$p"
    wait "$p" 2>/dev/null
    if [[ ! -e "$b" ]]; then hit=1; break; fi
    rm -rf "$b" "$b.tmp"
  done
  if ((hit == 0)); then
    skipped+=("backup: the backup always finished before the kill")
  else
    "$AISLE" restore --from "$b" --data-dir "$work/restored-partial" >/dev/null 2>"$work/restore.err"
    check "restore of a killed backup is refused" [ $? != 0 ]
    check "restore says the backup is not one" contains "$work/restore.err" "not a checkpoint|not a backup|does not exist|no CURRENT"
  fi
  "$AISLE" backup --data-dir "$d" --to "$b" >"$work/backup2.log" 2>&1
  check "a new backup to the same path succeeds" [ $? = 0 ]
  # A corrupted backup (a truncated table file) is refused by restore.
  cp -a "$b" "$b.bad"
  local sst
  sst=$(ls -S "$b.bad"/*.sst | head -1)
  truncate -s $(($(stat -c %s "$sst") / 2)) "$sst"
  "$AISLE" restore --from "$b.bad" --data-dir "$work/restored-bad" >/dev/null 2>"$work/restore-bad.err"
  check "restore of a truncated backup is refused" [ $? != 0 ]
  check "and leaves no data dir behind" [ ! -e "$work/restored-bad/CURRENT" ]
  # Damage inside a block (footer and index intact): only checksums see it.
  rm -rf "$b.bad" && cp -a "$b" "$b.bad"
  sst=$(ls -S "$b.bad"/*.sst | head -1)
  printf '\xde\xad\xbe\xef\xde\xad\xbe\xef' | dd of="$sst" bs=1 \
    seek=$(($(stat -c %s "$sst") / 3)) conv=notrunc status=none
  "$AISLE" restore --from "$b.bad" --data-dir "$work/restored-bad" >/dev/null 2>"$work/restore-bad.err"
  check "restore of a backup with a corrupted block is refused" [ $? != 0 ]
  check "its error says the backup is damaged" contains "$work/restore-bad.err" "damaged"
  check "and leaves no data dir behind" [ ! -e "$work/restored-bad/CURRENT" ]
  "$AISLE" restore --from "$b" --data-dir "$work/restored" >/dev/null 2>&1
  check "restore of the good backup succeeds" [ $? = 0 ]
  kill9 "$server_pid"
  serve "$work/restored" "$work/backup-serve2.log" || { bad "restored dir does not serve"; rm -rf "$b" "$b.bad"; return; }
  check "restored server has every event ($events)" [ "$(event_count)" = "$events" ]
  check "restored server serves v1" [ "$(serving_version)" = v1 ]
  kill9 "$server_pid"
  rm -rf "$b" "$b.bad" "$b.tmp"
}

# Runs the rest of a case in a private mount namespace (root only).
in_namespace() {
  if [[ $(id -u) != 0 ]] || ! unshare -m true 2>/dev/null; then
    skipped+=("$current: needs root and unshare -m (a tmpfs / read-only mount)")
    return 1
  fi
}

case_disk() {
  in_namespace || return
  mkdir -p "$work/disk"
  AISLE_BIN="$AISLE" CHAOS_WORK="$work" m="$work/disk" unshare -m bash "$0" __disk_inside "$base"
  local rc=$?
  report_inside disk
  ((rc == 0)) || bad "disk case exited $rc (see $work/disk-*.log)"
}

# Prints the ok/FAIL lines a namespaced part wrote.
report_inside() {
  [[ -s "$work/$1.results" ]] || { bad "no results from the namespace"; return; }
  while IFS= read -r line; do
    case "$line" in
      ok*) ok "${line#ok }" ;;
      FAIL*) bad "${line#FAIL }" ;;
    esac
  done <"$work/$1.results"
}

case_readonly() {
  in_namespace || return
  AISLE_BIN="$AISLE" CHAOS_WORK="$work" unshare -m bash "$0" __readonly_inside "$base"
  local rc=$?
  report_inside readonly
  ((rc == 0)) || bad "read-only case exited $rc"
}

case_corrupt() {
  local d=$work/corrupt inbox=$work/corrupt/model-inbox side=$work/side
  fresh "$d"
  mkdir -p "$side"
  # A real model file: train next to a server that does not poll its inbox.
  serve "$d" "$work/corrupt-serve.log" --model-poll-interval -1 ||
    { bad "server did not start"; return; }
  "$AISLE" train --data-dir "$d" --factors 8 --iterations 2 --validate-fraction 0 \
    --version v3 >"$work/corrupt-train.log" 2>&1
  local good
  good=$(ls "$inbox"/*.model 2>/dev/null | head -1)
  kill9 "$server_pid"
  if [[ -z "$good" ]]; then
    bad "train next to a server left no inbox file"
    return
  fi
  mv "$good" "$side/good.model"
  local size
  size=$(stat -c %s "$side/good.model")
  head -c $((size / 2)) "$side/good.model" >"$inbox/2000-truncated.model"
  cp "$side/good.model" "$inbox/2001-corrupt.model"
  printf '\xff\xff\xff\xff' | dd of="$inbox/2001-corrupt.model" bs=1 \
    seek=$((size / 3)) conv=notrunc status=none
  serve "$d" "$work/corrupt-serve2.log" --model-poll-interval 50ms ||
    { bad "server did not start with damaged inbox files"; return; }
  check "the truncated model file is rejected and set aside" \
    wait_for 3000 test -e "$inbox/2000-truncated.model.rejected"
  check "the corrupted model file is rejected and set aside" \
    wait_for 3000 test -e "$inbox/2001-corrupt.model.rejected"
  check "the log names the file and why" \
    contains "$work/corrupt-serve2.log" "2000-truncated.model rejected"
  check "the previous model keeps serving" [ "$(serving_version)" = v1 ]
  cp "$side/good.model" "$inbox/2002-good.model.tmp"
  mv "$inbox/2002-good.model.tmp" "$inbox/2002-good.model"
  check "a good model file afterwards is installed" \
    wait_for 3000 bash -c "'$AISLE' model info --target $target --json 2>/dev/null | grep -q '\"v3\"'"
  kill9 "$server_pid"
  serve "$d" "$work/corrupt-serve3.log" || { bad "restart failed"; return; }
  check "a restart serves the installed model" [ "$(serving_version)" = v3 ]
  kill9 "$server_pid"
}

# --- Parts that run inside a private mount namespace ---------------------------

# Writes ok/FAIL lines to $work/<name>.results for the parent to print.
inside_result() { echo "$1 $2" >>"$work/$3.results"; }

disk_inside() {
  local base=$1 res=disk
  : >"$work/$res.results"
  mount -t tmpfs -o size=24m tmpfs "$m" || { inside_result FAIL "mount tmpfs" $res; return 3; }
  cp -a "$base" "$m/d"
  serve "$m/d" "$work/disk-serve.log" || { inside_result FAIL "server did not start" $res; return 1; }
  local before
  before=$(event_count)
  # Fill the file system with events until a write is refused.
  "$AISLE" generate --target "$target" --items 400 --users 20000 \
    --events 1000000 --seed 7 >"$work/disk-gen.out" 2>"$work/disk-gen.err"
  local rc=$?
  [[ $rc != 0 ]] && inside_result ok "writing to a full disk fails (exit $rc)" $res ||
    inside_result FAIL "generate filled 24 MB without an error" $res
  if grep -qiE "disk full.*free space" "$work/disk-gen.err" &&
    ! grep -q "smaller batches" "$work/disk-gen.err"; then
    inside_result ok "the error says the disk is full: $(grep -iE 'space|disk|resource|unavailable' "$work/disk-gen.err" | head -1 | cut -c1-150)" $res
  else
    inside_result FAIL "unclear error: $(head -c 300 "$work/disk-gen.err")" $res
  fi
  # More writes while the disk is still full, several at once: each gets a
  # clear error and the server stays up (a write that reaches RocksDB's
  # failed WAL writer again would abort the process).
  local w fails=0
  for w in 1 2 3 4 5 6 7 8; do
    "$AISLE" feedback --target "$target" --user full$w --item i1 --type view \
      >/dev/null 2>"$work/disk-fb$w.err" &
  done
  wait_children_of_feedback() { local p; for p in $(jobs -p); do [[ $p == "$server_pid" ]] || wait "$p" || fails=$((fails + 1)); done; }
  wait_children_of_feedback
  if kill -0 "$server_pid" 2>/dev/null && ((fails == 8)) &&
    grep -qiE "disk|space|restart" "$work/disk-fb1.err"; then
    inside_result ok "8 concurrent writes on the full disk are refused, the server stays up: $(head -c 120 "$work/disk-fb1.err")" $res
  else
    inside_result FAIL "writes on a full disk: $fails of 8 refused, server $(kill -0 "$server_pid" 2>/dev/null && echo up || echo DOWN): $(head -c 200 "$work/disk-fb1.err"; tail -3 "$work/disk-serve.log")" $res
  fi
  [[ "$(serving_version)" == v1 ]] && inside_result ok "reads keep serving v1 on a full disk" $res ||
    inside_result FAIL "model info failed or changed on a full disk" $res
  local acked
  acked=$(event_count)
  # Make room and restart: no repair step.
  mount -o remount,size=512m "$m"
  kill9 "$server_pid"
  serve "$m/d" "$work/disk-serve2.log" || { inside_result FAIL "restart after the disk was enlarged failed" $res; return 1; }
  local now
  now=$(event_count)
  [[ "$now" -ge "$acked" ]] && inside_result ok "restart keeps every event the server counted ($now >= $acked)" $res ||
    inside_result FAIL "events lost: $now < $acked" $res
  "$AISLE" feedback --target "$target" --user du1 --item i1 --type view >/dev/null 2>&1 &&
    inside_result ok "writes work again after the disk has room" $res ||
    inside_result FAIL "writes still fail after the disk has room" $res
  kill9 "$server_pid"
  return 0
}

readonly_inside() {
  local base=$1 res=readonly
  : >"$work/$res.results"
  local d=$work/ro
  rm -rf "$d" && cp -a "$base" "$d"
  mount --bind "$d" "$d" && mount -o remount,ro,bind "$d" ||
    { inside_result FAIL "read-only bind mount" $res; return 3; }
  "$AISLE" serve --data-dir "$d" --host 127.0.0.1 --port 0 --metrics-port -1 \
    >"$work/ro-serve.log" 2>&1 &
  local p=$!
  local rc=0
  wait_for 3000 bash -c "! kill -0 $p 2>/dev/null" || { kill9 "$p"; rc=running; }
  wait "$p" 2>/dev/null
  rc=$?
  [[ $rc == 1 ]] && inside_result ok "serve on a read-only data dir exits 1" $res ||
    inside_result FAIL "serve on a read-only data dir: exit $rc" $res
  grep -qiE "read-only|permission|writable" "$work/ro-serve.log" &&
    inside_result ok "its error: $(grep -iE 'read-only|permission|writable' "$work/ro-serve.log" | head -1 | cut -c1-160)" $res ||
    inside_result FAIL "unclear error: $(tail -c 300 "$work/ro-serve.log")" $res
  # Offline readers open the store read-only: they work on it.
  "$AISLE" models list --data-dir "$d" >"$work/ro-list.out" 2>&1 &&
    inside_result ok "models list works on the read-only dir" $res ||
    inside_result FAIL "models list on a read-only dir: $(head -c 200 "$work/ro-list.out")" $res
  # (Making the dir read-only under a running server is refused by the
  # kernel, EBUSY, while RocksDB has files open for writing.)
  mount -o remount,rw,bind "$d"
  serve "$d" "$work/ro-serve3.log" || { inside_result FAIL "restart after the dir is writable failed" $res; return 1; }
  inside_result ok "restart after the dir is writable again works, no repair" $res
  [[ "$(serving_version)" == v1 ]] && inside_result ok "and serves v1" $res ||
    inside_result FAIL "serves $(serving_version), not v1" $res
  kill9 "$server_pid"
  umount "$d"
  return 0
}

if [[ "${1:-}" == __disk_inside ]]; then
  disk_inside "$2"
  exit $?
elif [[ "${1:-}" == __readonly_inside ]]; then
  readonly_inside "$2"
  exit $?
fi

all=(train swap import backup disk readonly corrupt)
cases=("$@")
((${#cases[@]})) || cases=("${all[@]}")
start=$(date +%s)
echo "chaos: preparing a store (400 items, 300 users, 20000 events, models v1 active, v2 stored)"
make_base || { echo "chaos: could not prepare the store in $base" >&2; exit 1; }
for c in "${cases[@]}"; do
  current=$c
  echo "chaos: $c"
  "case_$c"
done
echo "chaos: $passed checks passed, ${#failed[@]} failed, ${#skipped[@]} skipped in $(($(date +%s) - start))s"
for s in "${skipped[@]}"; do echo "  skipped: $s"; done
if ((${#failed[@]})); then
  printf '  FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
