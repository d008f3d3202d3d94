#!/usr/bin/env bash
# Builds the Aisle container image (docker/Dockerfile) without a Docker
# engine or a registry, then checks that it serves.
#
#   scripts/build_image.sh            # image aisle:dev
#   AISLE_IMAGE=aisle:0.1 scripts/build_image.sh
#   scripts/build_image.sh --base-only   # only step 1
#
# 1. Makes the Debian 12 base images the Dockerfile names
#    (docker.io/library/debian:bookworm-slim and :bookworm) with
#    debootstrap --variant=minbase from Debian's archive, unless they exist.
# 2. `buildah bud --isolation chroot` builds the image (a full Release build
#    of `aisle` inside the builder stage: about 7 minutes on 2 cores from
#    nothing, 3 with the base images and dependency layer cached).
# 3. Runs `aisle version` in the image, starts `aisle serve --demo` in it on
#    loopback ports, and asks it for recommendations with the host's `aisle`
#    binary ($AISLE_BIN, default ./build/aisle; built if missing).
#
# Needs root (debootstrap, buildah). Installs debootstrap and buildah from
# Debian if missing. Not part of the test suite: it takes long.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/server.sh  # stop_server, free_port
ROOT=$PWD

BASE_ONLY=0
case "${1:-}" in
  "") ;;
  --base-only) BASE_ONLY=1 ;;
  *) echo "usage: $0 [--base-only]" >&2; exit 2 ;;
esac
IMAGE=${AISLE_IMAGE:-aisle:dev}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
JOBS=${AISLE_JOBS:-2}
AISLE_BIN=${AISLE_BIN:-$ROOT/build/aisle}
START=$(date +%s)

log() { printf '[build_image %4ds] %s\n' $(($(date +%s) - START)) "$*"; }
die() { log "FAILED: $*"; exit 1; }

if [[ $(id -u) -ne 0 ]]; then die "run as root (debootstrap and buildah need it)"; fi

need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v buildah >/dev/null || need+=(buildah)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

WORK=$(mktemp -d /tmp/aisle-image.XXXXXX)
CTR=""
SERVER_PID=""
# The server runs as a child of `buildah run`; signals go to it directly
# (by pid, found from buildah's process tree) so that it drains as it would
# under a container runtime.
descendants() {
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$child"
    descendants "$child"
  done
}
server_pids() { descendants "$SERVER_PID"; echo "$SERVER_PID"; }
stop_server() {  # stop_server SIGNAL
  local pid
  for pid in $(descendants "$SERVER_PID"); do
    if [[ "$(ps -o comm= -p "$pid" 2>/dev/null)" == aisle ]]; then kill "-$1" "$pid" 2>/dev/null || true; fi
  done
}
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    stop_server TERM
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
    for pid in $(server_pids); do kill -KILL "$pid" 2>/dev/null || true; done
  fi
  if [[ -n "$CTR" ]]; then buildah rm "$CTR" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- 1. base images ----------------------------------------------------------
if buildah inspect --type image docker.io/library/debian:bookworm-slim >/dev/null 2>&1 &&
   buildah inspect --type image docker.io/library/debian:bookworm >/dev/null 2>&1; then
  log "base images debian:bookworm-slim and debian:bookworm already present"
else
  log "debootstrap --variant=minbase bookworm from $MIRROR"
  ROOTFS=$WORK/rootfs
  debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 ||
    { tail -20 "$WORK/debootstrap.log"; die "debootstrap"; }
  # What the official images configure: the three suites, no caches,
  # no recommends, no documentation.
  cat > "$ROOTFS/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb $SECURITY_MIRROR bookworm-security main
EOF
  cat > "$ROOTFS/etc/apt/apt.conf.d/docker-no-recommends" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
