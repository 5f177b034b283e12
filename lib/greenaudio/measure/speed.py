"""Shipped speed measurements, read back: records of the benchmark grid, one file per machine.

Used by: notebooks/05_0_models.ipynb (the CPU speed table) and notebooks/05_1_cost_benchmark.ipynb (the same records
beside its live grid). Written by :func:`greenaudio.orchestration.shipping.ship_records` (scripts/bench_vocoders.py).

A shipped file is ``resources/benchmarks/vocoders_cpu_<machine>.csv``, written by ``save_records_csv``; the
machine slug comes from the records' own environment (CPU model, logical CPUs, host name), so a file can never be
relabelled: ``ship_records`` refuses records of several machines, and refuses to overwrite a file with records
whose environment differs. Each shipped file has a row in the folder's sha256 manifest (:mod:`greenaudio.files`:
provenance and the reproducing command), checked by :func:`load_shipped_records` before the records are read.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Sequence

from .protocol import Protocol
from .records import BenchmarkRecord
from .store import load_records

__all__ = ["SPEED_PROTOCOL", "SHIP_COMMAND", "machine_slug", "shipped_record_files",
           "load_shipped_records", "records_provenance_facts", "speed_table", "speed_facts", "models_page_provenance",
           "protocol_text"]

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


def records_provenance_facts(records: Sequence[BenchmarkRecord], load: str | None = None) -> dict[str, object]:
    """How the records were obtained, read from their own fields: ``method``, ``tool``, ``machine`` and ``when``
    (the columns of :func:`greenaudio.report.show_provenance`), and ``records``, ``ok``, ``energy``, ``protocol``,
    ``load_1min`` (the 1-minute load averages when measuring started: min and max, None if not recorded) and
    ``load`` (how busy the machine was, as given by whoever measured).

    The sha256 manifest's provenance field of a shipped file is these facts joined by ``; `` (the method first, then
    ``key: value``).
    """
    import json

    from ..files import distinct_values as joined

    ok = [r for r in records if r.ok]
    envs = [r.environment or {} for r in records]
    loads = [l[0] for e in envs if isinstance(l := e.get("load_average"), (list, tuple)) and l]
    dates = sorted(str(r.created_utc) for r in records if r.created_utc)
    return {
        "method": ("measured: greenaudio.measure.benchmark_model per grid cell; time: perf_counter of generate(); "
                   f"FLOPs: {joined(r.flops_method.split(':')[0] for r in ok if r.flops_method)}"),
        "tool": joined(f"torch {(e.get('packages') or {}).get('torch')}, greenaudio {str(e.get('git_commit'))[:12]}"
                       for e in envs),
        "machine": joined(f"{e.get('cpu_model')} ({e.get('cpu_count')} logical CPUs, {e.get('host_type')}), "
                          f"{(r.protocol or {}).get('threads')} thread(s)" for e, r in zip(envs, records)),
        "when": f"{dates[0]} to {dates[-1]} (UTC)" if dates else "unknown",
        "records": len(records), "ok": len(ok), "energy": joined(r.energy_method for r in ok),
        "protocol": joined(json.dumps(r.protocol, sort_keys=True) for r in records),
        "load_1min": (min(loads), max(loads)) if loads else None, "load": load,
    }


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
        greenaudio.files.ArtefactError: a shipped file altered after shipping, or one the package's
            manifest does not list (the message names the file and both hashes).
    """
    from ..files import verify_listed_file

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


def speed_facts(table) -> dict[str, object]:
    """Numbers the models page quotes from :func:`speed_table` (ok rows): ``configurations``, ``real_time`` (RTF
    below 1), the fastest and slowest configuration (``fastest_name``, ``fastest_rtf``, ``slowest_name``,
    ``slowest_rtf``: median RTF) and ``machines`` (the machines' names, from the records' environment)."""
    from ..report import configuration_name

    ok = table[table["status"] == "ok"].reset_index(drop=True)
    if ok.empty:
        return {"configurations": 0, "real_time": 0, "fastest_name": "none", "fastest_rtf": float("nan"),
                "slowest_name": "none", "slowest_rtf": float("nan"), "machines": "none"}
    lo, hi = ok["rtf_median"].idxmin(), ok["rtf_median"].idxmax()
    return {"configurations": len(ok), "real_time": int((ok["rtf_median"] < 1).sum()),
            "fastest_name": configuration_name(ok["model"][lo], ok["size"][lo]),
            "fastest_rtf": float(ok["rtf_median"][lo]),
            "slowest_name": configuration_name(ok["model"][hi], ok["size"][hi]),
            "slowest_rtf": float(ok["rtf_median"][hi]), "machines": ", ".join(dict.fromkeys(ok["machine"]))}


def models_page_provenance(records: Sequence[BenchmarkRecord], threads: int) -> list[dict[str, str]]:
    """The models page's "How these numbers were obtained" rows (quantity, method, tool, machine, when) for what this
    build computes (parameter counts, the procedures' wall time) and the shipped CPU speed records
    (:func:`records_provenance_facts`); the prepared-inference row is
    :func:`greenaudio.chapters.inference_speed.inference_speed_provenance`."""
    import datetime
    import os

    import torch

    from ..host import read_cpu_model

    today = f"this build, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d} (UTC)"
    here = f"{read_cpu_model()} ({os.cpu_count()} logical CPUs), {threads} thread(s)"
    rows = [
        {"quantity": "Parameter counts", "method": "counted: numel() of every parameter of the instantiated model, "
         "with and without the weight-norm gains", "tool": f"torch {torch.__version__}", "machine": "none (counted)",
         "when": today},
        {"quantity": "Wall time of the inference procedures", "method": "measured: perf_counter of one generate() "
         "call, untrained weights, prepared models (an illustration, not a benchmark)",
         "tool": f"torch {torch.__version__}", "machine": here, "when": today},
    ]
    if records:
        facts = records_provenance_facts(records)
        protocols = "; ".join(dict.fromkeys(protocol_text(r.protocol or {}) for r in records))
        rows.append({"quantity": "Real-time factor on CPU (shipped records)",
                     "method": f"{facts['method']}; {protocols}", "tool": facts["tool"],
                     "machine": facts["machine"], "when": facts["when"]})
    return rows


def protocol_text(protocol: dict) -> str:
    """A protocol in words: ``"1 clip(s) x 1 s at 16000 Hz, 1 warm-up and 3 timed run(s)"``."""
    return (f"{protocol.get('n_clips')} clip(s) x {float(protocol.get('clip_duration_s', 0)):g} s at "
            f"{protocol.get('sample_rate')} Hz, {protocol.get('warmup')} warm-up and {protocol.get('repeats')} timed "
            "run(s)")
