"""Shipped int8 benchmark runs (data): rows of :func:`~greenaudio.quantization.pipeline.run_quantization_table`
measured by ``scripts/bench_quantization.py --ship`` on a named machine, with a sha256 manifest
(:mod:`greenaudio.manifests`).

Chapter 6 runs two configurations live in quick mode; the shipped file holds the configurations measured with the
script (every family, sizes as far as the machine's time allowed), so Table 9 shows more than the quick run without
recomputing it in every build. Each row keeps its own provenance columns (cpu, versions, threads, timing, energy
method, weights); the manifest row says when, where and how the file was made, and the command that extends it.
:func:`ptq_provenance` and :func:`qat_provenance` read a book's provenance row (method, tool, machine, when) off the
rows themselves.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..experiments.artefacts import ArtefactError

__all__ = ["SHIPPED_PTQ_FILE", "SHIP_COMMAND", "default_quantization_dir", "merge_rows", "ship_ptq_results",
           "load_shipped_ptq", "ptq_provenance", "SHIPPED_QAT_FILE", "QAT_SHIP_COMMAND", "QAT_SETTINGS",
           "QAT_KEY", "ship_qat_history", "load_shipped_qat", "qat_provenance"]

#: The shipped file's name inside ``resources/quantization``.
SHIPPED_PTQ_FILE = "ptq_cpu.csv"
#: The command that measures configurations and merges them into the shipped file.
SHIP_COMMAND = "python scripts/bench_quantization.py --models M --sizes S --durations 1 --ship"
_KEY = ["model", "size", "audio_s"]
#: The shipped QAT histories (one row per evaluation of each variant of each trained configuration).
SHIPPED_QAT_FILE = "qat_cpu.csv"
#: The command that trains configurations and merges their histories into the shipped QAT file.
QAT_SHIP_COMMAND = "python scripts/bench_qat.py --models M --steps N --ship"
#: Settings every shipped QAT row records (a configuration is trained again only when one of them changes).
QAT_SETTINGS = ("steps", "batch_size", "clip_frames", "lr", "seed", "eval_every", "val_batches", "threads")
#: A QAT configuration: its rows are replaced together when it is trained again.
QAT_KEY = ("model", "size")


class ShippedPTQError(ArtefactError):
    """The shipped int8 benchmark file does not match its manifest, or lacks required columns."""


def default_quantization_dir() -> Path:
    """The package's ``resources/quantization`` folder."""
    return Path(__file__).resolve().parents[1] / "resources" / "quantization"


def _provenance(frame: pd.DataFrame, load: str | None) -> str:
    from ..manifests import column_values

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


def merge_rows(old: pd.DataFrame, new: pd.DataFrame, key: Sequence[str] = tuple(_KEY)) -> pd.DataFrame:
    """``old`` with its rows of the same ``key`` (default: model, size and clip length ``audio_s``) as a row of
    ``new`` replaced by ``new``'s (appended at the end)."""
    if old.empty:
        return new.reset_index(drop=True)
    key = list(key)
    keys = set(map(tuple, new[key].astype(str).values))
    kept = old[[tuple(k) not in keys for k in old[key].astype(str).values]]
    return pd.concat([kept, new], ignore_index=True)


def ship_ptq_results(results: pd.DataFrame, folder: str | os.PathLike | None = None, *,
                     load: str | None = None) -> Path:
    """Merge ``results`` into the shipped file (rows of the same model, size and clip length replaced; within
    ``results``, the last row of a key wins) and rewrite
    its manifest row, both atomically. ``load``: how busy the machine was (e.g. the load average), recorded in the
    provenance. Returns the file's path."""
    from ..manifests import file_row, write_manifest
    from ..training import atomic_write_text

    missing = [c for c in _KEY + ["status", "cpu", "versions", "timing"] if c not in results.columns]
    if missing:
        raise ValueError(f"results lack column(s) {missing}: expected rows of run_quantization_table")
    folder = Path(folder) if folder is not None else default_quantization_dir()
    path = folder / SHIPPED_PTQ_FILE
    keys = results[_KEY].astype(str).apply(tuple, axis=1)
    results = results[~keys.duplicated(keep="last")]  # a configuration measured twice: the later row wins
    merged = results
    if path.is_file():
        merged = merge_rows(pd.read_csv(path, keep_default_na=False, na_values=[""]), results)
    merged = _zoo_sorted(merged, ["audio_s"])
    atomic_write_text(path, merged.to_csv(index=False))
    write_manifest(folder, [file_row(path, _provenance(merged, load), SHIP_COMMAND)])
    return path


def _zoo_sorted(frame: pd.DataFrame, then: list[str]) -> pd.DataFrame:
    """``frame`` in the zoo's order (:func:`greenaudio.vocoders.names`, then small/medium/large), then ``then``."""
    from .. import vocoders

    order = {n: i for i, n in enumerate(vocoders.names())}
    sizes = {s: i for i, s in enumerate(vocoders.THESIS_SIZES)}
    return frame.assign(_m=frame["model"].map(order), _s=frame["size"].map(sizes)).sort_values(
        ["_m", "_s", *then], kind="stable").drop(columns=["_m", "_s"]).reset_index(drop=True)


