#!/usr/bin/env bash
# `make run`: the local broker, the topics, a modest stream of synthetic traffic, the worker.
# Stop with Ctrl-C; the broker keeps running (`make stop` stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
CW=${CW:-.venv/bin/carrierwatch}
RATE=${RATE:-20}
mkdir -p .local
$CW broker start
$CW topics create
echo "feeding synthetic traffic at ${RATE} events/s (log: .local/generate.log)" >&2
$CW generate --rate "$RATE" --events 1000000000 --carriers 50 --start now \
  > .local/generate.log 2>&1 &
gen=$!
trap 'kill "$gen" 2>/dev/null || true' EXIT INT TERM
echo "worker on http://127.0.0.1:${CARRIERWATCH_WEB_PORT:-6066}; watch the outputs with e.g." >&2
echo "  $CW tail carrier.consecutive-failures --from-beginning" >&2
$CW worker
