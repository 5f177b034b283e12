#!/usr/bin/env bash
# The test suite: set up the environment, then run pytest (all tests, the notebooks executed in quick mode).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
