"""Shipped speed measurements: records of :func:`greenaudio.measure.run_grid`, one file per machine.

Used by: scripts/bench_vocoders.py (writes them), notebooks/05_0_models.ipynb (the CPU speed table) and
notebooks/05_1_cost_benchmark.ipynb (the same records beside its live grid).

A shipped file is ``resources/benchmarks/vocoders_cpu_<machine>.csv``, written by :func:`save_records_csv`; the
machine slug comes from the records' own environment (CPU model, logical CPUs, host name), so a file can never be
relabelled: :func:`ship_records` refuses records of several machines, and refuses to overwrite a file with records
whose environment differs. Each shipped file has a row in the folder's sha256 manifest (:mod:`greenaudio.manifests`:
provenance and the reproducing command), checked by :func:`load_shipped_records` before the records are read.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Sequence

from .protocol import Protocol
from .records import BenchmarkRecord
from .store import load_records, save_records_csv

__all__ = ["SPEED_PROTOCOL", "SHIP_COMMAND", "machine_slug", "ship_records", "shipped_record_files",
           "load_shipped_records", "records_provenance", "speed_table"]

#: The command that measures this machine's records and ships them.
SHIP_COMMAND = "python scripts/bench_vocoders.py --ship"

#: The models page's CPU speed protocol: one 1-s clip at 16 kHz, 1 warm-up and 3 timed runs, 1 thread, no idle window.
SPEED_PROTOCOL = Protocol(n_clips=1, clip_duration_s=1.0, sample_rate=16_000, warmup=1, repeats=3, threads=1,
                          flop_clip_s=1.0, idle_window_s=0.0)


def machine_slug(record: BenchmarkRecord) -> str:
    """``"<cpu model>-<n>cpu-<host>"`` in lower case from a record's environment (e.g. ``"amd-epyc-2cpu-vm"``)."""
    env = record.environment or {}
    text = f"{env.get('cpu_model', 'unknown')}-{env.get('cpu_count', 0)}cpu-{env.get('hostname', 'unknown')}"
    return re.sub(r"[^0-9a-z]+", "-", text.lower()).strip("-")


def records_provenance(records: Sequence[BenchmarkRecord], load: str | None = None) -> str:
    """One sentence of how the records were obtained, from their own fields (method, protocol, machine, versions,
    dates); ``load``: how busy the machine was while measuring."""
    import json

    from ..manifests import distinct_values as joined

    protocols = joined(json.dumps(r.protocol, sort_keys=True) for r in records)
    envs = joined(f"{(r.environment or {}).get('cpu_model')} ({(r.environment or {}).get('cpu_count')} logical CPUs), "
                  f"torch {((r.environment or {}).get('packages') or {}).get('torch')}, code "
                  f"{str((r.environment or {}).get('git_commit'))[:12]}" for r in records)
    loads = [l[0] for r in records if isinstance(l := (r.environment or {}).get("load_average"), (list, tuple)) and l]
    if loads:
        span = f"{min(loads):g}" if min(loads) == max(loads) else f"{min(loads):g} to {max(loads):g}"
        load = (f"1-minute load average {span} when measuring started"
                + (f"; {load}" if load else ""))
    dates = sorted(str(r.created_utc) for r in records if r.created_utc)
    ok = [r for r in records if r.ok]
    return (f"measured: greenaudio.measure.run_grid, {len(records)} records ({len(ok)} ok); time: perf_counter of "
            f"generate(); FLOPs: {joined(r.flops_method.split(':')[0] for r in ok if r.flops_method)}; energy: "
            f"{joined(r.energy_method for r in ok)}; protocol {protocols}; machine {envs}; "
            f"{dates[0] if dates else '?'} to {dates[-1] if dates else '?'} (UTC)" + (f"; {load}" if load else ""))


def ship_records(records: Sequence[BenchmarkRecord], folder: str | Path, *, load: str | None = None) -> Path:
    """Write the records of one machine to ``folder/vocoders_cpu_<machine>.csv`` (atomically) and its row of the
    folder's sha256 manifest (``load``: how busy the machine was, recorded in the provenance).

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
    from ..manifests import file_row, write_manifest

    save_records_csv(records, path)
    write_manifest(path.parent, [file_row(path, records_provenance(records, load), SHIP_COMMAND)])
    return path


def shipped_record_files(folder: str | Path | None = None) -> list[Path]:
    """The shipped per-machine record files (default: the package's ``resources/benchmarks``)."""
    if folder is None:
        from .._resources import resource_path

        folder = Path(str(resource_path("benchmarks")))
    return sorted(Path(folder).glob("vocoders_cpu_*.csv"))


def load_shipped_records(path: str | Path | None = None) -> list[BenchmarkRecord]:
    """The records of one shipped file (default: the only one shipped, else a ValueError listing them), checked
    against the sha256 manifest of its folder first (the package's files must be listed; a file of your own that no
    manifest lists is read as is).

    Raises:
        greenaudio.experiments.artefacts.ArtefactError: a shipped file altered after shipping, or one the package's
            manifest does not list (the message names the file and both hashes).
    """
    from ..manifests import verify_listed_file

    if path is None:
        files = shipped_record_files()
        if len(files) != 1:
            raise ValueError(f"give the path of one shipped file; shipped: {[f.name for f in files]}")
        path = files[0]
    package = {f.resolve() for f in shipped_record_files()}
    verify_listed_file(path, required=Path(path).resolve() in package, how_to_ship=SHIP_COMMAND)
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