def load_shipped_ptq(folder: str | os.PathLike | None = None) -> pd.DataFrame:
    """The shipped rows, sha256-verified against the folder's manifest; an empty table when nothing is shipped.

    Raises:
        ShippedPTQError: the file does not match its manifest row (names the file and both hashes).
    """
    return _load_verified(SHIPPED_PTQ_FILE, SHIP_COMMAND, folder)


def _load_verified(name: str, how_to_ship: str, folder: str | os.PathLike | None) -> pd.DataFrame:
    from ..manifests import verify_listed_file

    path = (Path(folder) if folder is not None else default_quantization_dir()) / name
    if not path.is_file():
        return pd.DataFrame()
    verify_listed_file(path, error=ShippedPTQError, how_to_ship=how_to_ship)
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


#: Where a shipped file's rows were measured, as a provenance row's "when" (the rows carry no date of their own).
SHIPPED_WHEN = "before this build (shipped with the package); sha256 verified in this build"


def ptq_provenance(rows: pd.DataFrame, quantity: str = "Shipped int8 rows") -> dict[str, str]:
    """How the shipped int8 rows (:func:`load_shipped_ptq`) were obtained, as one row of
    :func:`greenaudio.report.show_provenance` (``quantity, method, tool, machine, when``), read off the rows' own
    provenance columns (timing, energy method, versions, CPU, threads). Empty strings when ``rows`` is empty."""
    from ..manifests import column_values

    if rows.empty:
        return {"quantity": quantity, "method": "", "tool": "", "machine": "", "when": ""}
    configs = len(rows[["model", "size"]].drop_duplicates())
    return {"quantity": quantity,
            "method": f"measured: {len(rows)} rows of {configs} configurations, torch fp32 / ONNX Runtime fp32 / "
                      f"static QDQ int8 ({column_values(rows, 'timing')}); sizes of the ONNX files; energy "
                      f"{column_values(rows, 'energy_method')}",
            "tool": column_values(rows, "versions"),
            "machine": f"{column_values(rows, 'cpu')}, {column_values(rows, 'threads')} thread(s)",
            "when": SHIPPED_WHEN}


def qat_provenance(history: pd.DataFrame, quantity: str = "Shipped QAT histories") -> dict[str, str]:
    """How the shipped QAT histories (:func:`load_shipped_qat`) were obtained, as one row of
    :func:`greenaudio.report.show_provenance`, read off the rows (steps, batch, learning rates, torch version, CPU,
    threads, days of training in UTC). Empty strings when ``history`` is empty."""
    from ..manifests import column_values, distinct_values

    if history.empty:
        return {"quantity": quantity, "method": "", "tool": "", "machine": "", "when": ""}
    configs = history[["model", "size"]].drop_duplicates()
    days = distinct_values(str(d)[:10] for d in history["date_utc"]) if "date_utc" in history else "n/a"
    return {"quantity": quantity,
            "method": f"measured: fp32 and fake-quant training of {len(configs)} configurations from one "
                      f"initialisation, same batches and noise; {column_values(history, 'steps')} steps, batch "
                      f"{column_values(history, 'batch_size')}, learning rate {column_values(history, 'lr')}",
            "tool": f"torch {column_values(history, 'torch_version')}",
            "machine": f"{column_values(history, 'cpu')}, {column_values(history, 'threads')} thread(s)",
            "when": f"{days} (UTC), shipped; sha256 verified in this build"}


def _qat_provenance(frame: pd.DataFrame) -> str:
    from ..manifests import column_values

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
    """Merge QAT ``history`` rows (with ``model``, ``size``, the :data:`QAT_SETTINGS` and provenance columns) into the
    shipped file, replacing every row of a configuration it holds, and rewrite the file's manifest row; both
    atomically. Returns the file's path."""
    from ..manifests import file_row, write_manifest
    from ..training import atomic_write_text

    required = [*QAT_KEY, "step", "variant", "val_loss", "train_loss", "wall_s", "cpu", "torch_version",
                           "date_utc", "command", *QAT_SETTINGS]
    missing = [c for c in required if c not in history.columns]
    if missing:
        raise ValueError(f"history lacks column(s) {missing}: expected rows written by scripts/bench_qat.py")
    folder = Path(folder) if folder is not None else default_quantization_dir()
    path = folder / SHIPPED_QAT_FILE
    merged = history
    if path.is_file():
        merged = merge_rows(pd.read_csv(path, keep_default_na=False, na_values=[""]), history, key=QAT_KEY)
    merged = _zoo_sorted(merged, ["variant", "step"])
    atomic_write_text(path, merged.to_csv(index=False))
    write_manifest(folder, [file_row(path, _qat_provenance(merged), QAT_SHIP_COMMAND)])
    return path


def load_shipped_qat(folder: str | os.PathLike | None = None) -> pd.DataFrame:
    """The shipped QAT histories, sha256-verified against the folder's manifest; an empty table when none is
    shipped.

    Raises:
        ShippedPTQError: the file does not match its manifest row.
    """
    return _load_verified(SHIPPED_QAT_FILE, QAT_SHIP_COMMAND, folder)
