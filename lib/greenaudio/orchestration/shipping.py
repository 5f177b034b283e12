"""Shipping of measurements: the writers of the package's measurement folders, each file written atomically with its
row in the folder's sha256 manifest (:mod:`greenaudio.files`: provenance read off the rows, the reproducing command).

Used by: scripts/bench_vocoders.py (``resources/benchmarks``), scripts/bench_quantization.py and scripts/bench_qat.py
(``resources/quantization``), scripts/bench_inference.py (``resources/speed``).

The readers stay below, checking the sha256 before reading: :mod:`greenaudio.measure.speed`,
:mod:`greenaudio.quantization.shipped`, :mod:`greenaudio.chapters.inference_speed`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..files import column_values, file_row, upsert_rows, write_manifest
from ..measure.records import BenchmarkRecord
from ..measure.speed import SHIP_COMMAND as RECORDS_SHIP_COMMAND
from ..measure.speed import machine_slug, records_provenance_facts
from ..measure.store import load_records, save_records_csv
from ..quantization.shipped import (PTQ_KEY, QAT_KEY, QAT_SETTINGS, QAT_SHIP_COMMAND, SHIP_COMMAND, SHIPPED_PTQ_FILE,
                                    SHIPPED_QAT_FILE, default_quantization_dir)

__all__ = ["ship_records", "ship_ptq_results", "ship_qat_history", "write_speed_manifest"]


# -- speed records (resources/benchmarks) -----------------------------------------------------------------------
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
    save_records_csv(records, path)
    facts = records_provenance_facts(records, load)
    text = "; ".join(v if k == "method" else f"{k}: {v}" for k, v in facts.items() if v is not None)
    write_manifest(path.parent, [file_row(path, text, RECORDS_SHIP_COMMAND)])
    return path


# -- int8 measurements and QAT histories (resources/quantization) ------------------------------------------------
def _zoo_sorted(frame: pd.DataFrame, then: list[str]) -> pd.DataFrame:
    """``frame`` in the zoo's order (:func:`greenaudio.vocoders.names`, then small/medium/large), then ``then``."""
    from .. import vocoders

    order = {n: i for i, n in enumerate(vocoders.names())}
    sizes = {s: i for i, s in enumerate(vocoders.THESIS_SIZES)}
    return frame.assign(_m=frame["model"].map(order), _s=frame["size"].map(sizes)).sort_values(
        ["_m", "_s", *then], kind="stable").drop(columns=["_m", "_s"]).reset_index(drop=True)


def _ptq_provenance(frame: pd.DataFrame, load: str | None) -> str:
    def values(col: str) -> str:
        return column_values(frame, col)

    configs = list(dict.fromkeys(f"{m} {s}" for m, s in zip(frame["model"], frame["size"])))
    return (f"measured: scripts/bench_quantization.py (torch fp32, ONNX Runtime fp32 and static QDQ int8; sizes of "
            f"the serialised ONNX files; output change vs torch fp32), {len(frame)} rows of {len(configs)} "
            f"configurations ({', '.join(configs)}), "
            f"{values('audio_s')} s of audio; {values('timing')}; {values('threads')} thread(s); cpu {values('cpu')}; "
            f"{values('versions')}; energy {values('energy_method')}; weights: {values('weights')}"
            + _load_clause(frame) + (f"; machine load while measuring: {load}" if load else ""))


def _load_clause(frame: pd.DataFrame) -> str:
    """The range of the rows' recorded 1-minute load averages, and how many rows predate the record."""
    if "load_1min_start" not in frame:
        return ""
    loads = pd.concat([frame["load_1min_start"], frame.get("load_1min_end", frame["load_1min_start"])])
    loads = pd.to_numeric(loads, errors="coerce").dropna()
    without = int(frame["load_1min_start"].isna().sum())
    text = f"; 1-minute load average {loads.min():.2f}-{loads.max():.2f} during the timings" if len(loads) else ""
    return text + (f" ({without} row(s) measured before the load was recorded)" if without else "")


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def ship_ptq_results(results: pd.DataFrame, folder: str | os.PathLike | None = None, *,
                     load: str | None = None) -> Path:
    """Merge ``results`` (rows of :func:`greenaudio.quantization.run_quantization_table`) into the shipped file: rows
    of the same model, size and clip length replaced (within ``results``, the last row of a key wins), the zoo's
    order kept; then rewrite its manifest row, both atomically. ``load``: how busy the machine was (e.g. the load
    average), recorded in the provenance. Returns the file's path."""
    missing = [c for c in [*PTQ_KEY, "status", "cpu", "versions", "timing"] if c not in results.columns]
    if missing:
        raise ValueError(f"results lack column(s) {missing}: expected rows of run_quantization_table")
    folder = Path(folder) if folder is not None else default_quantization_dir()
    path = folder / SHIPPED_PTQ_FILE
    keys = results[list(PTQ_KEY)].astype(str).apply(tuple, axis=1)
    results = results[~keys.duplicated(keep="last")]  # a configuration measured twice: the later row wins
    upsert_rows(path, list(PTQ_KEY), results.to_dict("records"), order=lambda t: _zoo_sorted(t, ["audio_s"]))
    write_manifest(folder, [file_row(path, _ptq_provenance(_read(path), load), SHIP_COMMAND)])
    return path


