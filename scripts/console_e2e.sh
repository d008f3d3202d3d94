#!/usr/bin/env bash
# The web console in a real browser (console/e2e/console_e2e.mjs): the
# system Chromium (Debian's `chromium`) driven by playwright-core from the
# npm registry, installed from the lockfile with `npm ci` (nothing else is
# downloaded: no browser), against `aisle serve --demo` with the example
# A/B experiment (docs/experiments.example.json). Screenshots of every
# page go to $BUILD_DIR/console-e2e/.
#
#   AISLE_BUILD_DIR=build ./scripts/console_e2e.sh
#   ./scripts/console_e2e.sh --deps-only   # npm ci only (scripts/test.sh
#                                          # runs it during the build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${AISLE_BUILD_DIR:-build}
for tool in node npm; do
  command -v "$tool" >/dev/null || {
    echo "console e2e: $tool is missing; run scripts/setup.sh" >&2
    exit 1
  }
done
E2E=console/e2e
if [[ ! -d $E2E/node_modules/playwright-core || $E2E/package-lock.json -nt $E2E/node_modules/.package-lock.json ]]; then
  echo "console e2e: npm ci (playwright-core, no browser download)"
  (cd "$E2E" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
[[ ${1:-} == --deps-only ]] && exit 0
AISLE_BIN="$PWD/$BUILD_DIR/aisle" \
  AISLE_CONSOLE_SHOTS="$PWD/$BUILD_DIR/console-e2e" \
  node console/e2e/console_e2e.mjs
