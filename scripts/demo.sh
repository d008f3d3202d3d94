#!/usr/bin/env bash
# Installs what is missing, builds, and starts a demo server on
# localhost:50051 with a generated store. Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh aisle
DATA_DIR=${AISLE_DEMO_DIR:-$PWD/.demo-data}
echo
echo "Starting Aisle demo (data in $DATA_DIR). In another terminal try:"
echo "  ./build/aisle recommend --user u42 --explain"
echo "  ./build/aisle recommend --user u42 --scenario similar_items --context i100"
echo "  ./build/aisle feedback --user u42 --item i100 --type purchase"
echo
# An A/B experiment over FOR_YOU, so that `aisle experiments report` has
# arms to show (docs/experiments.md).
exec ./build/aisle serve --demo --data-dir "$DATA_DIR" \
  --experiments docs/experiments.example.json "$@"