def _qat_provenance(frame: pd.DataFrame) -> str:
    def values(col: str) -> str:
        return column_values(frame, col)

    configs = list(dict.fromkeys(f"{m} {s} ({int(n)} steps)" for m, s, n in
                                 zip(frame["model"], frame["size"], frame["steps"])))
    return (f"measured: scripts/bench_qat.py (fp32 and fake-quant training from one initialisation, same batches "
            f"and noise; validation loss at every evaluation; wall-clock training time), {len(frame)} history rows "
            f"of {len(configs)} configurations ({', '.join(configs)}); batch {values('batch_size')}, "
            f"{values('clip_frames')} mel frames per clip, lr {values('lr')}, seed {values('seed')}, "
            f"{values('threads')} thread(s); cpu {values('cpu')}; torch {values('torch_version')}; "
            f"{values('date_utc')} (UTC)")


def ship_qat_history(history: pd.DataFrame, folder: str | os.PathLike | None = None) -> Path:
    """Merge QAT ``history`` rows (with ``model``, ``size``, the :data:`~greenaudio.quantization.shipped.QAT_SETTINGS`
    and provenance columns) into the shipped file, replacing every row of a configuration it holds, and rewrite the
    file's manifest row; both atomically. Returns the file's path."""
    required = [*QAT_KEY, "step", "variant", "val_loss", "train_loss", "wall_s", "cpu", "torch_version",
                "date_utc", "command", *QAT_SETTINGS]
    missing = [c for c in required if c not in history.columns]
    if missing:
        raise ValueError(f"history lacks column(s) {missing}: expected rows written by scripts/bench_qat.py")
    folder = Path(folder) if folder is not None else default_quantization_dir()
    path = folder / SHIPPED_QAT_FILE
    upsert_rows(path, list(QAT_KEY), history.to_dict("records"), order=lambda t: _zoo_sorted(t, ["variant", "step"]))
    write_manifest(folder, [file_row(path, _qat_provenance(_read(path)), QAT_SHIP_COMMAND)])
    return path


# -- prepared-inference speed (resources/speed) ------------------------------------------------------------------
def _speed_manifest_row(path: Path, reproduce: str) -> dict[str, object]:
    """The manifest row of one speed CSV: a provenance sentence built from the file's own columns (what was measured,
    how many rows of which configurations, device, threads, tool versions, dates)."""
    frame = _read(path)

    def values(col: str) -> str:
        return column_values(frame, col, ", ")

    configs = sorted({f"{m} {s} {d:.2f} s" for m, s, d in zip(frame.model, frame["size"], frame.duration_s)})
    dates = sorted(str(d) for d in frame["date_utc"].dropna())
    when = f"{dates[0] if dates else '?'} to {dates[-1] if dates else '?'} (UTC)"
    if "path" in frame and "variant" not in frame:  # bench_inference.py --against-reference
        references = sorted({f"{r} at commit {c}" for r, c in zip(frame["reference"], frame["reference_commit"])})
        reduced = frame["path"].isin(["prepared-bf16", "prepared-int8"])
        gaps = frame["output_rel_l2_vs_reference"]
        change = (f"output relative L2 to the reference at most {gaps[~reduced].max():.2g} for the float32 paths"
                  + (f", {gaps[reduced].min():.2g} to {gaps[reduced].max():.2g} for bf16 and int8" if reduced.any()
                     else ""))
        provenance = (
            f"measured: median wall-clock time of our generate() (plain and prepared paths) and of the reference "
            f"generator's forward with our weights copied in, interleaved, {values('repeats')} repeats after a "
            f"warm-up; {change}; "
            f"references (the user's clones, not shipped): {'; '.join(references)}; {len(frame)} rows over "
            f"{len(configs)} configurations ({'; '.join(configs)}); device {values('device')}, {values('threads')} "
            f"thread(s); torch {values('torch_version')}, onnxruntime {values('onnxruntime_version')}; {when}")
        return file_row(path, provenance, reproduce)
    timed = frame.dropna(subset=["time_s"]) if "time_s" in frame else frame.iloc[:0]
    provenance = (
        f"measured: wall-clock time of generate(), plain vs prepare_for_inference variants ({values('variant')}), "
        f"FLOPs counted by torch FlopCounterMode, peak RSS (VmHWM of a fresh process); {len(frame)} rows "
        f"({len(timed)} timed) over {len(configs)} configurations ({'; '.join(configs)}); device {values('device')}, "
        f"core(s) {values('cpu_affinity')}, {values('threads')} thread(s); torch {values('torch_version')}, "
        f"onnxruntime {values('onnxruntime_version')}; {when}")
    return file_row(path, provenance, reproduce)


def write_speed_manifest(folder: str | os.PathLike, reproduce: dict[str, str]) -> Path:
    """(Re)write ``folder/manifest.csv`` atomically: one row per CSV named in ``reproduce`` (file name -> the one
    command that reproduces it). Returns the manifest's path."""
    folder = Path(folder)
    rows = [_speed_manifest_row(folder / name, command) for name, command in sorted(reproduce.items())]
    return write_manifest(folder, rows, replace=True)
