#!/usr/bin/env bash
# Builds Debian's own abseil (the source package of the installed
# libabsl20220623, Debian's patches applied) as shared libraries with
# -fsanitize=thread, into DIR/lib, for scripts/sanitize.sh tsan to put on
# LD_LIBRARY_PATH.
#
#   scripts/sanitizers/abseil_tsan.sh DIR
#
# Why: absl::Mutex guards the engine, the store and the server, and its
# lock and unlock live in libabsl_synchronization.so. Debian builds it
# without TSan, so TSan sees none of its happens-before edges and reports
# every access under an absl::Mutex as a race (137 of 543 tests failed on
# such reports on 2026-12-03). With the instrumented build loaded in its
# place, same version and ABI, TSan sees the locks; gRPC, protobuf and
# RocksDB, which link the same libabsl, use it too.
#
# Needs the Debian source archive (deb.debian.org, deb-src; no change to the
# system's apt sources: a private list is used) and clang. ~5 minutes at
# -j2; does nothing when DIR/lib already holds the build.
set -euo pipefail
dir=${1:?usage: abseil_tsan.sh DIR}
mkdir -p "$dir"
dir=$(realpath "$dir")
if [[ -f $dir/lib/libabsl_synchronization.so && -f $dir/.done ]]; then
  exit 0
fi
version=$(dpkg-query -W -f='${Version}' libabsl-dev)
echo "abseil_tsan: building abseil $version with -fsanitize=thread into $dir"
work=$dir/src-work
rm -rf "$work"
mkdir -p "$work/lists/partial"
cat >"$work/sources.list" <<'EOF'
deb-src http://deb.debian.org/debian bookworm main
deb-src http://deb.debian.org/debian bookworm-updates main
deb-src http://deb.debian.org/debian-security bookworm-security main
EOF
apt_opts=(-q -o "Dir::Etc::SourceList=$work/sources.list"
  -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$work/lists")
(cd "$work" && apt-get "${apt_opts[@]}" update >/dev/null &&
  apt-get "${apt_opts[@]}" source --download-only "abseil=$version" >/dev/null 2>&1) ||
  { echo "abseil_tsan: could not download the abseil $version source package from deb.debian.org" >&2; exit 1; }
(cd "$work" && dpkg-source -x ./*.dsc src >/dev/null)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
CC=clang CXX=clang++ cmake -S "$work/src" -B "$work/build" -G Ninja \
  -DCMAKE_CXX_STANDARD=17 -DBUILD_SHARED_LIBS=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX="$dir" \
  -DCMAKE_C_FLAGS=-fsanitize=thread -DCMAKE_CXX_FLAGS=-fsanitize=thread \
  -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread "${launcher[@]}" >/dev/null
cmake --build "$work/build" -j "${AISLE_JOBS:-$(nproc)}"
cmake --install "$work/build" >/dev/null
rm -rf "$work"
touch "$dir/.done"
echo "abseil_tsan: done ($dir/lib)"
