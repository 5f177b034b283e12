"""Shipped int8 benchmark runs (data), read back sha256-verified: rows of
:func:`~greenaudio.quantization.pipeline.run_quantization_table` measured by ``scripts/bench_quantization.py --ship``
on a named machine, and the QAT histories of ``scripts/bench_qat.py --ship``, with a sha256 manifest
(:mod:`greenaudio.files`; written by :mod:`greenaudio.orchestration.shipping`).

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

import pandas as pd

from ..files import ArtefactError, column_values, distinct_values, verify_listed_file

__all__ = ["SHIPPED_PTQ_FILE", "SHIP_COMMAND", "default_quantization_dir", "load_shipped_ptq", "ptq_provenance",
           "SHIPPED_QAT_FILE", "QAT_SHIP_COMMAND", "QAT_SETTINGS", "QAT_KEY", "load_shipped_qat", "qat_provenance"]

#: The shipped file's name inside ``resources/quantization``.
SHIPPED_PTQ_FILE = "ptq_cpu.csv"
#: The command that measures configurations and merges them into the shipped file.
SHIP_COMMAND = "python scripts/bench_quantization.py --models M --sizes S --durations 1 --ship"
#: A shipped int8 row: its rows are replaced when the same model, size and clip length are measured again.
PTQ_KEY = ("model", "size", "audio_s")
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


def load_shipped_ptq(folder: str | os.PathLike | None = None) -> pd.DataFrame:
    """The shipped rows, sha256-verified against the folder's manifest; an empty table when nothing is shipped.

    Raises:
        ShippedPTQError: the file does not match its manifest row (names the file and both hashes).
    """
    return _load_verified(SHIPPED_PTQ_FILE, SHIP_COMMAND, folder)


def _load_verified(name: str, how_to_ship: str, folder: str | os.PathLike | None) -> pd.DataFrame:
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


def load_shipped_qat(folder: str | os.PathLike | None = None) -> pd.DataFrame:
    """The shipped QAT histories, sha256-verified against the folder's manifest; an empty table when none is
    shipped.

    Raises:
        ShippedPTQError: the file does not match its manifest row.
    """
    return _load_verified(SHIPPED_QAT_FILE, QAT_SHIP_COMMAND, folder)
