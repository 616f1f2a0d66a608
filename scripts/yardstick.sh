#!/usr/bin/env bash
# The honest yardstick (export/yardstick.py): ours and the peer on held-apart people and sources.
#   scripts/yardstick.sh MODEL.onnx ... [--curve PATH.svg] [--no-peer] [--limit N]
# Markdown tables on stdout; --curve also writes the risk-coverage picture.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev  # also makes the peer's own environment, .tools/peer
exec .venv/bin/python -m export.yardstick "$@"
