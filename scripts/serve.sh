#!/usr/bin/env bash
# Set up (first run only) and start the API + web page on http://127.0.0.1:8000
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh runtime
exec .venv/bin/python -m uvicorn function.app:app --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}" "$@"
