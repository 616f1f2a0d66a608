#!/usr/bin/env bash
# Print the path of a Python 3.12 (the Lambda runtime's) that runs: $LAMBDA_PYTHON, python3.12
# on the PATH, or pyenv's 3.12 (a pyenv shim on the PATH may refuse to run). Exit 1 if none.
set -uo pipefail
pyenv_root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
for candidate in "${LAMBDA_PYTHON:-}" "$(command -v python3.12)" "$pyenv_root"/versions/3.12*/bin/python; do
  [ -n "$candidate" ] && [ -x "$candidate" ] || continue
  if [ "$("$candidate" -c 'import sys; print(sys.version_info[:2] == (3, 12))' 2>/dev/null)" = True ]; then
    echo "$candidate"
    exit 0
  fi
done
echo "no Python 3.12 found: install one (e.g. pyenv install 3.12) or set LAMBDA_PYTHON=/path/to/python3.12" >&2
exit 1
