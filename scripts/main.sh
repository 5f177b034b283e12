#!/usr/bin/env bash
# The main job: set up the environment, execute every chapter notebook with papermill (quick mode unless --full)
# and build the book into _build/html. Arguments go to scripts/build_book.py:
#   --full                 the thesis protocol (QUICK = False)
#   --device DEVICE        cpu (default), cuda, cuda:1 ... forwarded to notebooks with a DEVICE parameter
#   --allow-cpu-full       allow --full on the CPU (months; the estimated duration and energy are printed)
#   --only CHAPTER ...     execute only these chapters (e.g. 04_2_carbon)
# Bad arguments (unknown chapter, absent device, --full on the CPU without --allow-cpu-full) stop before anything runs.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/python ]; then
  .venv/bin/python scripts/build_book.py --dry-run "$@" >/dev/null
fi
bash scripts/setup.sh
exec .venv/bin/python scripts/build_book.py "$@"