EOF
  cat > "$ROOTFS/etc/dpkg/dpkg.cfg.d/docker-excludes" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
  rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/archives/*.deb \
    "$ROOTFS"/var/log/* "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/*
  mkdir -p "$WORK/base"
  tar -C "$ROOTFS" --numeric-owner -cf "$WORK/base/rootfs.tar" .
  printf 'FROM scratch\nADD rootfs.tar /\nCMD ["bash"]\n' > "$WORK/base/Containerfile"
  log "importing the rootfs ($(du -sh "$WORK/base/rootfs.tar" | cut -f1)) as debian:bookworm-slim"
  buildah bud --isolation chroot --quiet -f "$WORK/base/Containerfile" \
    -t docker.io/library/debian:bookworm-slim "$WORK/base" >/dev/null
  # The builder stage installs its toolchain itself, so the same minimal
  # root filesystem serves as debian:bookworm.
  buildah tag docker.io/library/debian:bookworm-slim docker.io/library/debian:bookworm
  rm -rf "$ROOTFS" "$WORK/base"
fi

if ((BASE_ONLY)); then log "OK: base images ready"; exit 0; fi

# --- 2. the image ------------------------------------------------------------
log "buildah bud -f docker/Dockerfile -t $IMAGE (Release build inside; long)"
if ! buildah bud --isolation chroot --layers --build-arg "BUILD_JOBS=$JOBS" \
     -f docker/Dockerfile -t "$IMAGE" . > "$WORK/bud.log" 2>&1; then
  tail -40 "$WORK/bud.log"
  cp "$WORK/bud.log" /tmp/aisle-image-bud.log
  die "buildah bud (full log: /tmp/aisle-image-bud.log)"
fi
sed -n '/^runtime packages:/,/^-->/p' "$WORK/bud.log" | grep -v '^-->' | tr '\n' ' ' | sed 's/^/  /'; echo
log "built $IMAGE: $(buildah images --format '{{.Size}}' "$IMAGE" | head -1)"

# --- 3. checks ---------------------------------------------------------------
CTR=$(buildah from --quiet "$IMAGE")
config=$(buildah inspect --type image --format '{{.OCIv1.Config.User}} {{.OCIv1.Config.Entrypoint}} {{.OCIv1.Config.Cmd}}' "$IMAGE")
log "image config: user/entrypoint/cmd = $config"
[[ "$config" == 10001:10001* ]] || die "image user is not 10001"

version=$(buildah run --isolation chroot "$CTR" -- aisle version) || die "aisle version in the image"
log "aisle version in the image: $(echo "$version" | head -1)"

if [[ ! -x "$AISLE_BIN" ]]; then
  log "building the host client $AISLE_BIN"
  AISLE_JOBS=$JOBS ./scripts/build.sh aisle >/dev/null
fi

PORT=$(free_port)
METRICS_PORT=$(free_port)
# chroot isolation shares the host's network namespace: the server's
# loopback ports are the host's.
log "starting aisle serve --demo in the image on 127.0.0.1:$PORT (metrics $METRICS_PORT)"
buildah run --isolation chroot --user 10001:10001 "$CTR" -- \
  aisle serve --demo --host 127.0.0.1 --port "$PORT" --metrics-port "$METRICS_PORT" \
  --data-dir /var/lib/aisle/data > "$WORK/serve.log" 2>&1 &
SERVER_PID=$!

deadline=$(($(date +%s) + 300))
until curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" 2>/dev/null | grep -Eq '^aisle_up 1(\.0+)?( |$)'; do
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$WORK/serve.log"; die "the server in the image exited"; }
  (($(date +%s) < deadline)) || { tail -20 "$WORK/serve.log"; die "not serving after 300s"; }
  sleep 0.5
done
log "serving after $(($(date +%s) - deadline + 300))s"

"$AISLE_BIN" recommend --target "127.0.0.1:$PORT" --user u42 --count 5 --json > "$WORK/rec.json" ||
  die "Recommend against the image"
python3 - "$WORK/rec.json" <<'EOF' || die "Recommend answered without items"
import json, sys
r = json.load(open(sys.argv[1]))
items = r.get("items", [])
assert items, "no items"
print("  Recommend: %d items, first %s, model %s" % (
    len(items), items[0].get("item_id"), r.get("model_version", "")))
EOF

stop_server TERM
for _ in $(seq 1 150); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
if kill -0 "$SERVER_PID" 2>/dev/null; then die "the server did not stop within 30s of SIGTERM"; fi
wait "$SERVER_PID" && rc=0 || rc=$?
SERVER_PID=""
log "server stopped on SIGTERM (exit status $rc)"
[[ $rc -eq 0 ]] || { tail -20 "$WORK/serve.log"; die "non-zero exit status after SIGTERM"; }

log "OK: $IMAGE builds, runs as uid 10001, serves Recommend, stops cleanly ($(($(date +%s) - START))s)"
