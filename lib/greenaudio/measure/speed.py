"""Shipped speed measurements: records of :func:`greenaudio.measure.run_grid`, one file per machine.

Used by: scripts/bench_vocoders.py (writes them), notebooks/05_0_models.ipynb (the CPU speed table) and
notebooks/05_1_cost_benchmark.ipynb (the same records beside its live grid).

A shipped file is ``resources/benchmarks/vocoders_cpu_<machine>.csv``, written by :func:`save_records_csv`; the
machine slug comes from the records' own environment (CPU model, logical CPUs, host name), so a file can never be
relabelled: :func:`ship_records` refuses records of several machines, and refuses to overwrite a file with records
whose environment differs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Sequence

from .protocol import Protocol
from .records import BenchmarkRecord
from .store import load_records, save_records_csv

__all__ = ["SPEED_PROTOCOL", "machine_slug", "ship_records", "shipped_record_files", "load_shipped_records",
           "speed_table"]

#: The models page's CPU speed protocol: one 1-s clip at 16 kHz, 1 warm-up and 3 timed runs, 1 thread, no idle window.
SPEED_PROTOCOL = Protocol(n_clips=1, clip_duration_s=1.0, sample_rate=16_000, warmup=1, repeats=3, threads=1,
                          flop_clip_s=1.0, idle_window_s=0.0)


def machine_slug(record: BenchmarkRecord) -> str:
    """``"<cpu model>-<n>cpu-<host>"`` in lower case from a record's environment (e.g. ``"amd-epyc-2cpu-vm"``)."""
    env = record.environment or {}
    text = f"{env.get('cpu_model', 'unknown')}-{env.get('cpu_count', 0)}cpu-{env.get('hostname', 'unknown')}"
    return re.sub(r"[^0-9a-z]+", "-", text.lower()).strip("-")


def ship_records(records: Sequence[BenchmarkRecord], folder: str | Path) -> Path:
    """Write the records of one machine to ``folder/vocoders_cpu_<machine>.csv`` (atomically).

    Raises:
        ValueError: no records, records of several machines, or an existing file holding another environment.
    """
    records = list(records)
    slugs = sorted({machine_slug(r) for r in records})
    if len(slugs) != 1:
        raise ValueError(f"ship_records needs the records of exactly one machine, got {slugs}")
    path = Path(folder) / f"vocoders_cpu_{slugs[0]}.csv"
    if path.exists():
        old = {machine_slug(r) for r in load_records(path)}
        if old != set(slugs):
            raise ValueError(f"{path} holds records of {sorted(old)}; refusing to relabel it as {slugs}")
    return save_records_csv(records, path)


def shipped_record_files(folder: str | Path | None = None) -> list[Path]:
    """The shipped per-machine record files (default: the package's ``resources/benchmarks``)."""
    if folder is None:
        from .._resources import resource_path

        folder = Path(str(resource_path("benchmarks")))
    return sorted(Path(folder).glob("vocoders_cpu_*.csv"))


def load_shipped_records(path: str | Path | None = None) -> list[BenchmarkRecord]:
    """The records of one shipped file (default: the only one shipped, else a ValueError listing them)."""
    if path is None:
        files = shipped_record_files()
        if len(files) != 1:
            raise ValueError(f"give the path of one shipped file; shipped: {[f.name for f in files]}")
        path = files[0]
    return load_records(path)


def speed_table(records: Iterable[BenchmarkRecord]):
    """Real-time factor of each ok record (median, IQR, min, max over the timed runs), with its machine.

    Returns:
        a DataFrame with ``model, size, device, threads, rtf_median, rtf_iqr, rtf_min, rtf_max, audio_s_per_run,
        procedure, machine``; failed records appear with their error.
    """
    import json

    import pandas as pd

    rows = []
    for r in records:
        rows.append({"model": r.model, "size": r.size, "device": r.device, "threads": (r.protocol or {}).get("threads"),
                     "rtf_median": r.rtf_median, "rtf_iqr": r.rtf_iqr, "rtf_min": r.rtf_min, "rtf_max": r.rtf_max,
                     "audio_s_per_run": r.audio_s_per_run, "procedure": json.dumps(r.procedure, sort_keys=True),
                     "machine": machine_slug(r), "status": r.status if r.ok else f"failed: {r.error}"})
    return pd.DataFrame(rows)
