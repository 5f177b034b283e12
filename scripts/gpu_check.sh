#!/usr/bin/env bash
# The GPU check of issue #26 (item 5), for a machine with a CUDA GPU and PyTorch where nothing can be installed:
# it needs Python with torch, numpy, pandas and nvidia-ml-py, and this repository's lib/ (put on PYTHONPATH here;
# no pip install). Equality of the 18 configurations on CUDA and CPU (plain and prepared paths), one training step
# per family on CUDA, NVML-measured inference energy of the six small configurations; results, environment.json and
# manifest.csv under one folder.
#
#   bash scripts/gpu_check.sh --out "$OUT"        # default folder: ./gpu-check-<date>; budget 8 min (--budget-s)
#   bash scripts/gpu_check.sh --dry-run --out /tmp/check   # every step on the CPU with tiny sizes (the tests run it)
#
# Exit status: 0 all passed, 1 a check failed, 2 bad arguments (before any work), 3 stopped by the time budget.
# The interpreter: $PYTHON if set, else python3 (or python) from PATH. Options: python scripts/gpu_check.py --help.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
    python="$(command -v python3 || command -v python || true)"
fi
if [[ -z "$python" ]]; then
    echo "gpu_check: error: no python3 or python on PATH (or set PYTHON)" >&2
    exit 2
fi
export PYTHONPATH="$root/lib${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
quoted=""
for arg in "$@"; do quoted+=" $(printf '%q' "$arg")"; done
export GPU_CHECK_COMMAND="bash scripts/gpu_check.sh${quoted}"
exec "$python" "$root/scripts/gpu_check.py" "$@"
