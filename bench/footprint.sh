#!/usr/bin/env bash
# Installed size of the service's runtime dependencies against the seed demo's stack: each a
# fresh `pip install --target` in a temporary directory (removed afterwards), no bytecode.
#   bash bench/footprint.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
work=$(mktemp -d /tmp/footprint.XXXXXX)
trap 'rm -rf "$work"' EXIT
pip=("$python" -m pip install --quiet --disable-pip-version-check --no-compile)

"${pip[@]}" --target "$work/ours" -r requirements.txt
"${pip[@]}" --target "$work/ours" --no-deps face_recognition==1.3.0
# The seed: PyTorch (the CPU build, as the dev setup installs it), Flask, face_recognition on dlib-bin.
"${pip[@]}" --target "$work/seed" torch==2.13.0+cpu flask pillow numpy dlib-bin face_recognition_models Click
"${pip[@]}" --target "$work/seed" --no-deps face_recognition==1.3.0

for stack in ours seed; do
  echo "$stack: $(du -sm "$work/$stack" | cut -f1) MB installed"
  du -sm "$work/$stack"/* | sort -rn | head -6 | sed 's/^/    /; s#'"$work/$stack/"'##'
done
