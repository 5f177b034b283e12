"""sha256 manifests of shipped measurement files (data the book reads): one ``manifest.csv`` per folder.

Used by: :mod:`greenaudio.measure.inference_speed` (``resources/speed``), :mod:`greenaudio.quantization.shipped`
(``resources/quantization``). The trained zoo and the WaveFlow study keep their own richer manifests (a
configuration and a kind per row) in :mod:`greenaudio.experiments.artefacts` and
:mod:`greenaudio.experiments.waveflow_study`.

A manifest row is ``path`` (file name inside the folder), ``bytes``, ``sha256``, ``provenance`` (what was measured,
how, on which device, with which tool versions) and ``reproduce`` (the one command that rewrites the file).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pandas as pd

from .experiments.artefacts import ArtefactError, sha256_file

__all__ = ["MANIFEST_COLUMNS", "read_manifest", "file_row", "write_manifest", "verify_listed_file", "distinct_values",
           "column_values"]

MANIFEST_COLUMNS = ["path", "bytes", "sha256", "provenance", "reproduce"]


def distinct_values(values: Iterable[object], sep: str = "; ", empty: str = "n/a") -> str:
    """The distinct values as strings, sorted and joined with ``sep``, leaving out None, NaN and empty strings
    (``empty`` when nothing is left): the parts of a provenance sentence built from measured rows."""
    kept = {str(v) for v in values
            if v is not None and str(v) != "" and not (isinstance(v, float) and math.isnan(v))}
    return sep.join(sorted(kept)) or empty


def column_values(frame: pd.DataFrame, column: str, sep: str = "; ") -> str:
    """:func:`distinct_values` of one column of ``frame`` ("n/a" when the column is missing or empty)."""
    return distinct_values(frame[column], sep) if column in frame else "n/a"


def read_manifest(folder: str | os.PathLike) -> pd.DataFrame:
    """``folder/manifest.csv`` (an empty table with :data:`MANIFEST_COLUMNS` when there is none)."""
    path = Path(folder) / "manifest.csv"
    if not path.is_file():
        return pd.DataFrame(columns=MANIFEST_COLUMNS)
    return pd.read_csv(path, keep_default_na=False, dtype={"sha256": str, "path": str})


def file_row(path: str | os.PathLike, provenance: str, reproduce: str) -> dict[str, object]:
    """The manifest row of one file: its name, size (bytes), sha256, provenance and reproducing command."""
    path = Path(path)
    return {"path": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path), "provenance": provenance,
            "reproduce": reproduce}


def write_manifest(folder: str | os.PathLike, rows: Sequence[Mapping[str, object]], *, replace: bool = False) -> Path:
    """Write ``folder/manifest.csv`` atomically: ``rows`` replace the rows of the same ``path`` (or, with
    ``replace``, the whole manifest); rows sorted by path. Returns the manifest's path."""
    from .training import atomic_write_text

    folder = Path(folder)
    new = pd.DataFrame(list(rows), columns=MANIFEST_COLUMNS)
    if not replace:
        old = read_manifest(folder)
        new = pd.concat([old[~old["path"].isin(new["path"])], new], ignore_index=True)
    path = folder / "manifest.csv"
    atomic_write_text(path, new.sort_values("path").to_csv(index=False))
    return path


def verify_listed_file(path: str | os.PathLike, *, required: bool = True, error: type[ArtefactError] = ArtefactError,
                       how_to_ship: str = "") -> str:
    """Check ``path`` against the ``manifest.csv`` of its folder; returns the file's sha256.

    Args:
        path: a shipped file.
        required: raise when the manifest does not list the file; ``False`` accepts an unlisted file (a CSV of the
            user's own) but still checks a listed one.
        error: the exception class raised (a subclass of :class:`ArtefactError`).
        how_to_ship: the command that ships such a file, quoted in the messages.

    Raises:
        error: the file's sha256 differs from the manifest's (names the file, the manifest and both hashes), or the
            manifest does not list it while ``required``.
    """
    path = Path(path)
    manifest_path = path.parent / "manifest.csv"
    rows = read_manifest(path.parent)
    row = rows[rows["path"] == path.name]
    digest = sha256_file(path)
    hint = f" (ship it with `{how_to_ship}`)" if how_to_ship else ""
    if row.empty:
        if required:
            raise error(f"{manifest_path} does not list {path.name}{hint}")
        return digest
    expected = str(row["sha256"].iloc[0])
    if digest != expected:
        raise error(f"sha256 mismatch for {path}: manifest {manifest_path} says {expected}, the file hashes to "
                    f"{digest} (altered after shipping: restore it, or re-ship it{hint})")
    return digest
