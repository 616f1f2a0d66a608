#!/usr/bin/env bash
# Set up (first run only) and start the API + web page on http://127.0.0.1:8000
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh runtime
# Two malloc arenas instead of one per thread: the RSS plateau under 8 concurrent clients
# drops from ~580 to ~360 MiB (bench/RESULTS.md, "Memory").
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
exec .venv/bin/python -m uvicorn function.app:app --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}" "$@"
