#!/usr/bin/env bash
# The main job: set up the environment, execute every chapter notebook with papermill (quick mode unless --full)
# and build the book into _build/html. Extra arguments go to scripts/build_book.py (e.g. --full, --only NAME).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/build_book.py "$@"
