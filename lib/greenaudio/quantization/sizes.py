"""Serialised model sizes, measured from the files on disk.

Used by: :mod:`greenaudio.quantization.pipeline`, notebooks/06_quantization.ipynb (Table 9).

Sizes are in bytes and in MB (1 MB = 1e6 bytes, as the thesis's Table 9 is compared in decimal megabytes); an ONNX
model's size counts its ``.onnx`` file *and* its external-data side file, and a vocoder split into several graphs
counts all of them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

__all__ = ["measure_files_bytes", "BYTES_PER_MB", "SIZE_METHOD"]

BYTES_PER_MB = 1e6
SIZE_METHOD = "measured: sum of os.path.getsize over the serialised ONNX files (graph + external data)"


def measure_files_bytes(files: Iterable[str | Path]) -> int:
    """Total size of some files (in bytes).

    Raises:
        ValueError: no file given, or a file does not exist (named).
    """
    files = [Path(f) for f in files]
    if not files:
        raise ValueError("no file given to measure")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise ValueError(f"cannot measure the size of missing file(s): {missing}")
    return sum(os.path.getsize(f) for f in files)
