#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv: pinned CPU requirements, the package in editable
# mode, the Jupyter kernel papermill uses, and the Debian tools the speech corpora need (espeak-ng, sox).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=.venv/.requirements.sha256
want=$(cat requirements/ci.txt requirements/nodeps.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements/ci.txt
  .venv/bin/python -m pip install -q --no-deps -r requirements/nodeps.txt
  .venv/bin/python -m pip install -q --no-deps -e .
  .venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
  echo "$want" > "$stamp"
fi
# chromium + chromium-driver: the listening-test page is tested in headless Chromium (tests/test_listening_browser.py)
if ! { command -v espeak-ng && command -v sox && command -v chromium && command -v chromedriver; } >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng sox chromium chromium-driver >/dev/null
  else
    echo "warning: espeak-ng, sox, chromium or chromedriver is missing (speech corpora; browser test of the listening page); install them with your package manager" >&2
  fi
fi
